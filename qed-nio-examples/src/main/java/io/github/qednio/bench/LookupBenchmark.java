package io.github.qednio.bench;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.SplittableRandom;
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
import org.openjdk.jmh.annotations.Threads;

/**
 * The engine's per-request overhead without any file I/O: 4 KiB reads of unallocated clusters in an allocated L2
 * table (L1 and L2 lookups through the cache, then a zero fill), with one and with two threads. Not a workload of
 * issue 6; it isolates the lookup fast path that every read and write goes through, so that its cost and its
 * scaling show even on a machine whose disk or spare cores are busy.
 */
@BenchmarkMode(Mode.Throughput)
@Warmup(iterations = 1)
@Measurement(iterations = 2)
@OutputTimeUnit(TimeUnit.SECONDS)
public class LookupBenchmark {

    /** An image with one cluster written, so that the first L2 table exists and the rest of it is unallocated. */
    @State(Scope.Benchmark)
    public static class SparseImage {
        @Param("1073741824")
        public long size;
        Path dir;
        QedImage image;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            dir = BenchFiles.newDir("lookup");
            image = QedImage.create(dir.resolve("sparse.qed"), CreateOptions.ofSize(size));
            image.write(BenchFiles.data(BenchFiles.KIB64, 9), 0);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            image.close();
            BenchFiles.deleteTree(dir);
        }
    }

    /** Per-thread buffer and random source. */
    @State(Scope.Thread)
    public static class Cursor {
        final ByteBuffer buf = ByteBuffer.allocateDirect(BenchFiles.KIB4);
        final SplittableRandom random = new SplittableRandom(Thread.currentThread().getId() * 0x9E3779B97F4A7C15L);
    }

    @Benchmark
    public int unallocatedRead4k(SparseImage s, Cursor c) throws IOException {
        long pos = BenchFiles.KIB64 + c.random.nextLong((s.size - BenchFiles.KIB64) / BenchFiles.KIB4) * BenchFiles.KIB4;
        return s.image.read(c.buf.clear(), pos);
    }

    @Benchmark
    @Threads(2)
    public int unallocatedRead4k2Threads(SparseImage s, Cursor c) throws IOException {
        long pos = BenchFiles.KIB64 + c.random.nextLong((s.size - BenchFiles.KIB64) / BenchFiles.KIB4) * BenchFiles.KIB4;
        return s.image.read(c.buf.clear(), pos);
    }
}
