package io.github.qednio.internal.qed;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Starts a test class's {@code main} in a new JVM with this JVM's class path. */
public final class ChildJvm {
    private ChildJvm() {
    }

    public static Process start(Class<?> main, String... args) throws IOException {
        return start(List.of(), main, args);
    }

    /** As {@link #start(Class, String...)}, with extra JVM options after the defaults (a later -Xmx wins). */
    public static Process start(List<String> jvmOptions, Class<?> main, String... args) throws IOException {
        return builder(jvmOptions, main, args).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** As {@link #start(List, Class, String...)}, with standard error piped to this JVM ({@code getErrorStream}). */
    public static Process startWithStderr(List<String> jvmOptions, Class<?> main, String... args) throws IOException {
        return builder(jvmOptions, main, args).start();
    }

    private static ProcessBuilder builder(List<String> jvmOptions, Class<?> main, String... args) {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx128m",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", classPath, main.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd);
    }

    public static BufferedReader stdout(Process p) {
        return new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    }

    /** Reads {@code out} until a line contains {@code expected}; fails with everything seen if it ends first. */
    public static void awaitLine(BufferedReader out, String expected) throws IOException {
        StringBuilder seen = new StringBuilder();
        String line;
        while ((line = out.readLine()) != null) {
            seen.append(line).append('\n');
            if (line.contains(expected)) {
                return;
            }
        }
        throw new AssertionError("the process ended without printing '" + expected + "':\n" + seen);
    }
}
