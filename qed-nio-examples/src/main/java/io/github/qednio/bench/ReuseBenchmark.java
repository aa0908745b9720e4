package io.github.qednio.bench;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Issue 12: allocation from reused (discarded) clusters against allocation at the end of the file. Both images
 * hold {@code size} bytes of data followed by one more cluster; with {@code allocation=reused} the data was
 * discarded and flushed, so every allocation takes a freed cluster in the middle of the file; with {@code atEnd}
 * it was not, so every allocation appends. Each measurement writes the same requests to new guest positions and
 * flushes (the flush is inside: a reused cluster's data is forced before its entry is written, which is part of its
 * cost).
 */
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class ReuseBenchmark {

    /** The image before a measurement: {@code size} bytes of data, then one more cluster. */
    static final class Prepared {
        final Path dir;
        final QedImage image;

        Prepared(long size, boolean discard) throws IOException {
            dir = BenchFiles.newDir("qed-reuse");
            image = QedImage.create(dir.resolve("reuse.qed"), CreateOptions.ofSize(4 * size));
            ByteBuffer data = BenchFiles.data(BenchFiles.KIB64, 9);
            for (long pos = 0; pos <= size; pos += BenchFiles.KIB64) {
                image.write(data.clear(), pos); // the last cluster keeps the freed ones inside the file
            }
            if (discard) {
                image.discard(0, size);
            }
            image.flush();
        }

        void close() throws IOException {
            image.close();
            BenchFiles.deleteTree(dir);
        }
    }

    /**
     * The image before a measurement: {@code reused}, every allocation takes a discarded cluster; {@code atEnd},
     * every allocation appends at the end of the file.
     */
    @State(Scope.Thread)
    public static class Image {
        @Param("268435456")
        public long size;
        @Param({"reused", "atEnd"})
        public String allocation;
        Prepared p;

        @Setup(Level.Iteration)
        public void setUp() throws IOException {
            p = new Prepared(size, allocation.equals("reused"));
        }

        @TearDown(Level.Iteration)
        public void tearDown() throws IOException {
            p.close();
        }
    }

    /** The requests: whole 64 KiB clusters, or 4 KiB into a cluster of its own. */
    @State(Scope.Thread)
    public static class Requests {
        final ByteBuffer big = BenchFiles.data(BenchFiles.KIB64, 5);
        final ByteBuffer small = BenchFiles.data(BenchFiles.KIB4, 6);
    }

    private static long writeAll(QedImage image, long size, ByteBuffer buf) throws IOException {
        long n = 0;
        for (long pos = 2 * size; pos < 3 * size; pos += BenchFiles.KIB64) {
            n += image.write(buf.clear(), pos);
        }
        image.flush();
        return n;
    }

    @Benchmark
    public long allocWrite64k(Image q, Requests r) throws IOException {
        return writeAll(q.p.image, q.size, r.big);
    }

    /** A partial write into a reused cluster must write the rest of it with zeros; at the end it stays a hole. */
    @Benchmark
    public long allocWrite4k(Image q, Requests r) throws IOException {
        return writeAll(q.p.image, q.size, r.small);
    }
}
