package io.github.qednio.archive;

import static io.github.qednio.archive.ImageArchivesTest.TarEntrySpec.directory;
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
 * Unpack never writes outside its directory nor through a link: absolute names, {@code ..} components and entries
 * under a link are refused with a message naming the entry, before anything is written, so the directory and
 * everything around it are left as they were; links themselves are extracted whatever they point to. Damaged and
 * truncated archives give one clear error and leave nothing either.
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
    void dotDotComponentIsRefusedBeforeAnythingIsWritten() throws IOException {
        Path image = imageOfTar(dir.resolve(""), "dotdot", file("ok.txt", "fine"), file("../victim.txt", "pwned"));
        assertRefusedLeavingAllAsItWas(image, "entry '../victim.txt' has a '..' component; refused (nothing was"
                + " extracted: " + target.toAbsolutePath() + " is as it was)");
    }

    @Test
    void dotDotInsideANameIsRefusedToo() throws IOException {
        Path image = imageOfTar(dir, "inner", file("a/../../victim.txt", "pwned"));
        assertRefusedLeavingAllAsItWas(image, "has a '..' component");
    }

    @Test
    void absoluteNameIsRefused() throws IOException {
        Path victim = dir.resolve("victim.txt").toAbsolutePath();
        Path image = imageOfTar(dir, "absolute", file("first.txt", "1"), file(victim.toString(), "pwned"));
        assertRefusedLeavingAllAsItWas(image, "entry '" + victim + "' has an absolute name; refused");
    }

    /** As GNU tar and bsdtar: a link is a link, whatever it points to; only writing through one is refused. */
    @Test
    void symlinksAreExtractedWhateverTheyPointTo() throws IOException {
        String absolute = dir.resolve("victim.txt").toAbsolutePath().toString();
        Path image = imageOfTar(dir, "links", symlink("abs", absolute), symlink("up", "../victim.txt"),
                symlink("far", "../../../elsewhere"), symlink("dangling", "not-there"), symlink("sub/self", "."));
        outsideBefore = snapshot(dir);
        UnpackResult r = ImageArchives.unpack(image, target);
        assertThat(r.entries()).isEqualTo(5);
        assertThat(Files.readSymbolicLink(target.resolve("abs"))).hasToString(absolute);
        assertThat(Files.readSymbolicLink(target.resolve("up"))).hasToString("../victim.txt");
        assertThat(Files.readSymbolicLink(target.resolve("far"))).hasToString("../../../elsewhere");
        assertThat(Files.readSymbolicLink(target.resolve("dangling"))).hasToString("not-there");
        assertThat(Files.readSymbolicLink(target.resolve("sub/self"))).hasToString(".");
        assertOutsideUntouched();
    }

    @Test
    void anEntryThroughALinkLeadingOutsideIsRefusedBeforeAnythingIsWritten() throws IOException {
        for (String outside : List.of("..", dir.toAbsolutePath().toString())) {
            Path image = imageOfTar(dir, "escape", file("first.txt", "1"), symlink("evil", outside),
                    file("evil/victim.txt", "pwned"));
            assertRefusedLeavingAllAsItWas(image, "entry 'evil/victim.txt' goes through the symbolic link 'evil'");
            Files.delete(image);
        }
    }

    /**
     * Two links that each stay inside, but together lead out: {@code d/..} is the directory itself when {@code d}
     * does not exist, and its parent once {@code d} links to {@code .}. Nothing goes through either.
     */
    @Test
    void linksThatLeadOutOnlyTogetherAreNeverWrittenThrough() throws IOException {
        Path image = imageOfTar(dir, "combo", symlink("l", "d/.."), symlink("d", "."),
                file("l/victim.txt", "pwned"));
        assertRefusedLeavingAllAsItWas(image, "entry 'l/victim.txt' goes through the symbolic link 'l'");
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

    /** As bsdtar (GNU tar would follow a link that stays inside): no entry is written below a link. */
    @Test
    void anEntryBelowALinkTheArchiveMadeIsRefusedEvenIfTheLinkStaysInside() throws IOException {
        Path image = imageOfTar(dir, "inside", file("sub/real/f", "1"), symlink("sub/alias", "real"),
                file("sub/alias/g", "2"));
        assertRefusedLeavingAllAsItWas(image, "entry 'sub/alias/g' goes through the symbolic link 'sub/alias'");
    }

    @Test
    void anEntryBelowALinkAlreadyInTheDirectoryIsRefusedAndTheDirectoryLeftAsItWas() throws IOException {
        Files.createDirectories(target.resolve("kept"));
        Files.writeString(target.resolve("kept/old.txt"), "old");
        Files.createSymbolicLink(target.resolve("out"), dir);
        Path image = imageOfTar(dir, "existing", file("kept/new.txt", "new"), file("out/victim.txt", "pwned"));
        assertRefusedLeavingAllAsItWas(image, "entry 'out/victim.txt' goes through the symbolic link 'out'");
    }

    /** As GNU tar without --keep-directory-symlink: a directory entry replaces a link, never follows it. */
    @Test
    void aDirectoryEntryReplacesALinkInTheDirectory() throws IOException {
        Files.createDirectories(target);
        Files.createSymbolicLink(target.resolve("d"), dir);
        Path image = imageOfTar(dir, "dirlink", directory("d"), file("d/victim.txt", "inside"));
        outsideBefore = snapshot(dir);
        ImageArchives.unpack(image, target);
        assertThat(Files.isSymbolicLink(target.resolve("d"))).isFalse();
        assertThat(target.resolve("d/victim.txt")).hasContent("inside");
        assertOutsideUntouched();
    }

    @Test
    void aDirectoryIsNeverReplacedByAFileOrLink() throws IOException {
        Path file = imageOfTar(dir, "over-dir", file("d/inner.txt", "1"), file("d", "flat"));
        assertRefusedLeavingAllAsItWas(file, "entry 'd' would replace the directory 'd'");
        Path link = imageOfTar(dir, "link-over-dir", directory("d"), symlink("d", "elsewhere"));
        assertRefusedLeavingAllAsItWas(link, "entry 'd' would replace the directory 'd'");
    }

    @Test
    void hardLinkToAnEarlierFileIsMadeAndOneLeavingTheDirectoryIsRefused() throws IOException {
        Path good = imageOfTar(dir, "hard", file("f", "same"), hardlink("g", "f"));
        ImageArchives.unpack(good, target);
        assertThat(Files.isSameFile(target.resolve("f"), target.resolve("g"))).isTrue();

        Path bad = imageOfTar(dir, "hard-out", hardlink("h", "../victim.txt"));
        assertRefusedLeavingAllAsItWas(bad, "entry 'h' is a hard link to '../victim.txt', which has a '..' component");
        Path absolute = imageOfTar(dir, "hard-abs", hardlink("h", dir.resolve("victim.txt").toString()));
        assertRefusedLeavingAllAsItWas(absolute, "which has an absolute name");
        Path throughLink = imageOfTar(dir, "hard-via", symlink("l", ".."), hardlink("h", "l/victim.txt"));
        assertRefusedLeavingAllAsItWas(throughLink, "entry 'h' goes through the symbolic link 'l'");
    }

    /**
     * A failure that no check foresees (here the file system fills up) stops the unpacking; the message says what is
     * left: the entries before it, not the one that failed.
     */
    @Test
    void aFullFileSystemStopsTheUnpackingAndTheMessageSaysWhatIsLeft() throws IOException {
        byte[] big = new byte[1 << 20];
        java.util.Arrays.fill(big, (byte) 'x');
        Path image = imageOfTar(dir, "full", file("a.txt", "small"), file("b/big.txt", new String(big,
                java.nio.charset.StandardCharsets.US_ASCII)), file("c.txt", "never"));
        try (java.nio.file.FileSystem fs = com.google.common.jimfs.Jimfs.newFileSystem(
                com.google.common.jimfs.Configuration.unix().toBuilder().setMaxSize(256 << 10).build())) {
            Path small = fs.getPath("/small/target");
            assertThatThrownBy(() -> ImageArchives.unpack(image, small))
                    .isInstanceOf(IOException.class)
                    .hasMessageStartingWith(image + ": unpacking stopped at entry 'b/big.txt': ")
                    .hasMessageEndingWith("; left in /small/target (created by this unpack): the first 1 of 3"
                            + " entries");
            try (Stream<Path> s = Files.walk(small)) {
                assertThat(s.map(p -> small.relativize(p).toString())).containsExactlyInAnyOrder("", "a.txt", "b");
            }
        }
    }

    @Test
    void damagedTarHeaderGivesOneClearError() throws IOException {
        Path image = imageOfTar(dir, "damaged", file("one.txt", "1"), file("two.txt", "2"));
        overwriteDisk(image, 1024 + 148, "garbage!"); // the second header's checksum field
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class)
                .hasMessageStartingWith(image + ": damaged or truncated tar archive on the disk (after entry 'one.txt')");
        assertThat(target).as("nothing extracted, not even one.txt").doesNotExist();
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
        assertThat(target).doesNotExist();
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
        assertThat(target).doesNotExist();
    }

    private static void overwriteDisk(Path image, long offset, String bytes) throws IOException {
        try (SeekableByteChannel disk = Files.newByteChannel(Path.of(URI.create("qed:" + image.toUri())),
                StandardOpenOption.WRITE)) {
            disk.position(offset);
            disk.write(ByteBuffer.wrap(bytes.getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
        }
    }

    /**
     * Asserts that unpacking {@code image} is refused with {@code message}, the target left as it was (not even
     * created if it did not exist), and everything around it too.
     */
    private void assertRefusedLeavingAllAsItWas(Path image, String message) throws IOException {
        outsideBefore = snapshot(dir);
        Map<String, String> targetBefore = Files.exists(target) ? describe(target) : null;
        assertThatThrownBy(() -> ImageArchives.unpack(image, target))
                .isInstanceOf(ArchiveException.class).hasMessageContaining(message);
        assertOutsideUntouched();
        if (targetBefore == null) {
            assertThat(target).as("not even created").doesNotExist();
        } else {
            assertThat(describe(target)).as("the target, byte for byte").isEqualTo(targetBefore);
        }
    }

    private void assertOutsideUntouched() throws IOException {
        assertThat(dir.resolve("victim.txt")).hasContent("untouched");
        assertThat(snapshot(dir)).as("everything outside the target directory").isEqualTo(outsideBefore);
    }

    /** Every path under {@code root}, with its type, mode, time and content or link target. */
    private static Map<String, String> describe(Path root) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String what = Files.isSymbolicLink(p) ? "-> " + Files.readSymbolicLink(p)
                        : Files.getAttribute(p, "unix:mode") + " " + Files.getLastModifiedTime(p)
                        + (Files.isRegularFile(p) ? " " + Files.readString(p) : "");
                m.put(root.relativize(p).toString(), what);
            }
        }
        return m;
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
