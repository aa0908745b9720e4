package io.github.qednio.examples;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/** Runs the real qemu-img / qemu-io for the CLI's interop tests (never a mock). */
final class QemuTool {
    private static final boolean AVAILABLE = probe();

    private QemuTool() {
    }

    record Result(int exitCode, String stdout, String stderr) {
        Result assertSuccess() {
            Assertions.assertEquals(0, exitCode, () -> "stdout: " + stdout + "\nstderr: " + stderr);
            return this;
        }
    }

    /** Skips without QEMU, or fails when {@code -Dqed.requireQemu=true} (as CI runs). */
    static void assumeAvailable() {
        if (AVAILABLE) {
            return;
        }
        if (Boolean.getBoolean("qed.requireQemu")) {
            Assertions.fail("qemu-img/qemu-io are not on the PATH and qed.requireQemu=true");
        }
        Assumptions.abort("qemu-img/qemu-io are not on the PATH; interop test skipped");
    }

    static Result img(String... args) {
        return run("qemu-img", args);
    }

    static Result io(String... args) {
        return run("qemu-io", args);
    }

    static Result run(String tool, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(tool);
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).start();
            p.getOutputStream().close();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> drain(p.getInputStream()));
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(p.getErrorStream()));
            if (!p.waitFor(5, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                Assertions.fail(cmd + " did not finish within 5 minutes");
            }
            return new Result(p.exitValue(), out.join(), err.join());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
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
