package io.github.qednio.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * The reference images of {@code src-test-images/} and their manifest.
 *
 * <p>The directory comes from the system property {@code qed.testImages} (set by the parent pom's surefire
 * configuration); without it, the directories from the working directory upwards are searched, so that tests also
 * run from an IDE.
 */
public final class TestImages {
    /** Name of the images directory at the top of the repository. */
    public static final String DIRECTORY = "src-test-images";

    private TestImages() {
    }

    /** One line of {@code manifest.tsv}. */
    public record Entry(String file, long virtualSize, long clusterSize, long tableSize, long headerSize,
                        String sha256) {
        /** The image's name without {@code .gz}, for example {@code default.qed}. */
        public String imageName() {
            return file.endsWith(".gz") ? file.substring(0, file.length() - 3) : file;
        }

        @Override
        public String toString() {
            return file;
        }
    }

    /** The images directory; fails if it cannot be found. */
    public static Path directory() {
        String prop = System.getProperty("qed.testImages");
        if (prop != null && !prop.isBlank() && Files.isDirectory(Path.of(prop))) {
            return Path.of(prop);
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path candidate = p.resolve(DIRECTORY);
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("cannot find " + DIRECTORY + ": qed.testImages is " + prop
                + " and no parent of " + Path.of("").toAbsolutePath() + " contains it");
    }

    /** The entries of {@code manifest.tsv}, in file order. Lines starting with {@code #} are comments. */
    public static List<Entry> manifest() {
        Path manifest = directory().resolve("manifest.tsv");
        try {
            List<Entry> entries = new ArrayList<>();
            for (String line : Files.readAllLines(manifest)) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                String[] f = line.split("\t");
                if (f.length != 6) {
                    throw new IllegalStateException(manifest + ": expected 6 tab-separated fields in: " + line);
                }
                entries.add(new Entry(f[0], Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]),
                        Long.parseLong(f[4]), f[5]));
            }
            return entries;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Decompresses the entry's image into {@code dir} and returns the {@code .qed} file. */
    public static Path extract(Entry entry, Path dir) throws IOException {
        Path out = dir.resolve(entry.imageName());
        try (InputStream in = new GZIPInputStream(Files.newInputStream(directory().resolve(entry.file())))) {
            Files.copy(in, out, StandardCopyOption.REPLACE_EXISTING);
        }
        return out;
    }
}
