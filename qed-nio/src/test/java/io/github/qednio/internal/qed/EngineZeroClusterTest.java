package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import static io.github.qednio.format.Geometry.ENTRY_ZERO;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Write-zeroes (notes §8.5): whole unallocated clusters become entry 1 with no data cluster, partial clusters are
 * written as zero data, allocated clusters are zeroed in place. Each case also runs on a twin through
 * {@code qemu-io write -z} and must leave the same tables and the same file.
 */
class EngineZeroClusterTest {
    private static final int CS = 65536;
    /** A new default image: one header cluster and a 4-cluster L1; the first allocation lands here. */
    private static final long FRESH_EOF = 5L * CS;
    private static final long TABLE = 4L * CS;

    @TempDir
    Path dir;

    @Test
    void zeroWriteOfWholeUnallocatedClustersSetsEntryOneWithoutAnyDataCluster() throws IOException {
        QedLayout l = EnginePlacementTest.assertTwinsMatch(dir, "4M", 0, 0, List.of("write -z 64k 128k"));
        assertThat(l.l1()).containsExactly(Map.entry(0, FRESH_EOF));
        assertThat(l.l2().get(0)).containsOnly(Map.entry(1, ENTRY_ZERO), Map.entry(2, ENTRY_ZERO));
        assertThat(l.fileLength()).as("only the new L2 table was appended").isEqualTo(FRESH_EOF + TABLE);
        try (QedImage img = QedImage.open(dir.resolve("engine.qed"), OpenOptions.readOnlyDefaults())) {
            assertThat(img.extentAt(CS)).isEqualTo(new Extent(CS, 2L * CS, Extent.Kind.ZERO, -1));
        }
    }

    @Test
    void partialClusterZeroWriteIsWrittenAsAClusterOfZeros() throws IOException {
        QedLayout l = EnginePlacementTest.assertTwinsMatch(dir, "4M", 0, 0, List.of("write -z 12k 8k"));
        assertThat(l.l2Entry(0, 0)).as("data cluster at the old end of file").isEqualTo(FRESH_EOF);
        assertThat(l.l1()).containsEntry(0, FRESH_EOF + CS);
        assertThat(fileBytes(dir.resolve("engine.qed"), FRESH_EOF, CS)).containsOnly(0);
    }

    @Test
    void zeroWriteOverAnAllocatedClusterZeroesItInPlace() throws IOException {
        QedLayout l = EnginePlacementTest.assertTwinsMatch(dir, "4M", 0, 0,
                List.of("write -P 0xab 1M 64k", "write -z 1M 64k"));
        assertThat(l.l2Entry(0, 16)).as("still the cluster the first write allocated").isEqualTo(FRESH_EOF);
        assertThat(l.fileLength()).as("nothing appended by the zero write").isEqualTo(FRESH_EOF + CS + TABLE);
        assertThat(fileBytes(dir.resolve("engine.qed"), FRESH_EOF, CS)).containsOnly(0);
    }

    @Test
    void zeroWriteOverZeroClustersChangesNothing() throws IOException {
        Path first = dir.resolve("first");
        Files.createDirectory(first);
        QedLayout once = EnginePlacementTest.assertTwinsMatch(first, "4M", 0, 0, List.of("write -z 0 64k"));
        QedLayout twice = EnginePlacementTest.assertTwinsMatch(dir, "4M", 0, 0,
                List.of("write -z 0 64k", "write -z 0 64k"));
        assertThat(twice).isEqualTo(once);
    }

    @Test
    void partialWriteIntoAZeroClusterFillsTheRestWithZeros() throws IOException {
        QedLayout l = EnginePlacementTest.assertTwinsMatch(dir, "4M", 0, 0,
                List.of("write -z 0 64k", "write -P 0xcd 8k 4k"));
        long data = l.l2Entry(0, 0);
        assertThat(data).as("the zero cluster became a data cluster").isNotIn(0L, ENTRY_ZERO);
        byte[] cluster = fileBytes(dir.resolve("engine.qed"), data, CS);
        byte[] expected = new byte[CS];
        Arrays.fill(expected, 8192, 12288, (byte) 0xcd);
        assertThat(cluster).isEqualTo(expected);
    }

    /**
     * Over a backing file a zero cluster masks the base, and a partial write into it keeps zeros around the new
     * data, as the spec says. (QEMU 7.2 copies backing data there instead, notes §14.5; its reads of our image
     * still see the zeros we wrote.)
     */
    @Test
    void partialWriteIntoAZeroClusterOverABackingFileKeepsZerosNotBackingData() throws IOException {
        byte[] base = new byte[1 << 20];
        Arrays.fill(base, (byte) 0x55);
        Files.write(dir.resolve("base.raw"), base);
        Path overlay = dir.resolve("ov.qed");
        try (QedImage img = QedImage.create(overlay, CreateOptions.ofSize(4L << 20)
                .withBackingFile("base.raw", ImageFormat.RAW))) {
            img.writeZeroes(0, CS);
            img.write(ByteBuffer.wrap(filled(4096, 0xab)), 8192);
            img.writeZeroes(2L * CS, 2L * CS);
        }
        byte[] expected = new byte[4 << 20];
        System.arraycopy(base, 0, expected, 0, base.length);
        Arrays.fill(expected, 0, CS, (byte) 0);
        Arrays.fill(expected, 8192, 12288, (byte) 0xab);
        Arrays.fill(expected, 2 * CS, 4 * CS, (byte) 0);
        try (QedImage img = QedImage.open(overlay, OpenOptions.readOnlyDefaults())) {
            byte[] all = new byte[expected.length];
            img.readFully(ByteBuffer.wrap(all), 0);
            assertThat(Arrays.mismatch(all, expected)).as("first guest byte that differs").isEqualTo(-1);
        }
        if (Qemu.crossChecks()) { // without QEMU only the cross-checks are skipped
            Path raw = dir.resolve("expected.raw");
            Files.write(raw, expected);
            Qemu.assertCheckClean(overlay);
            Qemu.assertIdentical(overlay, raw);
        }
        QedLayout l = QedLayout.read(overlay);
        assertThat(l.l2Entry(0, 2)).isEqualTo(ENTRY_ZERO);
        assertThat(l.l2Entry(0, 3)).isEqualTo(ENTRY_ZERO);
    }

    private static byte[] filled(int n, int value) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private static byte[] fileBytes(Path file, long offset, int n) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer b = ByteBuffer.allocate(n);
            while (b.hasRemaining() && ch.read(b, offset + b.position()) >= 0) {
                // until full
            }
            return b.array();
        }
    }
}
