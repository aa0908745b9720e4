package io.github.qednio.bench;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
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
 * Workload 7 of issue 6: opening a 64 TiB sparse image with scattered clusters (each in its own L2 table), next to
 * opening the same file as a plain FileChannel. The heap an open image keeps is measured by {@link OpenFootprint}.
 */
@BenchmarkMode(Mode.AverageTime)
@Warmup(iterations = 1)
@Measurement(iterations = 2)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
public class OpenBenchmark {
    @Param("70368744177664")
    public long virtualSize;
    @Param("1000")
    public int clusters;
    Path dir;
    Path image;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = BenchFiles.newDir("open");
        image = scatteredImage(dir, virtualSize, clusters);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        BenchFiles.deleteTree(dir);
    }

    /** An image of {@code virtualSize} bytes with {@code clusters} 4 KiB writes spread evenly over it. */
    static Path scatteredImage(Path dir, long virtualSize, int clusters) throws IOException {
        Path file = dir.resolve("sparse.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(virtualSize))) {
            ByteBuffer data = BenchFiles.data(BenchFiles.KIB4, 8);
            long stride = virtualSize / clusters / BenchFiles.KIB64 * BenchFiles.KIB64;
            for (int i = 0; i < clusters; i++) {
                img.write(data.clear(), i * stride + (i % 7) * BenchFiles.KIB4);
            }
        }
        return file;
    }

    /** Read-write open (what the CLI and the file system do) and close of a clean image. */
    @Benchmark
    public long openQed() throws IOException {
        try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
            return img.size();
        }
    }

    @Benchmark
    public long openQedReadOnly() throws IOException {
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            return img.size();
        }
    }

    @Benchmark
    public long openRawChannel() throws IOException {
        try (FileChannel ch = FileChannel.open(image)) {
            return ch.size();
        }
    }
}
