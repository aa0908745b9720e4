package io.github.qednio.archive;

import static io.github.qednio.archive.ImageArchivesTest.TarEntrySpec.file;
import static io.github.qednio.archive.ImageArchivesTest.TarEntrySpec.hardlink;
import static io.github.qednio.archive.ImageArchivesTest.TarEntrySpec.symlink;
import static io.github.qednio.archive.ImageArchivesTest.imageOfTar;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Unpack never writes outside its directory: absolute names, {@code ..} components and links leading out are
 * refused with a message naming the entry, and everything around the directory is left as it was. Damaged and
 * truncated archives give one clear error.
 */
class UnpackSafetyTest {
    @TempDir
    Path dir;
    /** The extraction target; its siblings in {@link #dir} are "outside". */
    private Path target;
    private Map<String, String> outsideBefore;

    @BeforeEach
    void setUp() throws IOException {
        target = dir.resolve("target");
        Files.writeString(dir.resolve("victim.txt"), "untouched");
        outsideBefore = snapshot(dir);
    }

    @Test
    void dotDotComponentIsRefused() throws IOException {
        Path image = imageOfTar(dir.resolve(""), "dotdot", file("ok.txt", "fine"), file("../victim.txt", "pwned"));
        outsideBefore = snapshot(dir);
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class)
                .hasMessageContaining("entry '../victim.txt' has a '..' component; refused");
        assertOutsideUntouched();
        assertThat(target.resolve("ok.txt")).hasContent("fine");
    }

    @Test
    void dotDotInsideANameIsRefusedToo() throws IOException {
        Path image = imageOfTar(dir, "inner", file("a/../../victim.txt", "pwned"));
        outsideBefore = snapshot(dir);
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class).hasMessageContaining("has a '..' component");
        assertOutsideUntouched();
    }

    @Test
    void absoluteNameIsRefused() throws IOException {
        Path victim = dir.resolve("victim.txt").toAbsolutePath();
        Path image = imageOfTar(dir, "absolute", file(victim.toString(), "pwned"));
        outsideBefore = snapshot(dir);
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class)
                .hasMessageContaining("entry '" + victim + "' has an absolute name; refused");
        assertOutsideUntouched();
    }

    @Test
    void symlinkLeadingOutsideIsRefusedAndNothingIsWrittenThroughIt() throws IOException {
        Path image = imageOfTar(dir, "escape", symlink("evil", ".."), file("evil/victim.txt", "pwned"));
        outsideBefore = snapshot(dir);
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class)
                .hasMessageContaining("entry 'evil' leads outside");
        assertOutsideUntouched();
        assertThat(target.resolve("evil")).doesNotExist();
    }

    @Test
    void absoluteSymlinkIsRefused() throws IOException {
        Path image = imageOfTar(dir, "abslink", symlink("evil", dir.toAbsolutePath().toString()),
                file("evil/victim.txt", "pwned"));
        outsideBefore = snapshot(dir);
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class)
                .hasMessageContaining("entry 'evil' is a symbolic link to the absolute path");
        assertOutsideUntouched();
    }

    /**
     * Two links that each stay inside when made, but together lead out: {@code d/..} is the directory itself when
     * {@code d} does not exist, and its parent once {@code d} links to {@code .}. The file written through them is
     * refused when its path is walked on the host.
     */
    @Test
    void linksThatLeadOutOnlyTogetherAreNeverWrittenThrough() throws IOException {
        Path image = imageOfTar(dir, "combo", symlink("l", "d/.."), symlink("d", "."),
                file("l/victim.txt", "pwned"));
        outsideBefore = snapshot(dir);
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class).hasMessageContaining("entry 'l/victim.txt' leads outside");
        assertOutsideUntouched();
    }

    @Test
    void aFileEntryReplacesAnEarlierLinkInsteadOfWritingThroughIt() throws IOException {
        Path inside = Files.createDirectories(target);
        Files.writeString(inside.resolve("real.txt"), "keep");
        Path image = imageOfTar(dir, "replace", symlink("x", "real.txt"), file("x", "new"));
        ImageArchives.unpack(image, target);
        assertThat(target.resolve("real.txt")).hasContent("keep");
        assertThat(Files.isSymbolicLink(target.resolve("x"))).isFalse();
        assertThat(target.resolve("x")).hasContent("new");
    }

    @Test
    void linksInsideTheDirectoryAreKeptAndFollowed() throws IOException {
        Path image = imageOfTar(dir, "inside", file("sub/real/f", "1"), symlink("sub/alias", "real"),
                file("sub/alias/g", "2"));
        ImageArchives.unpack(image, target);
        assertThat(target.resolve("sub/real/g")).hasContent("2");
        assertThat(Files.readSymbolicLink(target.resolve("sub/alias"))).isEqualTo(Path.of("real"));
    }

    @Test
    void hardLinkToAnEarlierFileIsMadeAndOneLeavingTheDirectoryIsRefused() throws IOException {
        Path good = imageOfTar(dir, "hard", file("f", "same"), hardlink("g", "f"));
        ImageArchives.unpack(good, target);
        assertThat(Files.isSameFile(target.resolve("f"), target.resolve("g"))).isTrue();

        Path bad = imageOfTar(dir, "hard-out", hardlink("g", "../victim.txt"));
        outsideBefore = snapshot(dir);
        assertThatThrownBy(() -> ImageArchives.unpack(bad, target))
                .isInstanceOf(ArchiveException.class).hasMessageContaining("has a '..' component");
        assertOutsideUntouched();
    }

    @Test
    void damagedTarHeaderGivesOneClearError() throws IOException {
        Path image = imageOfTar(dir, "damaged", file("one.txt", "1"), file("two.txt", "2"));
        overwriteDisk(image, 1024 + 148, "garbage!"); // the second header's checksum field
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class)
                .hasMessageStartingWith(image + ": damaged or truncated tar archive on the disk (after entry 'one.txt')");
    }

    @Test
    void truncatedZipGivesOneClearError() throws IOException {
        Path zipped = dir.resolve("whole.qed");
        ImageArchives.pack(List.of(Trees.sample(dir)), zipped, PackOptions.defaults().withFormat(ArchiveFormat.ZIP));
        Path zipFile = dir.resolve("cut.zip");
        try (SeekableByteChannel disk = Files.newByteChannel(Path.of(URI.create("qed:" + zipped.toUri())))) {
            ByteBuffer b = ByteBuffer.allocate((int) disk.size() / 2);
            disk.read(b);
            Files.write(zipFile, java.util.Arrays.copyOf(b.array(), b.position()));
        }
        Path image = dir.resolve("cut.qed");
        ImageArchives.pack(List.of(zipFile), image, PackOptions.defaults());
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class)
                .hasMessageContaining("zip archive's central directory is not at the end of the disk");
    }

    @Test
    void damaged7zDataGivesOneClearError() throws IOException {
        Path image = dir.resolve("seven.qed");
        ImageArchives.pack(List.of(Trees.sample(dir)), image, PackOptions.defaults()
                .withFormat(ArchiveFormat.SEVEN_Z));
        overwriteDisk(image, 40, "x".repeat(64)); // the packed data follows the 32-byte signature header
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class)
                .hasMessageStartingWith(image + ": damaged or truncated 7z archive on the disk");
    }

    @Test
    void truncatedTarEntryGivesOneClearError() throws IOException {
        Path tar = dir.resolve("cut.tar");
        Path full = imageOfTar(dir, "full", file("big.txt", "x".repeat(5000)));
        try (SeekableByteChannel disk = Files.newByteChannel(Path.of(URI.create("qed:" + full.toUri())))) {
            ByteBuffer b = ByteBuffer.allocate(512 + 2048);
            disk.read(b);
            Files.write(tar, b.array());
        }
        Path image = dir.resolve("cut.qed");
        ImageArchives.pack(List.of(tar), image, PackOptions.defaults());
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class)
                .hasMessageContaining("big.txt")
                .hasMessageContaining("truncated");
    }

    private static void overwriteDisk(Path image, long offset, String bytes) throws IOException {
        try (SeekableByteChannel disk = Files.newByteChannel(Path.of(URI.create("qed:" + image.toUri())),
                StandardOpenOption.WRITE)) {
            disk.position(offset);
            disk.write(ByteBuffer.wrap(bytes.getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
        }
    }

    private void assertOutsideUntouched() throws IOException {
        assertThat(dir.resolve("victim.txt")).hasContent("untouched");
        assertThat(snapshot(dir)).as("everything outside the target directory").isEqualTo(outsideBefore);
    }

    /** Every path under {@code root} outside the target, with its content or link target. */
    private Map<String, String> snapshot(Path root) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (p.startsWith(target) || p.startsWith(dir.getParent().resolve(dir.getFileName() + "-x"))) {
                    continue;
                }
                m.put(root.relativize(p).toString(), Files.isSymbolicLink(p) ? "-> " + Files.readSymbolicLink(p)
                        : Files.isRegularFile(p) ? Files.size(p) + ":" + Files.getLastModifiedTime(p) : "dir");
            }
        }
        return m;
    }
}
