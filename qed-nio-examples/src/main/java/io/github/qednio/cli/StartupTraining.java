package io.github.qednio.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The training run of the {@code qed} launcher's start-up cache (target/qed; docs/PERFORMANCE.md, start-up): runs
 * the everyday commands once each, in one JVM, on a small image it makes and removes, with their output thrown away,
 * so that the JVM that writes the cache (JDK 17: {@code -XX:ArchiveClassesAtExit}; JDK 25: {@code -XX:AOTCacheOutput})
 * has loaded, linked and run the classes those commands need. A class the training did not load still loads from the
 * jar as before: the cache changes how fast a command starts, never what it does.
 *
 * <p>The launcher runs {@code java -Dqed.startupTraining=true -jar qed.jar} (the same jar, class path and JVM options
 * as a command, which a cache needs to be used); {@link QedCli#main} hands such a run to {@link #run()}.
 */
final class StartupTraining {
    private StartupTraining() {
    }

    /** Runs the commands; returns 0 when each exited with the code it should (the launcher logs a failure). */
    static int run() {
        try {
            return runIn(Files.createTempDirectory("qed-startup-training"));
        } catch (IOException e) {
            System.err.println("qed start-up training: " + QedCli.describe(e));
            return 1;
        }
    }

    private static int runIn(Path dir) throws IOException {
        try {
            String image = dir.resolve("training.qed").toString();
            String copy = dir.resolve("copy.qed").toString();
            String raw = dir.resolve("copy.raw").toString();
            String missing = dir.resolve("missing.qed").toString();
            List<List<String>> commands = List.of(
                    List.of("--version"),
                    List.of("--help"),
                    List.of("info", "--help"),
                    List.of("create", "-f", "qed", image, "64M"),
                    List.of("io", "-c", "write -P 0x5a 0 1M", "-c", "write 10M 64k", "-c", "read -P 0x5a 0 64k",
                            image),
                    List.of("info", image),
                    List.of("info", "--output=json", image),
                    List.of("check", image),
                    List.of("check", "--output=json", image),
                    List.of("map", image),
                    List.of("map", "--output=json", image),
                    List.of("measure", "-O", "qed", image),
                    List.of("convert", "-O", "qed", image, copy),
                    List.of("convert", "-O", "raw", image, raw),
                    List.of("compare", image, copy),
                    List.of("info", missing));
            int failures = 0;
            for (List<String> command : commands) {
                int expected = command.contains(missing) ? 1 : 0;
                int code = QedCli.run(command.toArray(String[]::new), discard(), discard());
                if (code != expected) {
                    System.err.println("qed start-up training: " + command + " exited with " + code + ", expected "
                            + expected);
                    failures++;
                }
            }
            return failures == 0 ? 0 : 1;
        } finally {
            deleteTree(dir);
        }
    }

    private static PrintWriter discard() {
        return new PrintWriter(Writer.nullWriter());
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
