package io.github.qednio.bench;

import io.github.qednio.image.CacheMode;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.ops.ImageConverter;
import io.github.qednio.image.ImageFormat;
import java.io.IOException;
import java.nio.file.Files;
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
 * Workload 6 of issue 6: converting a raw file that is half zeros to QED, with {@code qed convert}'s converter and
 * with {@code qemu-img convert -O qed}, each with its default cache mode (unsafe: no sync) and with
 * {@code -t writeback} (synced at the end).
 */
@BenchmarkMode(Mode.SingleShotTime)
@Warmup(iterations = 4)
@Measurement(iterations = 3)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
public class ConvertBenchmark {
    @Param("1073741824")
    public long size;
    Path dir;
    Path source;
    Path target;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        dir = BenchFiles.newDir("convert");
        source = BenchFiles.halfZeroRaw(dir, "half.raw", size);
        target = dir.resolve("out.qed");
    }

    /**
     * Writes out every dirty page of the machine before each conversion (outside the measurement): this class runs
     * first in a round, right after the previous round's large writes, and a conversion timed while the kernel is
     * still flushing those ran up to 2x slower; whichever variant came first in the fork paid for it.
     */
    @Setup(Level.Iteration)
    public void settle() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("sync").redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        p.waitFor();
    }

    @TearDown(Level.Iteration)
    public void removeTarget() throws IOException {
        Files.deleteIfExists(target);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        BenchFiles.deleteTree(dir);
    }

    /** {@code qed convert -O qed}: like qemu-img, cache=unsafe by default (no sync). */
    @Benchmark
    public long convertQedNio() throws IOException {
        return ImageConverter.convert(source, ImageFormat.RAW, target, ImageFormat.QED, CreateOptions.ofSize(0))
                .bytesWritten();
    }

    /** {@code qed convert -t writeback -O qed}: synced at the end. */
    @Benchmark
    public long convertQedNioWriteback() throws IOException {
        return ImageConverter.convert(source, ImageFormat.RAW, target, ImageFormat.QED, CreateOptions.ofSize(0),
                CacheMode.WRITEBACK).bytesWritten();
    }

    /** {@code qemu-img convert -O qed} as people run it: its default cache mode for convert is "unsafe" (no sync). */
    @Benchmark
    public int convertQemuImg() throws IOException, InterruptedException {
        return qemuImg("convert", "-f", "raw", "-O", "qed", source.toString(), target.toString());
    }

    /** The same with {@code -t writeback}: flushed at the end. */
    @Benchmark
    public int convertQemuImgWriteback() throws IOException, InterruptedException {
        return qemuImg("convert", "-t", "writeback", "-f", "raw", "-O", "qed", source.toString(), target.toString());
    }

    private static int qemuImg(String... args) throws IOException, InterruptedException {
        java.util.List<String> cmd = new java.util.ArrayList<>();
        cmd.add("qemu-img");
        cmd.addAll(java.util.List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        int rc = p.waitFor();
        if (rc != 0) {
            throw new IOException(String.join(" ", cmd) + " exited with " + rc);
        }
        return rc;
    }
}
