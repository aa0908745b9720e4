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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Zero detection ({@link OpenOptions#withDetectZeroes}, QEMU's {@code detect-zeroes=on}): all-zero writes allocate
 * nothing without a backing file, become zero clusters over one (the layout QEMU gives, byte for byte), are written
 * in place over allocated clusters, and always read back as written.
 */
class ZeroDetectionTest {
    private static final int CS = 65536;
    /** A new default image: one header cluster and a 4-cluster L1. */
    private static final long FRESH_EOF = 5L * CS;
    private static final OpenOptions DETECT = OpenOptions.defaults().withDetectZeroes(true);

    @TempDir
    Path dir;

    @Test
    void isOffByDefaultAsInQemu() {
        assertThat(OpenOptions.defaults().detectZeroes()).isFalse();
        assertThat(DETECT.detectZeroes()).isTrue();
        assertThat(DETECT.withReadOnly(true).withCopyOnRead(true).detectZeroes()).as("kept by other withers").isTrue();
    }

    @Test
    void zeroWritesWithoutABackingFileAllocateNothingNotEvenAnL2Table() throws IOException {
        Path image = create("plain.qed", 64L << 20);
        try (QedImage img = QedImage.open(image, DETECT)) {
            img.write(ByteBuffer.allocate(3 * CS), CS); // whole clusters
            img.write(ByteBuffer.allocate(1000), 10L << 20); // part of a cluster
            img.write(ByteBuffer.allocate(5 * CS + 300), (20L << 20) + 77); // unaligned head, middle and tail
            img.write(ByteBuffer.allocateDirect(2 * CS), 30L << 20); // a direct buffer too
            assertThat(img.extentAt(0)).isEqualTo(new Extent(0, 64L << 20, Extent.Kind.UNALLOCATED, -1));
        }
        assertThat(Files.size(image)).isEqualTo(FRESH_EOF);
        assertThat(QedLayout.read(image).l1()).isEmpty();
        if (Qemu.crossChecks()) {
            Qemu.assertCheckClean(image);
            Path raw = dir.resolve("zeros.raw");
            Files.write(raw, new byte[64 << 20]);
            Qemu.assertIdentical(image, raw);
            String map = Qemu.img("map", "--output=json", "-f", "qed", image.toString()).assertSuccess().stdout();
            assertThat(map.strip()).as("qemu-img map: one unallocated extent").isEqualTo("[{ \"start\": 0, \"length\": "
                    + (64 << 20) + ", \"depth\": 0, \"present\": false, \"zero\": true, \"data\": false}]");
        }
    }

    @Test
    void withoutDetectionTheSameZeroWriteAllocatesAsBefore() throws IOException {
        Path image = create("plain.qed", 64L << 20);
        try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
            img.write(ByteBuffer.allocate(3 * CS), CS);
        }
        assertThat(Files.size(image)).isGreaterThan(FRESH_EOF + 3L * CS);
    }

    @Test
    void dataThatIsNotAllZerosIsWrittenAsUsualEvenWithOneNonZeroByteAtTheEnd() throws IOException {
        Path image = create("plain.qed", 4L << 20);
        byte[] data = new byte[2 * CS + 70000]; // more than the 64 KiB compared at a time
        data[data.length - 1] = 7;
        try (QedImage img = QedImage.open(image, DETECT)) {
            img.write(ByteBuffer.wrap(data), 0);
            byte[] back = new byte[data.length];
            img.readFully(ByteBuffer.wrap(back), 0);
            assertThat(back).isEqualTo(data);
            assertThat(img.extentAt(0).kind()).isEqualTo(Extent.Kind.DATA);
        }
    }

    @Test
    void zeroWriteOverAllocatedClustersZeroesThemInPlaceAndAppendsNothing() throws IOException {
        Path image = create("plain.qed", 4L << 20);
        byte[] ff = new byte[2 * CS];
        Arrays.fill(ff, (byte) 0xff);
        try (QedImage img = QedImage.open(image, DETECT)) {
            img.write(ByteBuffer.wrap(ff), 0);
            long length = Files.size(image);
            img.write(ByteBuffer.allocate(CS + 100), 500);
            assertThat(Files.size(image)).isEqualTo(length);
            byte[] expected = ff.clone();
            Arrays.fill(expected, 500, 500 + CS + 100, (byte) 0);
            byte[] back = new byte[2 * CS];
            img.readFully(ByteBuffer.wrap(back), 0);
            assertThat(back).isEqualTo(expected);
            assertThat(img.extentAt(0).kind()).isEqualTo(Extent.Kind.DATA);
        }
    }

    @Test
    void partialZeroWriteIntoAZeroClusterOverABackingFileIsSkippedAndStillReadsZeros() throws IOException {
        Path overlay = overlayOf(pattern(1 << 20, 3));
        try (QedImage img = QedImage.open(overlay, DETECT)) {
            img.writeZeroes(0, CS);
            long length = Files.size(overlay);
            img.write(ByteBuffer.allocate(100), 1000);
            assertThat(Files.size(overlay)).isEqualTo(length);
            assertThat(img.extentAt(0)).isEqualTo(new Extent(0, CS, Extent.Kind.ZERO, -1));
        }
    }

    /**
     * Over a backing file the whole clusters become zero clusters and the partial ones are written as zero data with
     * copy-on-write, exactly what {@code qemu-io --image-opts driver=qed,detect-zeroes=on} does: the two files are
     * byte-identical.
     */
    @Test
    void overABackingFileWholeClustersBecomeZeroClustersAndTheFileMatchesQemusDetectZeroes() throws IOException {
        Qemu.assumeAvailable();
        Files.write(dir.resolve("base.raw"), pattern(1 << 20, 1));
        List<String[]> writes = List.of(new String[] {"32k", "200k"}, new String[] {"2M", "64k"},
                new String[] {"700k", "1000"}, new String[] {"900k", "300k"});
        Path qemu = dir.resolve("qemu.qed");
        Path ours = dir.resolve("ours.qed");
        for (Path p : List.of(qemu, ours)) {
            Qemu.img("create", "-q", "-f", "qed", "-b", "base.raw", "-F", "raw", p.toString(), "4M").assertSuccess();
        }
        List<String> args = new java.util.ArrayList<>();
        for (String[] w : writes) {
            args.addAll(List.of("-c", "write -P 0 " + w[0] + " " + w[1]));
        }
        args.addAll(List.of("--image-opts", "driver=qed,detect-zeroes=on,file.filename=" + qemu));
        Qemu.io(args.toArray(String[]::new)).assertSuccess();
        try (QedImage img = QedImage.open(ours, DETECT)) {
            for (String[] w : writes) {
                long len = EnginePlacementTest.parseSize(w[1]);
                img.write(ByteBuffer.allocate((int) len), EnginePlacementTest.parseSize(w[0]));
            }
        }
        QedLayout layout = QedLayout.read(ours);
        assertThat(layout.l2Entry(0, 1)).as("cluster 1, whole in the first write").isEqualTo(ENTRY_ZERO);
        assertThat(layout.l2Entry(0, 32)).as("cluster 32, the second write").isEqualTo(ENTRY_ZERO);
        assertThat(layout).isEqualTo(QedLayout.read(qemu));
        assertThat(Files.mismatch(ours, qemu)).as("first differing byte of the two files").isEqualTo(-1L);
        Qemu.assertCheckClean(ours);
        Qemu.img("compare", "-f", "qed", "-F", "qed", ours.toString(), qemu.toString()).assertSuccess();
    }

    /**
     * Random writes, a third of them all zeros, at random offsets and lengths, applied with and without detection,
     * over no backing file and over a raw one: the guest contents are the same, and QEMU agrees (compare, check).
     */
    @Test
    void randomMixOfZeroAndDataWritesReadsBackTheSameWithAndWithoutDetection() throws IOException {
        for (boolean backed : new boolean[] {false, true}) {
            Path sub = Files.createDirectory(dir.resolve(backed ? "backed" : "plain"));
            byte[] base = pattern(3 << 20, 9);
            Files.write(sub.resolve("base.raw"), base);
            byte[] model = backed ? Arrays.copyOf(base, 4 << 20) : new byte[4 << 20];
            Path on = sub.resolve("on.qed");
            Path off = sub.resolve("off.qed");
            for (Path p : List.of(on, off)) {
                CreateOptions c = CreateOptions.ofSize(4L << 20).withClusterSize(4096);
                QedImage.create(p, backed ? c.withBackingFile("base.raw", ImageFormat.RAW) : c).close();
            }
            Random rnd = new Random(backed ? 11 : 12);
            try (QedImage a = QedImage.open(on, DETECT); QedImage b = QedImage.open(off, OpenOptions.defaults())) {
                for (int i = 0; i < 300; i++) {
                    int len = 1 + rnd.nextInt(i % 10 == 0 ? 200_000 : 20_000);
                    int pos = rnd.nextInt(model.length - len + 1);
                    byte[] data = new byte[len];
                    if (rnd.nextInt(3) != 0) {
                        Arrays.fill(data, (byte) (1 + rnd.nextInt(255)));
                    }
                    System.arraycopy(data, 0, model, pos, len);
                    a.write(ByteBuffer.wrap(data), pos);
                    b.write(ByteBuffer.wrap(data), pos);
                }
                byte[] back = new byte[model.length];
                a.readFully(ByteBuffer.wrap(back), 0);
                assertThat(Arrays.mismatch(back, model)).as("first differing guest byte, detection on").isEqualTo(-1);
                b.readFully(ByteBuffer.wrap(back), 0);
                assertThat(Arrays.mismatch(back, model)).as("first differing guest byte, detection off").isEqualTo(-1);
            }
            assertThat(Files.size(on)).as("detection allocates less").isLessThan(Files.size(off));
            if (Qemu.crossChecks()) {
                Path raw = sub.resolve("model.raw");
                Files.write(raw, model);
                Qemu.assertCheckClean(on);
                Qemu.assertIdentical(on, raw);
            }
        }
    }

    /**
     * Threads writing disjoint 4 KiB slices that share clusters, half of the writes all zeros: a zero write skipped
     * in a cluster another thread is allocating at that moment must still read back as zeros, and the other
     * thread's data must survive. Every slice ends as its owner last wrote it, with and without a backing file.
     */
    @Test
    void concurrentZeroAndDataWritesToSharedClustersEndAsEachThreadLastWrote() throws Exception {
        int slice = 4096;
        int threads = 4;
        for (boolean backed : new boolean[] {false, true}) {
            Path sub = Files.createDirectory(dir.resolve(backed ? "backed" : "plain"));
            Files.write(sub.resolve("base.raw"), pattern(2 << 20, 5));
            Path image = sub.resolve("c.qed");
            CreateOptions c = CreateOptions.ofSize(2L << 20);
            QedImage.create(image, backed ? c.withBackingFile("base.raw", ImageFormat.RAW) : c).close();
            byte[] model = new byte[2 << 20];
            java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(threads);
            try (QedImage img = QedImage.open(image, DETECT)) {
                List<java.util.concurrent.Future<?>> done = new java.util.ArrayList<>();
                java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
                try {
                    for (int t = 0; t < threads; t++) {
                        int me = t;
                        done.add(pool.submit(() -> {
                            Random rnd = new Random(me * 31 + (backed ? 1 : 0));
                            start.await();
                            for (int round = 0; round < 3; round++) {
                                // Slice i belongs to thread i % threads: every cluster is shared by all of them.
                                for (int i = me; i < model.length / slice; i += threads) {
                                    byte[] data = new byte[slice];
                                    if (rnd.nextBoolean()) {
                                        Arrays.fill(data, (byte) (1 + rnd.nextInt(255)));
                                    }
                                    img.write(ByteBuffer.wrap(data), (long) i * slice);
                                    System.arraycopy(data, 0, model, i * slice, slice); // own slice only
                                }
                            }
                            return null;
                        }));
                    }
                    for (java.util.concurrent.Future<?> f : done) {
                        f.get();
                    }
                } finally {
                    pool.shutdown();
                }
                byte[] back = new byte[model.length];
                img.readFully(ByteBuffer.wrap(back), 0);
                assertThat(Arrays.mismatch(back, model)).as("first differing guest byte, backed=%s", backed)
                        .isEqualTo(-1);
            }
            if (Qemu.crossChecks()) {
                Path raw = sub.resolve("model.raw");
                Files.write(raw, model);
                Qemu.assertCheckClean(image);
                Qemu.assertIdentical(image, raw);
            }
        }
    }

    private Path create(String name, long size) throws IOException {
        Path image = dir.resolve(name);
        QedImage.create(image, CreateOptions.ofSize(size)).close();
        return image;
    }

    private Path overlayOf(byte[] base) throws IOException {
        Files.write(dir.resolve("base.raw"), base);
        Path overlay = dir.resolve("ov.qed");
        QedImage.create(overlay, CreateOptions.ofSize(4L << 20).withBackingFile("base.raw", ImageFormat.RAW))
                .close();
        return overlay;
    }

    /** Non-zero bytes (every value but 0), so that no cluster of the pattern is all zeros. */
    private static byte[] pattern(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        for (int i = 0; i < n; i++) {
            if (b[i] == 0) {
                b[i] = 1;
            }
        }
        return b;
    }
}
