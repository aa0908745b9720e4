package io.github.qednio.internal.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.image.CheckResult;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Qcow2Check} reports, field by field, what {@code qemu-img check --output=json} 7.2 reports for the same
 * file (the expected figures are parsed from qemu-img's output in each test), on images QEMU made and on images
 * whose tables were then damaged by hand, and never changes a byte of the file.
 */
class Qcow2CheckTest {
    private static final String[] WRITES = {"write -P 0x11 0 100k", "write -P 0x22 1M 64k", "write -z 3M 1M",
        "write -P 0x33 5M 4k", "write -P 0x44 7M 300k"};
    private static final String SIZE = "8M";

    @TempDir
    Path dir;

    @BeforeEach
    void qemu() {
        Qemu.assumeAvailable();
    }

    // ----- images as QEMU makes them -----

    @ParameterizedTest(name = "compat {0}, cluster size {1}")
    @CsvSource({"0.10, 4096", "0.10, 65536", "0.10, 2097152", "1.1, 4096",
        "1.1, 65536", "1.1, 2097152"})
    void writtenImageMatchesQemuImg(String compat, int clusterSize) throws IOException {
        Path img = create("compat=" + compat + ",cluster_size=" + clusterSize);
        write(img, WRITES);
        assertMatchesQemuImg(img);
    }

    @Test
    void emptyImageMatchesQemuImg() throws IOException {
        assertMatchesQemuImg(create("cluster_size=65536"));
    }

    @ParameterizedTest(name = "refcount_bits={0}")
    @ValueSource(ints = {1, 2, 4, 8, 32, 64})
    void everyRefcountWidthMatchesQemuImg(int bits) throws IOException {
        Path img = create("cluster_size=4096,refcount_bits=" + bits);
        write(img, WRITES);
        assertMatchesQemuImg(img);
    }

    @ParameterizedTest(name = "cluster size {0}")
    @ValueSource(ints = {4096, 65536, 2097152})
    void compressedImageMatchesQemuImg(int clusterSize) throws IOException {
        Path src = create("cluster_size=" + clusterSize);
        write(src, "write -P 0x55 0 3M", "write -P 0x66 5M 1M");
        Path img = dir.resolve("compressed.qcow2");
        Qemu.img("convert", "-c", "-O", "qcow2", "-o", "cluster_size=" + clusterSize, src.toString(),
                img.toString()).assertSuccess();
        CheckResult r = assertMatchesQemuImg(img);
        assertThat(r.compressedClusters()).isPositive();
    }

    @Test
    void zstdCompressedImageMatchesQemuImg() throws IOException {
        Path src = create("cluster_size=65536");
        write(src, "write -P 0x55 0 3M");
        Path img = dir.resolve("zstd.qcow2");
        Qemu.img("convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", src.toString(), img.toString())
                .assertSuccess();
        assertThat(assertMatchesQemuImg(img).compressedClusters()).isPositive();
    }

    @Test
    void compressedThenPartlyOverwrittenMatchesQemuImg() throws IOException {
        Path src = create("cluster_size=4096");
        write(src, "write -P 0x55 0 2M");
        Path img = dir.resolve("mixed.qcow2");
        Qemu.img("convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096", src.toString(), img.toString())
                .assertSuccess();
        write(img, "write -P 0x77 100k 50k", "write -z 1M 64k", "write -P 0x78 6M 8k");
        assertMatchesQemuImg(img);
    }

    @ParameterizedTest(name = "over a {0} base")
    @ValueSource(strings = {"raw", "qed"})
    void overlayOverABaseMatchesQemuImg(String baseFormat) throws IOException {
        Path base = dir.resolve("base." + baseFormat);
        Qemu.img("create", "-q", "-f", baseFormat, base.toString(), SIZE).assertSuccess();
        Qemu.ioCommands(base, baseFormat, "write -P 0x99 0 8M");
        Path img = dir.resolve("overlay.qcow2");
        Qemu.img("create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", baseFormat, "-o", "cluster_size=4096",
                img.toString()).assertSuccess();
        write(img, WRITES);
        assertMatchesQemuImg(img);
    }

    @Test
    void internalSnapshotsMatchQemuImg() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, "write -P 0x11 0 1M");
        Qemu.img("snapshot", "-c", "first", img.toString()).assertSuccess();
        write(img, "write -P 0x12 512k 1M", "write -z 6M 64k");
        Qemu.img("snapshot", "-c", "second", img.toString()).assertSuccess();
        write(img, "write -P 0x13 0 16k");
        assertMatchesQemuImg(img);
    }

    @Test
    void persistentBitmapsMatchQemuImg() throws IOException {
        Path img = create("cluster_size=4096");
        Qemu.img("bitmap", "--add", img.toString(), "b0").assertSuccess();
        Qemu.img("bitmap", "--add", "-g", "65536", img.toString(), "b1").assertSuccess();
        write(img, WRITES);
        assertMatchesQemuImg(img);
    }

    // ----- leaks and corruptions made by hand -----

    @Test
    void bumpedRefcountIsALeakAndACopiedFlagError() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        long data = l2Entry(img, 0, 0) & 0x00ff_ffff_ffff_fe00L;
        setRefcount(img, data / 4096, 2);
        CheckResult r = assertMatchesQemuImg(img);
        assertThat(r.leaks()).isEqualTo(1);
    }

    @Test
    void droppedL2EntryLeaksItsCluster() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        putLong(img, l2Offset(img, 0) + 8, 0);
        CheckResult r = assertMatchesQemuImg(img);
        assertThat(r.leaks()).isEqualTo(1);
        assertThat(r.corruptions()).isZero();
    }

    @Test
    void refcountOfAClusterPastTheLastReferenceIsALeak() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        long clusters = Files.size(img) / 4096;
        Files.write(img, new byte[4096], StandardOpenOption.APPEND);
        setRefcount(img, clusters, 1);
        CheckResult r = assertMatchesQemuImg(img);
        assertThat(r.leaks()).isEqualTo(1);
        assertThat(r.imageEndOffset()).isEqualTo((clusters + 1) * 4096);
    }

    @Test
    void zeroRefcountOfADataClusterIsACorruption() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        long data = l2Entry(img, 0, 3) & 0x00ff_ffff_ffff_fe00L;
        setRefcount(img, data / 4096, 0);
        CheckResult r = assertMatchesQemuImg(img);
        assertThat(r.corruptions()).isPositive();
    }

    @Test
    void zeroRefcountOfAnL2TableIsACorruption() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        setRefcount(img, l2Offset(img, 0) / 4096, 0);
        assertMatchesQemuImg(img);
    }

    @Test
    void l2EntriesPastTheEndMisalignedOrWithReservedBitsAreCorruptions() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        long l2 = l2Offset(img, 0);
        putLong(img, l2 + 8, (1L << 63) | (1L << 40)); // past the end of the file
        putLong(img, l2 + 16, l2Entry(img, 0, 2) + 512); // not cluster-aligned
        putLong(img, l2 + 24, l2Entry(img, 0, 3) | 2); // a reserved bit
        putLong(img, l2 + 800, 1); // a zero cluster without a host cluster: valid
        CheckResult r = assertMatchesQemuImg(img);
        assertThat(r.corruptions()).isGreaterThanOrEqualTo(3);
    }

    @Test
    void l1EntriesPastTheEndMisalignedOrWithReservedBitsAreCorruptions() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        long l1 = header(img).getLong(40);
        long e0 = getLong(img, l1);
        putLong(img, l1, e0 | 4); // a reserved bit
        putLong(img, l1 + 8, (1L << 63) | (1L << 44)); // past the end of the file
        putLong(img, l1 + 16, e0 + 1024); // not cluster-aligned
        assertMatchesQemuImg(img);
    }

    @Test
    void refcountTableEntriesThatAreInvalidAreCorruptionsOrCheckErrors() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        long rt = header(img).getLong(48);
        long block = getLong(img, rt);
        putLong(img, rt + 8, block + 512); // misaligned: every refcount it covers cannot be read
        putLong(img, rt + 16, 1L << 40); // past the end of the file
        putLong(img, rt + 24, block | 1); // a reserved bit
        Files.write(img, new byte[3 * 4096 * 2048], StandardOpenOption.APPEND); // the blocks cover clusters
        CheckResult r = assertMatchesQemuImg(img);
        assertThat(r.checkErrors()).isPositive();
    }

    @Test
    void compressedClusterWithTheCopiedFlagIsACorruption() throws IOException {
        Path src = create("cluster_size=4096");
        write(src, "write -P 0x55 0 64k");
        Path img = dir.resolve("compressed.qcow2");
        Qemu.img("convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096", src.toString(), img.toString())
                .assertSuccess();
        long l2 = l2Offset(img, 0);
        putLong(img, l2, getLong(img, l2) | (1L << 63));
        putLong(img, l2 + 8, getLong(img, l2 + 8) | 0x3fffL << 40); // spans far past the end of the file
        assertMatchesQemuImg(img);
    }

    @Test
    void sharedClusterAtTheOneBitRefcountMaximumIsAnOverflowCorruption() throws IOException {
        Path img = create("cluster_size=4096,refcount_bits=1");
        write(img, WRITES);
        long l2 = l2Offset(img, 0);
        putLong(img, l2 + 8, l2Entry(img, 0, 0)); // two entries name the same cluster
        CheckResult r = assertMatchesQemuImg(img);
        assertThat(r.corruptions()).isPositive();
    }

    @ParameterizedTest(name = "snapshot table at 0x{0}")
    @ValueSource(longs = {0, 0x1000, 0x40000000})
    void snapshotTableOverOtherStructuresOrPastTheEndMatchesQemuImg(long offset) throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        putInt(img, 60, 2); // the header, the refcount table or nothing read as two snapshots
        putLong(img, 64, offset);
        assertMatchesQemuImg(img);
    }

    @Test
    void tablesPastTheEndOfTheFileMatchQemuImg() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        putLong(img, 40, 1L << 40); // the active L1 table reads as zeros
        assertMatchesQemuImg(img);
        putLong(img, 48, 1L << 41); // so does the refcount table
        assertMatchesQemuImg(img);
        putInt(img, 56, 0); // and there may be none
        assertMatchesQemuImg(img);
    }

    @Test
    void backingFileNameInsideTheHeaderLeavesNoExtensionsAsInQemu() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        putLong(img, 8, 64); // backing_file_offset: the name is the header's own bytes 64..71
        putInt(img, 16, 8);
        assertMatchesQemuImg(img);
    }

    // ----- hostile files -----

    @Test
    void randomlyDamagedTablesMatchQemuImgOrGiveAFormatException() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        Qemu.img("snapshot", "-c", "s", img.toString()).assertSuccess();
        write(img, "write -P 0x31 0 64k");
        if (Boolean.getBoolean("fuzzAlt")) {
            Path c = dir.resolve("c.qcow2");
            Qemu.img("convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096", img.toString(), c.toString())
                    .assertSuccess();
            Qemu.img("bitmap", "--add", c.toString(), "b0").assertSuccess();
            write(c, "write -P 0x31 1M 64k");
            img = c;
        }
        byte[] valid = Files.readAllBytes(img);
        long[] meta = metadataClusters(img);
        Random random = new Random(Long.getLong("fuzzSeed", 20261208));
        List<String> refusedByUsOnly = new ArrayList<>();
        List<String> checkedByUsOnly = new ArrayList<>();
        Path bad = dir.resolve("bad.qcow2");
        int compared = 0;
        for (int round = 0; round < Integer.getInteger("fuzzRounds", 60); round++) {
            byte[] b = valid.clone();
            int edits = 1 + random.nextInt(3);
            for (int i = 0; i < edits; i++) {
                long cluster = meta[random.nextInt(meta.length)];
                // One edit in four hits the header's fields, the rest the tables.
                int at = random.nextInt(4) == 0 ? random.nextInt(112)
                        : (int) (cluster * 4096 + random.nextInt(4096));
                b[at] = (byte) (random.nextBoolean() ? random.nextInt(256) : b[at] ^ (1 << random.nextInt(8)));
            }
            Files.write(bad, b);
            Qemu.Result q = Qemu.img("check", "-f", "qcow2", "--output=json", bad.toString());
            CheckResult ours;
            try {
                ours = Qcow2Check.check(bad);
            } catch (QedFormatException e) {
                if (q.stdout().contains("\"filename\"")) {
                    refusedByUsOnly.add("round " + round + ": " + e.getMessage());
                }
                continue;
            }
            assertThat(Files.readAllBytes(bad)).as("round %d: the file is unchanged", round).isEqualTo(b);
            if (!q.stdout().contains("\"filename\"")) {
                checkedByUsOnly.add("round " + round + ": " + q.stderr());
            } else {
                compared++;
                assertThat(ours).as("round %d: %s %s", round, q.stdout(), q.stderr()).isEqualTo(expected(q));
            }
        }
        // A damaged header may make this check refuse what QEMU still checks; table damage must not.
        assertThat(refusedByUsOnly).as("refused here, checked by qemu-img").hasSizeLessThan(10);
        assertThat(checkedByUsOnly).as("checked here, refused by qemu-img").isEmpty();
        assertThat(compared).as("rounds compared with qemu-img").isGreaterThan(30);
    }

    @Test
    void truncatedOrOversizedStructuresGiveAFormatException() throws IOException {
        Path img = create("cluster_size=4096");
        write(img, WRITES);
        byte[] valid = Files.readAllBytes(img);
        Path bad = dir.resolve("bad.qcow2");
        Files.write(bad, Arrays.copyOf(valid, 50));
        assertThatThrownBy(() -> Qcow2Check.check(bad)).isInstanceOf(QedFormatException.class);
        Files.write(bad, valid);
        putLong(bad, 40, 4096 + 8); // l1_table_offset not cluster-aligned
        assertThatThrownBy(() -> Qcow2Check.check(bad)).isInstanceOf(QedFormatException.class)
                .hasMessageContaining("l1_table_offset");
        Files.write(bad, valid);
        putInt(bad, 36, Integer.MAX_VALUE); // l1_size beyond QEMU's 32 MiB
        assertThatThrownBy(() -> Qcow2Check.check(bad)).isInstanceOf(QedFormatException.class)
                .hasMessageContaining("l1_size");
        Files.write(bad, valid);
        putInt(bad, 60, 3);
        putLong(bad, 64, 4096 + 512); // a snapshot table that is not cluster-aligned: qemu-img's check fails
        assertThatThrownBy(() -> Qcow2Check.check(bad)).isInstanceOf(QedFormatException.class)
                .hasMessageContaining("snapshots_offset");
        Files.write(bad, valid);
        putLong(bad, 64, 512); // no snapshot, but qemu-img's check still validates where their table would be
        assertThatThrownBy(() -> Qcow2Check.check(bad)).isInstanceOf(QedFormatException.class)
                .hasMessageContaining("snapshots_offset");
        Files.write(bad, valid);
        putByte(bad, 104, (byte) 2); // compression type 2 does not exist
        assertThatThrownBy(() -> Qcow2Check.check(bad)).isInstanceOf(QedFormatException.class)
                .hasMessageContaining("compression_type");
        Files.write(bad, valid);
        putByte(bad, 104, (byte) 1); // zstd without its incompatible feature bit
        assertThatThrownBy(() -> Qcow2Check.check(bad)).isInstanceOf(QedFormatException.class)
                .hasMessageContaining("compression_type");
        Files.write(bad, valid);
        putInt(bad, 60, 70000);
        assertThatThrownBy(() -> Qcow2Check.check(bad)).isInstanceOf(QedFormatException.class)
                .hasMessageContaining("nb_snapshots");
    }

    // ----- helpers -----

    private Path create(String options) {
        Path img = dir.resolve("img-" + options.replaceAll("[^a-z0-9.]", "_") + ".qcow2");
        Qemu.img("create", "-q", "-f", "qcow2", "-o", options, img.toString(), SIZE).assertSuccess();
        return img;
    }

    private static void write(Path img, String... commands) {
        Qemu.ioCommands(img, "qcow2", commands);
    }

    /** Runs our check, asserts that it left the file as it was and that it equals qemu-img's report. */
    private static CheckResult assertMatchesQemuImg(Path img) throws IOException {
        byte[] before = Files.readAllBytes(img);
        var modified = Files.getLastModifiedTime(img);
        CheckResult ours = Qcow2Check.check(img);
        assertThat(Files.readAllBytes(img)).as("the check never writes").isEqualTo(before);
        assertThat(Files.getLastModifiedTime(img)).isEqualTo(modified);
        Qemu.Result q = Qemu.img("check", "-f", "qcow2", "--output=json", img.toString());
        assertThat(q.exitCode()).as("%s %s", q.stdout(), q.stderr()).isIn(0, 1, 2, 3);
        assertThat(ours).as("qemu-img: %s%s", q.stdout(), q.stderr()).isEqualTo(expected(q));
        assertThat(ours.exitCode()).isEqualTo(q.exitCode());
        return ours;
    }

    /** qemu-img's figures; it leaves out the zero ones except check-errors. */
    private static CheckResult expected(Qemu.Result q) {
        String j = q.stdout();
        assertThat(j).contains("\"check-errors\"").contains("\"format\": \"qcow2\"");
        return new CheckResult(Qemu.jsonLong(j, "total-clusters"), Qemu.jsonLong(j, "allocated-clusters"),
                Qemu.jsonLong(j, "fragmented-clusters"), Qemu.jsonLong(j, "corruptions"), Qemu.jsonLong(j, "leaks"),
                Qemu.jsonLong(j, "check-errors"), Qemu.jsonLong(j, "corruptions-fixed"),
                Qemu.jsonLong(j, "leaks-fixed"), Qemu.jsonLong(j, "image-end-offset"),
                Qemu.jsonLong(j, "compressed-clusters"));
    }

    private static ByteBuffer header(Path img) throws IOException {
        try (FileChannel ch = FileChannel.open(img)) {
            ByteBuffer b = ByteBuffer.allocate(112);
            ch.read(b, 0);
            return b.flip();
        }
    }

    private static long l2Offset(Path img, int l1Index) throws IOException {
        return getLong(img, header(img).getLong(40) + 8L * l1Index) & 0x00ff_ffff_ffff_fe00L;
    }

    private static long l2Entry(Path img, int l1Index, int l2Index) throws IOException {
        return getLong(img, l2Offset(img, l1Index) + 8L * l2Index);
    }

    /** Sets a 16-bit refcount (the default width) in the refcount block covering {@code cluster}. */
    private static void setRefcount(Path img, long cluster, int value) throws IOException {
        ByteBuffer h = header(img);
        int clusterBits = h.getInt(20);
        int perBlock = (1 << clusterBits) / 2;
        long block = getLong(img, h.getLong(48) + 8 * (cluster / perBlock));
        assertThat(block).as("refcount block for cluster %d", cluster).isPositive();
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(2).putShort(0, (short) value), block + 2 * (cluster % perBlock));
        }
    }

    /** The clusters holding the metadata of a 4 KiB-cluster image: everything but the active data clusters. */
    private static long[] metadataClusters(Path img) throws IOException {
        long clusters = Files.size(img) / 4096;
        Set<Long> data = new HashSet<>();
        int l1Size = header(img).getInt(36);
        for (int i = 0; i < l1Size; i++) {
            if (l2Offset(img, i) == 0) {
                continue;
            }
            for (int j = 0; j < 512; j++) {
                long e = l2Entry(img, i, j) & 0x00ff_ffff_ffff_fe00L;
                if (e != 0) {
                    data.add(e / 4096);
                }
            }
        }
        List<Long> meta = new ArrayList<>();
        for (long c = 0; c < clusters; c++) {
            if (!data.contains(c)) {
                meta.add(c);
            }
        }
        return meta.stream().mapToLong(Long::longValue).toArray();
    }

    private static long getLong(Path img, long offset) throws IOException {
        try (FileChannel ch = FileChannel.open(img)) {
            ByteBuffer b = ByteBuffer.allocate(8);
            ch.read(b, offset);
            return b.getLong(0);
        }
    }

    private static void putLong(Path img, long offset, long value) throws IOException {
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).putLong(0, value), offset);
        }
    }

    private static void putByte(Path img, long offset, byte value) throws IOException {
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {value}), offset);
        }
    }

    private static void putInt(Path img, long offset, int value) throws IOException {
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(4).putInt(0, value), offset);
        }
    }
}
