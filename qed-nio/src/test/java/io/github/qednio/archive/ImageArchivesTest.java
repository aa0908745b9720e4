package io.github.qednio.archive;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Packing a tree onto an image's disk and unpacking it back, in each format; what pack and unpack refuse. */
class ImageArchivesTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(ArchiveFormat.class)
    void treeWithUnicodeEmptyEntriesModesAndSymlinksRoundTrips(ArchiveFormat format) throws IOException {
        Path tree = Trees.sample(dir);
        Path image = dir.resolve("tree.qed");
        PackResult packed = ImageArchives.pack(List.of(tree), image, PackOptions.defaults().withFormat(format));
        assertThat(packed.format()).isEqualTo(format);
        assertThat(packed.copied()).isFalse();
        assertThat(packed.diskSize()).as("auto size: the archive rounded up to 512")
                .isEqualTo((packed.archiveBytes() + 511) / 512 * 512);
        assertThat(ImageArchives.detect(image)).isEqualTo(format);
        assertThat(ImageArchives.list(image)).anyMatch(n -> n.startsWith("tree/Grüße-日本語-😀.txt"));
        assertThat(packed.linksOutside()).containsExactly(
                new PackResult.Link("tree/absolute", "/nonexistent/qed-nio-test-target"),
                new PackResult.Link("tree/out", "../beside-the-tree"));

        Path out = dir.resolve("out");
        UnpackResult unpacked = ImageArchives.unpack(image, out);
        assertThat(unpacked.format()).isEqualTo(format);
        Trees.assertSameTree(tree, out.resolve("tree"));
        if (Qemu.crossChecks()) {
            Qemu.assertCheckClean(image);
        }
    }

    /**
     * A link leads outside when the kernel would resolve it outside the packed sources once unpacked: through the
     * tree's own links, not by its text alone. The kernel judges the links whose targets exist here.
     */
    @Test
    void linksOutsideThePackedSourcesAreFoundThroughTheTreesOwnLinks() throws IOException {
        Path tree = Files.createDirectories(dir.resolve("tree"));
        Path other = Files.createDirectories(dir.resolve("other"));
        Files.writeString(other.resolve("f"), "other");
        Files.createDirectories(dir.resolve("not-packed"));
        Files.createDirectories(tree.resolve("a/b/c"));
        Files.createSymbolicLink(tree.resolve("a/link-to-c"), Path.of("b/c"));
        Files.createSymbolicLink(tree.resolve("via"), Path.of("a/link-to-c/../../.."));
        Files.createSymbolicLink(tree.resolve("escape"), Path.of("a/link-to-c/../../../.."));
        Files.createSymbolicLink(tree.resolve("to-other"), Path.of("../other/f"));
        Files.createSymbolicLink(tree.resolve("to-not-packed"), Path.of("../not-packed"));
        Files.createSymbolicLink(tree.resolve("parent"), Path.of(".."));
        assertThat(tree.resolve("via").toRealPath()).isEqualTo(tree.toRealPath());
        assertThat(tree.resolve("escape").toRealPath()).isEqualTo(dir.toRealPath());

        PackResult r = ImageArchives.pack(List.of(tree, other), dir.resolve("links.qed"), PackOptions.defaults());
        assertThat(r.linksOutside()).containsExactly(
                new PackResult.Link("tree/escape", "a/link-to-c/../../../.."),
                new PackResult.Link("tree/parent", ".."),
                new PackResult.Link("tree/to-not-packed", "../not-packed"));
    }

    @Test
    void severalSourcesArePackedUnderTheirOwnNames() throws IOException {
        Path a = Files.writeString(dir.resolve("a.txt"), "A");
        Path b = Files.createDirectories(dir.resolve("b"));
        Files.writeString(b.resolve("inner"), "B");
        Path image = dir.resolve("two.qed");
        ImageArchives.pack(List.of(a, b), image, PackOptions.defaults());
        assertThat(ImageArchives.list(image)).containsExactly("a.txt", "b/", "b/inner");
    }

    @Test
    void progressRisesToTheDiskSizeAsTheArchiveIsWritten() throws IOException {
        Path tree = Trees.sample(dir);
        Files.write(tree.resolve("big.bin"), new byte[5 << 20]); // several 1 MiB flushes
        List<long[]> updates = new java.util.ArrayList<>();
        PackResult r = ImageArchives.pack(List.of(tree), dir.resolve("p.qed"),
                PackOptions.defaults().withProgress((done, total) -> updates.add(new long[] {done, total})));
        assertThat(updates).hasSizeGreaterThan(2);
        for (int i = 1; i < updates.size(); i++) {
            assertThat(updates.get(i)[0]).as("monotonic").isGreaterThanOrEqualTo(updates.get(i - 1)[0]);
        }
        assertThat(updates).allSatisfy(u -> assertThat(u[1]).isEqualTo(r.diskSize()));
        assertThat(updates.get(updates.size() - 1)[0]).isEqualTo(r.diskSize());
    }

    @Test
    void twoSourcesWithTheSameNameAreRefusedAndNoImageIsLeft() throws IOException {
        Path x1 = Files.createDirectories(dir.resolve("one/x"));
        Path x2 = Files.createDirectories(dir.resolve("two/x"));
        Path image = dir.resolve("clash.qed");
        assertThatThrownBy(() -> ImageArchives.pack(List.of(x1, x2), image, PackOptions.defaults()))
                .isInstanceOf(ArchiveException.class).hasMessageContaining("also named 'x'");
        assertThat(image).doesNotExist();
    }

    @Test
    void anExistingImageIsNeverOverwritten() throws IOException {
        Path image = Files.writeString(dir.resolve("taken.qed"), "not mine");
        assertThatThrownBy(() -> ImageArchives.pack(List.of(Trees.sample(dir)), image, PackOptions.defaults()))
                .isInstanceOf(FileAlreadyExistsException.class);
        assertThat(Files.readString(image)).isEqualTo("not mine");
    }

    @Test
    void aFixedSizeTooSmallForTheArchiveIsRefusedAndTheImageDeleted() throws IOException {
        Path tree = Trees.sample(dir);
        Path image = dir.resolve("small.qed");
        assertThatThrownBy(() -> ImageArchives.pack(List.of(tree), image, PackOptions.defaults().withSize(64 << 10)))
                .isInstanceOf(ArchiveException.class).hasMessageContaining("does not fit on its disk of 65536 bytes");
        assertThat(image).doesNotExist();
    }

    @Test
    void aFixedLargerSizeKeepsATarReadable() throws IOException {
        Path tree = Trees.sample(dir);
        Path image = dir.resolve("big.qed");
        PackResult r = ImageArchives.pack(List.of(tree), image, PackOptions.defaults().withSize(64L << 20));
        assertThat(r.diskSize()).isEqualTo(64L << 20);
        ImageArchives.unpack(image, dir.resolve("out"));
        Trees.assertSameTree(tree, dir.resolve("out/tree"));
    }

    @Test
    void anExistingTarIsCopiedAsIsAndAGzippedOneDecompressed() throws IOException {
        Path tar = dir.resolve("given.tar");
        try (OutputStream out = Files.newOutputStream(tar); TarArchiveOutputStream t = new TarArchiveOutputStream(out)) {
            byte[] data = "payload".getBytes(StandardCharsets.UTF_8);
            TarArchiveEntry e = new TarArchiveEntry("payload.txt");
            e.setSize(data.length);
            t.putArchiveEntry(e);
            t.write(data);
            t.closeArchiveEntry();
        }
        Path image = dir.resolve("copy.qed");
        PackResult r = ImageArchives.pack(List.of(tar), image, PackOptions.defaults());
        assertThat(r.copied()).isTrue();
        assertThat(r.archiveBytes()).isEqualTo(Files.size(tar));
        assertThat(ImageArchives.list(image)).containsExactly("payload.txt");

        Path gz = dir.resolve("given.tar.gz");
        try (OutputStream out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) {
            Files.copy(tar, out);
        }
        Path image2 = dir.resolve("copy-gz.qed");
        PackResult r2 = ImageArchives.pack(List.of(gz), image2, PackOptions.defaults());
        assertThat(r2.archiveBytes()).as("the decompressed tar").isEqualTo(Files.size(tar));
        ImageArchives.unpack(image2, dir.resolve("out"));
        assertThat(dir.resolve("out/payload.txt")).hasContent("payload");

        Path asFile = dir.resolve("as-file.qed");
        ImageArchives.pack(List.of(tar), asFile, PackOptions.defaults().withFormat(ArchiveFormat.ZIP));
        assertThat(ImageArchives.list(asFile)).as("another format packs the archive as a file")
                .containsExactly("given.tar");
    }

    @Test
    void aDirectoryHoldingOneGibOfZerosPacksIntoAFewMib() throws IOException {
        Path tree = Files.createDirectories(dir.resolve("zeros"));
        try (var ch = java.nio.channels.FileChannel.open(tree.resolve("zero.img"),
                java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.allocate(1), (1L << 30) - 1); // sparse on the host
        }
        Path image = dir.resolve("zeros.qed");
        PackResult r = ImageArchives.pack(List.of(tree), image, PackOptions.defaults());
        assertThat(r.diskSize()).isGreaterThan(1L << 30);
        assertThat(Files.size(image)).as("image file size").isLessThan(4L << 20);
        if (Qemu.crossChecks()) {
            Qemu.assertCheckClean(image);
        }
    }

    @Test
    void diskWithoutAnArchiveGivesAClearError() throws IOException {
        Path image = dir.resolve("blank.qed");
        io.github.qednio.image.QedImage.create(image,
                io.github.qednio.image.CreateOptions.ofSize(1 << 20)).close();
        assertThatThrownBy(() -> ImageArchives.unpack(image, dir.resolve("out")))
                .isInstanceOf(ArchiveException.class)
                .hasMessageContaining("no tar, zip or 7z archive at the start of the disk");
    }

    /** A tar made by hand, with entries commons-compress would let through, copied onto an image as is. */
    static Path imageOfTar(Path dir, String name, TarEntrySpec... entries) throws IOException {
        Path tar = dir.resolve(name + ".tar");
        try (OutputStream out = Files.newOutputStream(tar); TarArchiveOutputStream t = new TarArchiveOutputStream(out)) {
            t.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (TarEntrySpec s : entries) {
                TarArchiveEntry e = s.link() == null ? new TarArchiveEntry(s.content() == null ? s.name() + "/"
                        : s.name(), true)
                        : new TarArchiveEntry(s.name(), s.hard() ? TarConstants.LF_LINK : TarConstants.LF_SYMLINK,
                        true);
                if (s.link() != null) {
                    e.setLinkName(s.link());
                }
                byte[] data = s.content() == null ? new byte[0] : s.content().getBytes(StandardCharsets.UTF_8);
                e.setSize(data.length);
                t.putArchiveEntry(e);
                t.write(data);
                t.closeArchiveEntry();
            }
        }
        Path image = dir.resolve(name + ".qed");
        ImageArchives.pack(List.of(tar), image, PackOptions.defaults());
        return image;
    }

    record TarEntrySpec(String name, String content, String link, boolean hard) {
        static TarEntrySpec file(String name, String content) {
            return new TarEntrySpec(name, content, null, false);
        }

        static TarEntrySpec directory(String name) {
            return new TarEntrySpec(name, null, null, false);
        }

        static TarEntrySpec symlink(String name, String target) {
            return new TarEntrySpec(name, null, target, false);
        }

        static TarEntrySpec hardlink(String name, String target) {
            return new TarEntrySpec(name, null, target, true);
        }
    }
}
