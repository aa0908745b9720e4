package io.github.qednio.bench;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Workloads 3 and 4 (allocating writes) of issue 6: each measurement is one pass over a new image or a new raw file.
 * The final flush is outside the measurement for both (it is done when the iteration ends), so the figures compare
 * the write paths, not the disk; the image's own syncs (NEED_CHECK, new L2 tables) are inside. On Java 22+ the
 * engine reserves space past the end of the image ({@code fallocate}); {@code seqAllocWrite64kQedWithoutPreallocation}
 * is the same pass without that.
 *
 * <p>Each iteration is one pass of a few thousand requests: six passes bring the engine's write path to C2-compiled
 * code (with one, the measured passes ran partly interpreted or C1-compiled and cost up to 2x; the raw loop is
 * mostly kernel time and barely changes).
 */
@BenchmarkMode(Mode.SingleShotTime)
@Warmup(iterations = 6)
@Measurement(iterations = 3)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class WriteBenchmark {

    /** A new, empty image for each measurement, in a scratch directory of its own. */
    abstract static class NewImage {
        Path dir;
        QedImage image;

        void open(long size, boolean preallocate) throws IOException {
            dir = BenchFiles.newDir("qed-write");
            image = create(dir, size, preallocate);
        }

        void close() throws IOException {
            image.close();
            BenchFiles.deleteTree(dir);
        }
    }

    /** A new, empty image of {@code size} bytes for each measurement. */
    @State(Scope.Thread)
    public static class NewQed extends NewImage {
        @Param("1073741824")
        public long size;

        @Setup(Level.Iteration)
        public void setUp() throws IOException {
            open(size, true);
        }

        @TearDown(Level.Iteration)
        public void tearDown() throws IOException {
            close();
        }
    }

    /**
     * As {@link NewQed}, with the engine's preallocation past the end of the file turned off (system property
     * {@code qednio.preallocate=false} while the image is created): what the engine costs without it, as on
     * Java 17, where there is none.
     */
    @State(Scope.Thread)
    public static class NewQedWithoutPreallocation extends NewImage {
        @Param("1073741824")
        public long size;

        @Setup(Level.Iteration)
        public void setUp() throws IOException {
            open(size, false);
        }

        @TearDown(Level.Iteration)
        public void tearDown() throws IOException {
            close();
        }
    }

    private static QedImage create(Path dir, long size, boolean preallocate) throws IOException {
        String old = preallocate ? null : System.setProperty("qednio.preallocate", "false");
        try {
            return QedImage.create(dir.resolve("new.qed"), CreateOptions.ofSize(size));
        } finally {
            if (!preallocate) {
                if (old == null) {
                    System.clearProperty("qednio.preallocate");
                } else {
                    System.setProperty("qednio.preallocate", old);
                }
            }
        }
    }

    /** A new, empty raw file for each measurement. */
    @State(Scope.Thread)
    public static class NewRaw {
        @Param("1073741824")
        public long size;
        Path dir;
        FileChannel channel;

        @Setup(Level.Iteration)
        public void setUp() throws IOException {
            dir = BenchFiles.newDir("raw-write");
            channel = FileChannel.open(dir.resolve("new.raw"), StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE);
        }

        @TearDown(Level.Iteration)
        public void tearDown() throws IOException {
            channel.force(true);
            channel.close();
            BenchFiles.deleteTree(dir);
        }
    }

    /** Data and, for the random workload, a quarter of the image's 64 KiB clusters in random order. */
    @State(Scope.Thread)
    public static class Requests {
        @Param("1073741824")
        public long size;
        final ByteBuffer big = BenchFiles.data(BenchFiles.KIB64, 5);
        final ByteBuffer small = BenchFiles.data(BenchFiles.KIB4, 6);
        long[] offsets;

        @Setup(Level.Trial)
        public void setUp() {
            long clusters = size / BenchFiles.KIB64;
            long[] picked = BenchFiles.distinctClusters(clusters, (int) Math.max(1, clusters / 4), 7);
            offsets = new long[picked.length];
            for (int i = 0; i < picked.length; i++) {
                // A 4 KiB block somewhere inside the cluster, so the rest must be filled with zeros.
                offsets[i] = picked[i] * BenchFiles.KIB64 + (picked[i] % 16) * BenchFiles.KIB4;
            }
        }
    }

    @Benchmark
    public long seqAllocWrite64kQed(NewQed q, Requests r) throws IOException {
        return sequentialPass(q.image, q.size, r.big);
    }

    @Benchmark
    public long seqAllocWrite64kQedWithoutPreallocation(NewQedWithoutPreallocation q, Requests r) throws IOException {
        return sequentialPass(q.image, q.size, r.big);
    }

    private static long sequentialPass(QedImage image, long size, ByteBuffer big) throws IOException {
        long n = 0;
        for (long pos = 0; pos < size; pos += BenchFiles.KIB64) {
            n += image.write(big.clear(), pos);
        }
        return n;
    }

    @Benchmark
    public long seqWrite64kRaw(NewRaw f, Requests r) throws IOException {
        long n = 0;
        for (long pos = 0; pos < f.size; pos += BenchFiles.KIB64) {
            n += f.channel.write(r.big.clear(), pos);
        }
        return n;
    }

    /** Workload 4: 4 KiB writes, each into a cluster of its own (size / 256 KiB writes). */
    @Benchmark
    public long randAllocWrite4kQed(NewQed q, Requests r) throws IOException {
        long n = 0;
        for (long off : r.offsets) {
            n += q.image.write(r.small.clear(), off);
        }
        return n;
    }

    @Benchmark
    public long randWrite4kRawNewFile(NewRaw f, Requests r) throws IOException {
        long n = 0;
        for (long off : r.offsets) {
            n += f.channel.write(r.small.clear(), off);
        }
        return n;
    }
}
