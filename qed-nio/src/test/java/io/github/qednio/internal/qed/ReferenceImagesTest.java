package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import io.github.qednio.testing.TestImages;
import io.github.qednio.testing.TestImages.Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engine reads every reference image of {@code src-test-images/} (made by QEMU) exactly as
 * {@code qemu-img convert -O raw} does: the SHA-256 of the guest content equals the manifest's.
 */
class ReferenceImagesTest {
    private static final int CHUNK = 4 << 20;

    static List<Entry> images() {
        return TestImages.manifest();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void engineReadsGuestContentWithTheManifestHash(Entry entry, @TempDir Path dir) throws Exception {
        Path image = TestImages.extract(entry, dir);
        byte[] before = Files.readAllBytes(image);
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            assertThat(img.size()).as("virtual size").isEqualTo(entry.virtualSize());
            assertThat(img.geometry().clusterSize()).as("cluster_size").isEqualTo(entry.clusterSize());
            assertThat(img.geometry().tableSize()).as("table_size").isEqualTo(entry.tableSize());
            assertThat(img.geometry().headerSize()).as("header_size").isEqualTo(entry.headerSize());
            assertThat(guestSha256(img)).as("SHA-256 of the guest content of %s", entry.file())
                    .isEqualTo(entry.sha256());
        }
        assertThat(Files.readAllBytes(image)).as("a read-only open leaves the file untouched").isEqualTo(before);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void manifestHashMatchesQemuConvert(Entry entry, @TempDir Path dir) throws Exception {
        Qemu.assumeAvailable();
        Path image = TestImages.extract(entry, dir);
        Path raw = Qemu.convertToRaw(image, dir.resolve(entry.imageName() + ".raw"));
        assertThat(Files.size(raw)).as("qemu-img convert size").isEqualTo(entry.virtualSize());
        assertThat(fileSha256(raw)).as("SHA-256 of qemu-img convert -O raw %s (stale manifest?)", entry.file())
                .isEqualTo(entry.sha256());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void engineCheckFindsEveryReferenceImageClean(Entry entry, @TempDir Path dir) throws Exception {
        Path image = TestImages.extract(entry, dir);
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            CheckResult r = img.check(Repair.NONE);
            assertThat(r.isClean()).as("%s", r).isTrue();
        }
    }

    @Test
    void writesToTheHeaderSizeTwoImageGoPastItsL1AndQemuFindsItClean(@TempDir Path dir) throws Exception {
        Qemu.assumeAvailable();
        Entry entry = images().stream().filter(e -> e.headerSize() == 2).findFirst().orElseThrow();
        Path image = TestImages.extract(entry, dir);
        Path raw = Qemu.convertToRaw(image, dir.resolve("model.raw"));
        byte[] headerArea = new byte[(int) (2 * entry.clusterSize())];
        try (FileChannel ch = FileChannel.open(image)) {
            ch.read(ByteBuffer.wrap(headerArea), 0);
        }
        byte[] data = new byte[3 * (int) entry.clusterSize() + 1000];
        Arrays.fill(data, (byte) 0x3c);
        long at = entry.virtualSize() / 2 - 700;
        try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(data), at);
        }
        try (FileChannel ch = FileChannel.open(raw, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(data), at);
        }
        byte[] headerAfter = new byte[headerArea.length];
        try (FileChannel ch = FileChannel.open(image)) {
            ch.read(ByteBuffer.wrap(headerAfter), 0);
        }
        assertThat(headerAfter).as("the two header clusters").isEqualTo(headerArea);
        Qemu.assertCheckClean(image);
        Qemu.assertIdentical(image, raw);
    }

    @Test
    void manifestListsEveryImageInTheDirectoryAndNothingElse() throws IOException {
        List<String> listed = images().stream().map(Entry::file).sorted().toList();
        List<String> present;
        try (Stream<Path> files = Files.list(TestImages.directory())) {
            present = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".qed.gz")).sorted()
                    .collect(Collectors.toList());
        }
        assertThat(listed).isEqualTo(present).doesNotHaveDuplicates().hasSizeGreaterThanOrEqualTo(10);
    }

    /** Reads the whole virtual disk through the engine, in chunks that do not line up with clusters. */
    private static String guestSha256(QedImage img) throws IOException {
        MessageDigest md = sha256();
        ByteBuffer buf = ByteBuffer.allocate(CHUNK - 512);
        for (long pos = 0; pos < img.size(); ) {
            buf.clear();
            int n = img.read(buf, pos);
            assertThat(n).as("read at %d", pos).isPositive();
            md.update(buf.flip());
            pos += n;
        }
        buf.clear();
        assertThat(img.read(buf, img.size())).as("read at the end of the disk").isEqualTo(-1);
        return HexFormat.of().formatHex(md.digest());
    }

    private static String fileSha256(Path file) throws IOException {
        MessageDigest md = sha256();
        ByteBuffer buf = ByteBuffer.allocate(CHUNK);
        try (FileChannel ch = FileChannel.open(file)) {
            while (ch.read(buf.clear()) >= 0) {
                md.update(buf.flip());
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
