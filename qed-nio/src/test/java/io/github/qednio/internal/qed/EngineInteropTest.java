package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Random workloads in both directions against live QEMU: the engine writes and {@code qemu-img check}/
 * {@code compare} judge the result; {@code qemu-io} writes and the engine reads it back byte for byte.
 * The seed is fixed per geometry ({@code -Dqed.seed=N} overrides it; {@code -Dqed.soak=N} multiplies the work).
 */
class EngineInteropTest {
    private static final long KIB = 1024;
    private static final long MIB = 1024 * KIB;
    private static final long GIB = 1024 * MIB;

    private static final String BACKING = "base.raw";

    @TempDir
    Path dir;

    /** An image geometry; {@code bytesPerL2} is computed, never assumed. */
    record Geo(String name, long size, long clusterSize, long tableSize, long seed, long backingSize,
               int cacheTables) {
        Geo(String name, long size, long clusterSize, long tableSize, long seed) {
            this(name, size, clusterSize, tableSize, seed, 0, OpenOptions.defaults().l2CacheTables());
        }

        long bytesPerL2() {
            return tableSize * clusterSize / 8 * clusterSize;
        }

        long seedOrOverride() {
            return Long.getLong("qed.seed", seed);
        }

        CreateOptions createOptions() {
            CreateOptions o = CreateOptions.ofSize(size).withClusterSize(clusterSize).withTableSize(tableSize);
            return backingSize == 0 ? o : o.withBackingFile(BACKING, ImageFormat.RAW);
        }

        OpenOptions openOptions() {
            return OpenOptions.defaults().withL2CacheTables(cacheTables);
        }

        @Override
        public String toString() {
            return name + " (size " + size + ", cluster " + clusterSize + ", table_size " + tableSize
                    + ", one L2 maps " + bytesPerL2() + " bytes" + (backingSize == 0 ? "" : ", raw backing file of "
                    + backingSize + " bytes") + ", L2 cache of " + cacheTables + " tables)";
        }
    }

    static Stream<Geo> geometries() {
        return Stream.of(
                // The default geometry; one L2 maps 2 GiB, so the disk runs 8 MiB into a second table.
                new Geo("default 64K/ts4", 2 * GIB + 8 * MIB, 64 * KIB, 4, 11),
                // 4 KiB clusters with table_size 2: one L2 maps 2*4096/8 entries * 4 KiB = 4 MiB.
                new Geo("4K/ts2", 18 * MIB, 4 * KIB, 2, 22),
                new Geo("2M clusters", 40 * MIB, 2 * MIB, 4, 33),
                new Geo("64K, size not a cluster multiple", 5 * MIB + 1536, 64 * KIB, 4, 44),
                new Geo("4K/ts16, size not a cluster multiple", 70 * MIB + 512, 4 * KIB, 16, 55),
                // Ten 4 MiB tables through a cache of two: constant eviction and reloading.
                new Geo("4K/ts2 with a 2-table L2 cache", 40 * MIB, 4 * KIB, 2, 66, 0, 2),
                // Copy-on-write from a raw backing file shorter than the disk (and not sector-aligned).
                new Geo("64K over a raw backing file", 12 * MIB, 64 * KIB, 4, 77, 5 * MIB + 100, 50),
                new Geo("4K/ts2 over a raw backing file", 18 * MIB, 4 * KIB, 2, 88, 7 * MIB + 4000, 50));
    }

    /**
     * QEMU 7.2 links one cluster too many when a single allocating request covers at least {@code cs - 1}
     * clusters (4 KiB clusters, table_size 8: 16 MiB - 4 KiB), overwriting the next L2 entry (notes §14.4). The
     * engine's arithmetic is exact: the same two writes leave an image that checks clean and reads as written.
     */
    @Test
    void hugeAllocatingWriteWithSmallClustersDoesNotOverrunTheNextEntry() throws IOException {
        Qemu.assumeAvailable();
        Path image = dir.resolve("big.qed");
        Path raw = dir.resolve("big.raw");
        long size = 32 * MIB;
        byte[] model = new byte[(int) size];
        byte[] last = new byte[4096];
        Arrays.fill(last, (byte) 0x42);
        byte[] big = new byte[(int) (16 * MIB - 4096)];
        new Random(14).nextBytes(big);
        try (QedImage img = QedImage.create(image, CreateOptions.ofSize(size).withClusterSize(4096).withTableSize(8))) {
            img.write(ByteBuffer.wrap(last), 16 * MIB - 4096);
            img.write(ByteBuffer.wrap(big), 0);
            img.write(ByteBuffer.wrap(big), 16 * MIB);
        }
        System.arraycopy(big, 0, model, 0, big.length);
        System.arraycopy(last, 0, model, (int) (16 * MIB - 4096), last.length);
        System.arraycopy(big, 0, model, (int) (16 * MIB), big.length);
        Files.write(raw, model);
        Qemu.assertCheckClean(image);
        Qemu.assertIdentical(image, raw);
    }

    /** Writes the backing file (seeded random bytes) and returns its content, or an empty array without one. */
    private byte[] makeBacking(Geo g) throws IOException {
        byte[] base = new byte[(int) g.backingSize()];
        if (base.length > 0) {
            new Random(g.seed()).nextBytes(base);
            Files.write(dir.resolve(BACKING), base);
        }
        return base;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("geometries")
    void randomEngineWorkloadPassesQemuCheckAndCompare(Geo g) throws IOException {
        Qemu.assumeAvailable();
        Path image = dir.resolve("engine.qed");
        Path raw = dir.resolve("model.raw");
        long seed = g.seedOrOverride();
        // Fewer operations with huge clusters: each one moves megabytes.
        int count = (g.clusterSize() >= MIB ? 80 : 250) * Workload.SOAK;
        List<Workload.Op> ops = Workload.random(seed, g.size(), g.clusterSize(), g.bytesPerL2(), count, false);
        Random rnd = new Random(seed ^ 0x5eed);
        try (FileChannel model = FileChannel.open(raw, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            model.write(ByteBuffer.allocate(1), g.size() - 1);
            model.write(ByteBuffer.wrap(makeBacking(g)), 0);
            QedImage img = QedImage.create(image, g.createOptions(), g.openOptions());
            try {
                int n = 0;
                for (Workload.Op op : ops) {
                    n++;
                    String where = "seed " + seed + ", op " + n + " " + op;
                    if (op instanceof Workload.Flush) {
                        img.flush();
                    } else if (op instanceof Workload.Reopen) {
                        img.close();
                        img = QedImage.open(image, g.openOptions());
                    } else {
                        applyToEngine(op, img, rnd);
                        Workload.applyToRaw(op, model);
                    }
                    if (n % 10 == 0) {
                        assertSameRead(img, model, readOffsetNear(op, g, rnd), 1 + rnd.nextInt(3 * (int) g.clusterSize()),
                                where);
                    }
                }
            } finally {
                img.close();
            }
        }
        Qemu.assertCheckClean(image);
        Qemu.assertIdentical(image, raw);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("geometries")
    void imagesWrittenByQemuIoReadBackIdentically(Geo g) throws IOException {
        Qemu.assumeAvailable();
        Path image = dir.resolve("qemu.qed");
        List<String> create = new ArrayList<>(List.of("create", "-f", "qed", "-o",
                "cluster_size=" + g.clusterSize() + ",table_size=" + g.tableSize()));
        if (makeBacking(g).length > 0) {
            create.addAll(List.of("-b", BACKING, "-F", "raw"));
        }
        create.add(image.toString());
        create.add(Long.toString(g.size()));
        Qemu.img(create.toArray(String[]::new)).assertSuccess();
        long seed = g.seedOrOverride() + 1000;
        List<Workload.Op> ops = Workload.random(seed, g.size(), g.clusterSize(), g.bytesPerL2(),
                120 * Workload.SOAK, true);
        List<String> args = new ArrayList<>(List.of("-f", "qed", "-t", "writeback"));
        for (Workload.Op op : ops) {
            args.add("-c");
            args.add(Workload.qemuIo(op));
        }
        args.add(image.toString());
        Qemu.io(args.toArray(String[]::new)).assertSuccess();
        Path raw = Qemu.convertToRaw(image, dir.resolve("qemu.raw"));

        Random rnd = new Random(seed);
        try (QedImage img = QedImage.open(image, g.openOptions().withReadOnly(true));
             FileChannel expected = FileChannel.open(raw)) {
            assertThat(expected.size()).isEqualTo(img.size());
            // Holes of the converted raw file (as qemu-img map reports them) read as zeros without reading them,
            // so a 2 GiB disk is checked in well under a second; everything else is compared byte for byte.
            for (long[] run : rawRuns(raw)) {
                long pos = run[0];
                long end = run[0] + run[1];
                while (pos < end) {
                    // Varying, unaligned lengths so runs are split and coalesced differently.
                    int len = (int) Math.min(end - pos, 1 + rnd.nextInt(4 * (int) Math.max(g.clusterSize(), MIB)));
                    if (run[2] == 1) {
                        assertSameRead(img, expected, pos, len, "seed " + seed);
                    } else {
                        assertReadsZeros(img, pos, len, "seed " + seed);
                    }
                    pos += len;
                }
            }
        }
    }

    /** {@code qemu-img map} of a raw file: {start, length, 1 if data else 0}. */
    private static List<long[]> rawRuns(Path raw) {
        String json = Qemu.img("map", "-f", "raw", "--output=json", raw.toString()).assertSuccess().stdout();
        List<long[]> runs = new ArrayList<>();
        for (String line : json.split("}")) {
            if (line.contains("\"start\"")) {
                runs.add(new long[] {Qemu.jsonLong(line, "start"), Qemu.jsonLong(line, "length"),
                        line.contains("\"data\": true") ? 1 : 0});
            }
        }
        assertThat(runs).as("map of %s: %s", raw, json).isNotEmpty();
        return runs;
    }

    private void assertReadsZeros(QedImage img, long pos, int len, String where) throws IOException {
        ByteBuffer actual = buffer(0, len);
        img.readFully(actual, pos);
        int mismatch = actual.flip().mismatch(buffer(2, len));
        assertThat(mismatch).as("%s: first non-zero byte of read [%d, +%d) at guest offset %d", where, pos, len,
                pos + mismatch).isEqualTo(-1);
    }

    /** Writes through the engine, varying the buffer kind and position so buffer handling is exercised too. */
    private static void applyToEngine(Workload.Op op, QedImage img, Random rnd) throws IOException {
        if (op instanceof Workload.Write w) {
            byte[] data = w.data();
            ByteBuffer buf;
            switch (rnd.nextInt(3)) {
                case 0 -> buf = ByteBuffer.wrap(data);
                case 1 -> {
                    int pad = 1 + rnd.nextInt(100);
                    byte[] padded = new byte[data.length + 2 * pad];
                    Arrays.fill(padded, (byte) 0xEE);
                    System.arraycopy(data, 0, padded, pad, data.length);
                    buf = ByteBuffer.wrap(padded, pad, data.length);
                }
                default -> buf = ByteBuffer.allocateDirect(data.length).put(data).flip();
            }
            assertThat(img.write(buf, w.offset())).isEqualTo(data.length);
            assertThat(buf.hasRemaining()).as("buffer consumed").isFalse();
        } else if (op instanceof Workload.Zero z) {
            img.writeZeroes(z.offset(), z.length());
        }
    }

    private static long readOffsetNear(Workload.Op op, Geo g, Random rnd) {
        long base = op instanceof Workload.Write w ? w.offset()
                : op instanceof Workload.Zero z ? z.offset() : rnd.nextLong(g.size());
        return Math.max(0, Math.min(g.size() - 1, base - rnd.nextInt((int) g.clusterSize())));
    }

    /** Reused direct buffers (0: actual, 1: expected, 2: always zeros), so big reads do not churn memory. */
    private final ByteBuffer[] buffers = new ByteBuffer[3];

    private ByteBuffer buffer(int which, int len) {
        if (buffers[which] == null || buffers[which].capacity() < len) {
            buffers[which] = ByteBuffer.allocateDirect(Math.max(len, 1 << 20));
        }
        return buffers[which].clear().limit(len);
    }

    private void assertSameRead(QedImage img, FileChannel model, long pos, int len, String where)
            throws IOException {
        int n = (int) Math.min(len, img.size() - pos);
        ByteBuffer actual = buffer(0, n);
        img.readFully(actual, pos);
        ByteBuffer expected = buffer(1, n);
        while (expected.hasRemaining() && model.read(expected, pos + expected.position()) >= 0) {
            // read until full
        }
        int mismatch = actual.flip().mismatch(expected.flip());
        assertThat(mismatch).as("%s: first differing byte of read [%d, +%d) at guest offset %d", where, pos, n,
                pos + mismatch).isEqualTo(-1);
    }
}
