package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code qed} as a user runs it: {@link QedCli#main} in a new JVM (so {@code System.exit} sets the process's exit
 * code), with this JVM's class path, standard input closed and no terminal. No logging configuration is passed: the
 * tool's own default applies.
 */
final class MainRunner {
    /**
     * Runs each stream drain on a thread of its own: the common pool has one thread on a two-core machine, so a tool
     * that fills its stderr pipe while stdout is drained would block forever.
     */
    private static final java.util.concurrent.Executor OWN_THREAD = task -> {
        Thread t = new Thread(task, "process-output");
        t.setDaemon(true);
        t.start();
    };

    private MainRunner() {
    }

    static Run run(String... args) throws IOException, InterruptedException {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx128m", "-Xshare:auto",
                "-cp", classPath, QedCli.class.getName()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> drain(p.getInputStream()), OWN_THREAD);
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(p.getErrorStream()), OWN_THREAD);
        assertThat(p.waitFor(2, TimeUnit.MINUTES)).as("%s finished", cmd).isTrue();
        return new Run(p.exitValue(), out.join(), err.join());
    }

    private static String drain(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
