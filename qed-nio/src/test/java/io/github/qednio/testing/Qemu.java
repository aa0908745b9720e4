package io.github.qednio.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs the real QEMU tools ({@code qemu-img}, {@code qemu-io}) for interop tests. Never a mock.
 *
 * <p>Interop tests call {@link #assumeAvailable()} first: without QEMU on the PATH they are skipped, unless the
 * system property {@code qed.requireQemu} is true (CI sets it), in which case the skip becomes a failure. Pure-Java
 * tests with QEMU cross-checks (crash, fault injection, fuzz, concurrency, process kill) run without QEMU and guard
 * only the cross-checks with {@link #crossChecks()}; such a test is then reported as skipped, not as passed
 * ({@link SkippedCrossChecks}).
 */
public final class Qemu {
    /**
     * Runs each stream drain on a thread of its own: the common pool has one thread on a two-core machine, so a tool
     * that fills its stderr pipe while stdout is drained would block forever.
     */
    private static final java.util.concurrent.Executor OWN_THREAD = task -> {
        Thread t = new Thread(task, "process-output");
        t.setDaemon(true);
        t.start();
    };

    static final String MISSING = "qemu-img/qemu-io are not on the PATH";
    private static final boolean AVAILABLE = probe();

    private Qemu() {
    }

    /** The outcome of one tool run. */
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        /** Asserts exit code 0 and returns this. */
        public Result assertSuccess() {
            assertThat(exitCode).as("%s\nstdout: %s\nstderr: %s", command, stdout, stderr).isZero();
            return this;
        }
    }

    /**
     * Whether QEMU's tools are on the PATH. Not for guarding assertions: a test whose checks sit behind it passes
     * without them; use {@link #assumeAvailable()} or {@link #crossChecks()}, which report the skip.
     */
    public static boolean available() {
        return AVAILABLE;
    }

    /** Skips the calling test without QEMU, or fails it when {@code -Dqed.requireQemu=true}. */
    public static void assumeAvailable() {
        if (AVAILABLE) {
            return;
        }
        assumeAvailableOrFail();
        Assumptions.abort(MISSING + "; interop test skipped");
    }

    /**
     * For a test whose pure-Java part runs without QEMU: whether its QEMU cross-checks can run too. Without QEMU it
     * returns false (the caller skips only the cross-checks, and the test is reported as skipped when it ends), or
     * fails when {@code -Dqed.requireQemu=true}.
     */
    public static boolean crossChecks() {
        if (!AVAILABLE) {
            assumeAvailableOrFail();
            SkippedCrossChecks.skipping();
        }
        return AVAILABLE;
    }

    private static void assumeAvailableOrFail() {
        if (Boolean.getBoolean("qed.requireQemu")) {
            Assertions.fail(MISSING + ", and qed.requireQemu=true forbids skipping"
                    + " interop tests (install qemu-utils)");
        }
    }

    /** Runs {@code qemu-img args...}. */
    public static Result img(String... args) {
        return run("qemu-img", args);
    }

    /** Runs {@code qemu-io args...}. */
    public static Result io(String... args) {
        return run("qemu-io", args);
    }

    /** Runs {@code qemu-io -f format -c command ... image} and asserts that it succeeded. */
    public static Result ioCommands(java.nio.file.Path image, String format, String... commands) {
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("-f", format));
        for (String c : commands) {
            args.add("-c");
            args.add(c);
        }
        args.add(image.toString());
        return io(args.toArray(String[]::new)).assertSuccess();
    }

    /** {@code qemu-img check -f qed}: asserts no corruptions and no leaks beyond QEMU's phantom ones (§11.4). */
    public static void assertCheckClean(Path image) {
        Result r = img("check", "-f", "qed", "--output=json", image.toString());
        assertThat(r.exitCode()).as("qemu-img check %s: %s %s", image, r.stdout(), r.stderr()).isIn(0, 3);
        assertThat(jsonLong(r.stdout(), "corruptions")).as("corruptions in %s", r.stdout()).isZero();
        assertThat(jsonLong(r.stdout(), "check-errors")).as("check errors in %s", r.stdout()).isZero();
        assertThat(jsonLong(r.stdout(), "leaks")).as("leaks in %s", r.stdout()).isEqualTo(phantomLeaks(image));
    }

    /**
     * Leaks QEMU 7.2 reports on a clean image because it converts offsets to cluster indices with
     * {@code / (cs - 1)} (notes §11.4): {@code floor(N / (cs - 1))} for N clusters in the file.
     */
    public static long phantomLeaks(Path image) {
        try {
            long cs = Integer.toUnsignedLong(Integer.reverseBytes(readInt(image, 4)));
            long n = Files.size(image) / cs;
            return n / (cs - 1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int readInt(Path file, long offset) throws IOException {
        try (var ch = java.nio.channels.FileChannel.open(file)) {
            var b = java.nio.ByteBuffer.allocate(4);
            ch.read(b, offset);
            return b.flip().getInt();
        }
    }

    /** {@code qemu-img compare}: asserts the QED image and the raw file have identical guest content. */
    public static void assertIdentical(Path qed, Path raw) {
        Result r = img("compare", "-f", "qed", "-F", "raw", qed.toString(), raw.toString());
        assertThat(r.exitCode()).as("qemu-img compare %s %s: %s %s", qed, raw, r.stdout(), r.stderr()).isZero();
    }

    /** The image's guest content as {@code qemu-img convert -O raw} gives it, in a file next to {@code out}. */
    public static Path convertToRaw(Path image, Path out) {
        img("convert", "-O", "raw", image.toString(), out.toString()).assertSuccess();
        return out;
    }

    /** Extracts a numeric field from qemu-img's flat JSON output (0 if absent, as qemu-img omits zeros). */
    public static long jsonLong(String json, String key) {
        var m = java.util.regex.Pattern.compile("\"" + java.util.regex.Pattern.quote(key) + "\"\\s*:\\s*(-?\\d+)")
                .matcher(json);
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    private static Result run(String tool, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(tool);
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.PIPE).start();
            p.getOutputStream().close();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> drain(p.getInputStream()), OWN_THREAD);
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(p.getErrorStream()), OWN_THREAD);
            if (!p.waitFor(5, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                Assertions.fail(cmd + " did not finish within 5 minutes");
            }
            return new Result(cmd, p.exitValue(), out.join(), err.join());
        } catch (IOException e) {
            throw new UncheckedIOException("could not run " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static String drain(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    private static boolean probe() {
        try {
            Process p = new ProcessBuilder("qemu-img", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
