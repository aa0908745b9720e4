package io.github.qednio.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs every JMH benchmark once with tiny files, in this JVM, so that the benchmark code keeps compiling and
 * working in CI. It asserts that each benchmark ran, never how fast.
 *
 * <p>It ignores JMH's machine-wide lock ({@code java.io.tmpdir/jmh.lock}): the lock keeps measurements apart, this
 * run measures nothing, and another JMH run on the machine holding the lock must not fail the build.
 */
class BenchmarkSmokeTest {
    @TempDir
    Path dir;

    @Test
    void everyBenchmarkRunsOnceWithTinyFiles() throws Exception {
        boolean qemu = qemuImgAvailable();
        if (!qemu && Boolean.getBoolean("qed.requireQemu")) {
            throw new AssertionError("qemu-img is not on the PATH and qed.requireQemu=true");
        }
        // Read once, when JMH's Runner class initialises; the POM sets it for the whole test JVM as well.
        System.setProperty("jmh.ignoreLock", "true");
        String previous = System.getProperty("bench.dir");
        System.setProperty("bench.dir", dir.toString());
        try {
            OptionsBuilder builder = new OptionsBuilder();
            if (!qemu) {
                builder.exclude(".*\\.convertQemuImg.*"); // without qemu-img only its two benchmarks are skipped
            }
            Options opts = builder
                    .include("io\\.github\\.qednio\\.bench\\..*")
                    .forks(0)
                    .warmupIterations(0)
                    .measurementIterations(1)
                    .measurementTime(TimeValue.milliseconds(20))
                    .timeUnit(TimeUnit.MILLISECONDS)
                    .param("size", String.valueOf(4 << 20))
                    .param("clusters", "8")
                    .shouldFailOnError(true)
                    .verbosity(org.openjdk.jmh.runner.options.VerboseMode.SILENT)
                    .build();
            Collection<RunResult> results = new Runner(opts).run();
            List<String> expected = new ArrayList<>(List.of("seqRead64kQed", "seqRead64kRaw", "randRead4kQed",
                    "randRead4kRaw", "randRead4kQed4Threads", "randRead4kQedFs", "randRead4kQedFs4Threads",
                    "rewrite4kQed", "rewrite4kRaw", "seqAllocWrite64kQed", "seqWrite64kRaw", "seqRead64kRaw4Threads",
                    "randAllocWrite4kQed", "randWrite4kRawNewFile", "convertQedNio", "convertQedNioWriteback",
                    "openQed", "openQedReadOnly", "openRawChannel", "unallocatedRead4k", "allocWrite64k",
                    "allocWrite4k"));
            if (qemu) {
                expected.addAll(List.of("convertQemuImg", "convertQemuImgWriteback"));
            }
            assertThat(results).extracting(r -> r.getParams().getBenchmark().replaceAll(".*\\.", ""))
                    .containsAll(expected);
            assertThat(results).allSatisfy(r -> assertThat(r.getPrimaryResult().getSampleCount()).isPositive());
        } finally {
            if (previous == null) {
                System.clearProperty("bench.dir");
            } else {
                System.setProperty("bench.dir", previous);
            }
        }
        try (var left = java.nio.file.Files.list(dir)) {
            // Only the shared read files stay (the script removes its scratch directory; JUnit removes this one).
            assertThat(left.map(p -> p.getFileName().toString())).allMatch(n -> n.startsWith("shared-full-"));
        }
    }

    private static boolean qemuImgAvailable() {
        try {
            Process p = new ProcessBuilder("qemu-img", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (Exception e) {
            return false;
        }
    }
}
