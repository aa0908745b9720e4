package io.github.qednio.bench;

import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
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
 * Workloads 1, 2, 4 (in-place rewrites) and 8 of issue 6, each next to its raw-file baseline: reads and in-place
 * writes on a fully allocated image (page cache warm), one operation per request. The image and the raw file are
 * made once per run and shared by all forks ({@link BenchFiles#shared}).
 */
@BenchmarkMode(Mode.Throughput)
@Warmup(iterations = 1)
@Measurement(iterations = 2)
@OutputTimeUnit(TimeUnit.SECONDS)
public class ReadBenchmark {

    /** A fully allocated QED image, opened read-write (in-place rewrites never allocate). */
    @State(Scope.Benchmark)
    public static class QedDisk {
        @Param("1073741824")
        public long size;
        QedImage image;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            image = QedImage.open(BenchFiles.shared("qed", size), OpenOptions.defaults());
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            image.close();
        }
    }

    /** A raw file with the same bytes. */
    @State(Scope.Benchmark)
    public static class RawDisk {
        @Param("1073741824")
        public long size;
        FileChannel channel;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            channel = FileChannel.open(BenchFiles.shared("raw", size), StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            channel.close();
        }
    }

    /** The same image as a read-only {@code qed:} file system. */
    @State(Scope.Benchmark)
    public static class QedFs {
        @Param("1073741824")
        public long size;
        FileSystem fs;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            Path image = BenchFiles.shared("qed", size);
            fs = FileSystems.newFileSystem(URI.create("qed:" + image.toUri()), Map.of("readOnly", "true"));
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            fs.close();
        }
    }

    /** Each thread's own channel on the {@code qed:} disk (workload 8: "separate channels"). */
    @State(Scope.Thread)
    public static class FsChannel {
        FileChannel channel;

        @Setup(Level.Trial)
        public void setUp(QedFs fs) throws IOException {
            channel = FileChannel.open(fs.fs.getPath("/disk"), StandardOpenOption.READ);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            channel.close();
        }
    }

    /** Per-thread buffers and positions. */
    @State(Scope.Thread)
    public static class Cursor {
        final ByteBuffer big = BenchFiles.data(BenchFiles.KIB64, 3);
        final ByteBuffer small = BenchFiles.data(BenchFiles.KIB4, 4);
        final SplittableRandom random = new SplittableRandom(Thread.currentThread().getId() * 0x9E3779B97F4A7C15L);
        long next;

        /** The next 64 KiB request of a sequential pass, wrapping at the end. */
        long nextSequential(long size) {
            long p = next;
            next = p + BenchFiles.KIB64 >= size ? 0 : p + BenchFiles.KIB64;
            return p;
        }

        /** A random 4 KiB-aligned offset. */
        long nextRandom(long size) {
            return random.nextLong(size / BenchFiles.KIB4) * BenchFiles.KIB4;
        }
    }

    @Benchmark
    public int seqRead64kQed(QedDisk d, Cursor c) throws IOException {
        return d.image.read(c.big.clear(), c.nextSequential(d.size));
    }

    @Benchmark
    public int seqRead64kRaw(RawDisk d, Cursor c) throws IOException {
        return d.channel.read(c.big.clear(), c.nextSequential(d.size));
    }

    @Benchmark
    public int randRead4kQed(QedDisk d, Cursor c) throws IOException {
        return d.image.read(c.small.clear(), c.nextRandom(d.size));
    }

    @Benchmark
    public int randRead4kRaw(RawDisk d, Cursor c) throws IOException {
        return d.channel.read(c.small.clear(), c.nextRandom(d.size));
    }

    /** Workload 8: four threads on one image (one engine, as all channels of a {@code qed:} disk share). */
    @Benchmark
    @Threads(4)
    public int randRead4kQed4Threads(QedDisk d, Cursor c) throws IOException {
        return d.image.read(c.small.clear(), c.nextRandom(d.size));
    }

    /** Workload 8 as the issue states it: through the {@code qed:} file system, one channel per thread. */
    @Benchmark
    public int randRead4kQedFs(QedFs d, FsChannel ch, Cursor c) throws IOException {
        return ch.channel.read(c.small.clear(), c.nextRandom(d.size));
    }

    @Benchmark
    @Threads(4)
    public int randRead4kQedFs4Threads(QedFs d, FsChannel ch, Cursor c) throws IOException {
        return ch.channel.read(c.small.clear(), c.nextRandom(d.size));
    }

    @Benchmark
    @Threads(4)
    public int randRead4kRaw4Threads(RawDisk d, Cursor c) throws IOException {
        return d.channel.read(c.small.clear(), c.nextRandom(d.size));
    }

    /** Workload 8 with 64 KiB sequential streams (each thread its own pass). */
    @Benchmark
    @Threads(4)
    public int seqRead64kQed4Threads(QedDisk d, Cursor c) throws IOException {
        return d.image.read(c.big.clear(), c.nextSequential(d.size));
    }

    @Benchmark
    @Threads(4)
    public int seqRead64kRaw4Threads(RawDisk d, Cursor c) throws IOException {
        return d.channel.read(c.big.clear(), c.nextSequential(d.size));
    }

    @Benchmark
    public int rewrite4kQed(QedDisk d, Cursor c) throws IOException {
        return d.image.write(c.small.clear(), c.nextRandom(d.size));
    }

    @Benchmark
    public int rewrite4kRaw(RawDisk d, Cursor c) throws IOException {
        return d.channel.write(c.small.clear(), c.nextRandom(d.size));
    }
}
