package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The start-up shortcuts of the {@code qed} launcher (target/qed, made by the package phase) change nothing but the
 * time: every command run as a process prints the same and exits with the same code with the launcher's start-up
 * cache and without it, a stale, damaged or missing cache is ignored, and JDK 17 and JDK 25 print the same apart
 * from {@code --version}'s native-feature lines. Run against each JDK found among this JVM's and the usual
 * installation directory's (a second JDK missing skips only the comparison between JDKs).
 */
class LauncherIT {
    /**
     * Runs each stream drain on a thread of its own: the common pool has one thread on a two-core machine, so a tool
     * that fills its stderr pipe while stdout is drained would block forever.
     */
    private static final java.util.concurrent.Executor OWN_THREAD = task -> {
        Thread t = new Thread(task, "process-output");
        t.setDaemon(true);
        t.start();
    };

    @TempDir
    static Path shared;

    private static Path image;

    @BeforeAll
    static void makeImage() throws Exception {
        image = shared.resolve("small.qed");
        Run create = plain(thisJdk(), "create", "-f", "qed", image.toString(), "64M");
        assertThat(create.code()).as(create.err()).isZero();
        Run io = plain(thisJdk(), "io", "-c", "write -P 0x5a 0 1M", "-c", "write -P 0x33 10M 64k", image.toString());
        assertThat(io.code()).as(io.err()).isZero();
    }

    /** The commands whose output is compared: everyday ones, help, and the error paths. */
    private static List<List<String>> commands(Path scratch) {
        String img = image.toString();
        return List.of(
                List.of("--version"),
                List.of("--help"),
                List.of("help", "map"),
                List.of("info", "--help"),
                List.of("info", img),
                List.of("info", "--output=json", img),
                List.of("check", img),
                List.of("check", "--output=json", img),
                List.of("map", img),
                List.of("map", "--output=json", img),
                List.of("--debug", "map", img),
                List.of("measure", "-O", "qed", img),
                List.of("compare", img, img),
                List.of("convert", "-O", "raw", img, scratch.resolve("out.raw").toString()),
                List.of("info", scratch.resolve("missing.qed").toString()),
                List.of("info"),
                List.of("nosuchcommand"),
                List.of());
    }

    static Stream<Path> jdks() {
        return installedJdks().values().stream();
    }

    @ParameterizedTest
    @MethodSource("jdks")
    void everyCommandPrintsTheSameWithTheStartUpCacheAsWithout(Path jdk, @TempDir Path dir) throws Exception {
        Path cacheDir = dir.resolve("cache");
        Run created = launcher(jdk, Map.of("QED_CACHE", "create", "QED_CACHE_DIR", cacheDir.toString()));
        assertThat(created.code()).as(created.err()).isZero();
        assertThat(created.out()).isEmpty();
        assertThat(cacheFiles(cacheDir)).as("the cache the launcher made for %s", jdk).hasSize(1);

        for (List<String> command : commands(dir)) {
            Run without = launcher(jdk, Map.of("QED_CACHE", "off"), command);
            byte[] convertedWithout = convertedFile(dir);
            Run with = launcher(jdk, Map.of("QED_CACHE_DIR", cacheDir.toString()), command);
            assertThat(with).as("%s on %s with the cache", command, jdk).isEqualTo(without);
            assertThat(convertedFile(dir)).as("what %s wrote", command).isEqualTo(convertedWithout);
        }
        assertThat(classSource(jdk, Map.of("QED_CACHE_DIR", cacheDir.toString())))
                .as("QedCli came from the cache").contains("shared objects file");
        assertThat(classSource(jdk, Map.of("QED_CACHE", "off"))).contains("qed.jar");
    }

    @ParameterizedTest
    @MethodSource("jdks")
    void aMissingCacheIsMadeAStaleOrDamagedOneIsNeverUsed(Path jdk, @TempDir Path dir) throws Exception {
        // A copy of the launcher and jar whose jar can change: the cache lives beside it (qed-cache).
        Path install = Files.createDirectories(dir.resolve("install"));
        Path launcher = Files.copy(launcherPath(), install.resolve("qed"));
        Path jar = Files.copy(jarPath(), install.resolve("qed.jar"));
        Path cacheDir = install.resolve("qed-cache");
        List<String> info = List.of("info", image.toString());
        Run expected = launcher(launcher, jdk, Map.of("QED_CACHE", "off"), info);
        assertThat(expected.code()).as(expected.err()).isZero();

        // Missing: the first run makes it, and prints what a run without one prints.
        assertThat(launcher(launcher, jdk, Map.of(), info)).isEqualTo(expected);
        List<Path> made = cacheFiles(cacheDir);
        assertThat(made).hasSize(1);
        Path first = made.get(0);
        Path kept = Files.copy(first, dir.resolve("first-cache.kept"));
        assertThat(classSource(launcher, jdk, Map.of())).contains("shared objects file");

        // Stale: the jar rebuilt (other content and size), even with its old modification time back. The cache of
        // the old jar is not used (JDK 25 would serve its classes): a cache for the new jar replaces it.
        FileTime oldTime = Files.getLastModifiedTime(jar);
        rewriteJar(jar);
        Files.setLastModifiedTime(jar, oldTime);
        assertThat(launcher(launcher, jdk, Map.of(), info)).as("run after the jar changed").isEqualTo(expected);
        made = cacheFiles(cacheDir);
        assertThat(made).hasSize(1).doesNotContain(first);
        Path second = made.get(0);
        assertThat(classSource(launcher, jdk, Map.of())).contains("shared objects file");

        // The JVM's own check, behind the launcher's: the old jar's cache under the new jar's name. JDK 17 refuses
        // it and loads from the jar; the output is the same either way.
        Files.copy(kept, second, StandardCopyOption.REPLACE_EXISTING);
        assertThat(launcher(launcher, jdk, Map.of(), info)).as("run with the old jar's cache").isEqualTo(expected);
        if (feature(jdk) < 25) {
            assertThat(classSource(launcher, jdk, Map.of())).as("QedCli from the jar, not from a stale archive")
                    .contains("qed.jar");
        }

        // Damaged: random bytes in its place.
        byte[] junk = new byte[64 * 1024];
        new Random(42).nextBytes(junk);
        Files.delete(second); // the JVM writes it read-only
        Files.write(second, junk);
        assertThat(launcher(launcher, jdk, Map.of(), info)).as("run with a damaged cache").isEqualTo(expected);
        assertThat(classSource(launcher, jdk, Map.of())).contains("qed.jar");

        // A cache directory that cannot be made: no cache, same output.
        Path blocked = Files.writeString(dir.resolve("not-a-directory"), "x");
        assertThat(launcher(launcher, jdk, Map.of("QED_CACHE_DIR", blocked.resolve("cache").toString()), info))
                .as("run without a usable cache directory").isEqualTo(expected);
    }

    @Test
    void jdk17AndJdk25PrintTheSameApartFromTheNativeFeatureLinesOfVersion(@TempDir Path dir) throws Exception {
        Map<Integer, Path> jdks = installedJdks();
        Assumptions.assumeTrue(jdks.containsKey(17) && jdks.keySet().stream().anyMatch(f -> f >= 25),
                "needs JDK 17 and JDK 25+, found " + jdks.keySet());
        Path old = jdks.get(17);
        int newFeature = jdks.keySet().stream().filter(f -> f >= 25).findFirst().orElseThrow();
        Path current = jdks.get(newFeature);
        for (List<String> command : commands(dir)) {
            Run on17 = launcher(old, Map.of("QED_CACHE", "off"), command);
            byte[] converted17 = convertedFile(dir);
            Run onNew = launcher(current, Map.of("QED_CACHE", "off"), command);
            if (command.equals(List.of("--version"))) {
                List<String> lines17 = on17.out().lines().toList();
                List<String> linesNew = onNew.out().lines().toList();
                assertThat(linesNew.get(0)).isEqualTo(lines17.get(0)).isEqualTo(QedCli.VERSION);
                assertThat(lines17.subList(1, 3)).containsExactly("hole skipping: inactive (this JVM is Java 17)",
                        "preallocation: inactive (this JVM is Java 17)");
                assertThat(linesNew.subList(1, 3)).allMatch(l -> l.endsWith(": active (Java 22+ native access)")
                        || l.endsWith(": inactive (built without the Java 22+ part)"));
                assertThat(onNew.code()).isEqualTo(on17.code()).isZero();
                continue;
            }
            assertThat(onNew).as("%s on JDK %d and on JDK 17", command, newFeature).isEqualTo(on17);
            assertThat(convertedFile(dir)).as("what %s wrote", command).isEqualTo(converted17);
        }
    }

    /** The JDKs to run on: this JVM's, and the first JDK 17 and JDK 25+ under /usr/lib/jvm; by feature version. */
    private static Map<Integer, Path> installedJdks() {
        Map<Integer, Path> found = new LinkedHashMap<>();
        found.put(Runtime.version().feature(), thisJdk());
        Path lib = Path.of("/usr/lib/jvm");
        if (Files.isDirectory(lib)) {
            try (Stream<Path> dirs = Files.list(lib)) {
                for (Path d : dirs.sorted().toList()) {
                    int feature = feature(d);
                    if ((feature == 17 || feature >= 25) && !found.containsKey(feature)
                            && Files.isExecutable(d.resolve("bin/java")) && !Files.isSymbolicLink(d)) {
                        found.put(feature, d);
                    }
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        return found;
    }

    private static int feature(Path jdk) {
        try {
            for (String line : Files.readAllLines(jdk.resolve("release"))) {
                if (line.startsWith("JAVA_VERSION=")) {
                    String v = line.substring("JAVA_VERSION=".length()).replace("\"", "");
                    return Integer.parseInt(v.split("[.+-]")[0]);
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    private static Path thisJdk() {
        return Path.of(System.getProperty("java.home"));
    }

    private static Path launcherPath() {
        Path p = Path.of(System.getProperty("qed.launcher", "target/qed"));
        assertThat(p).as("the launcher (made in the package phase)").isExecutable();
        return p.toAbsolutePath();
    }

    private static Path jarPath() {
        Path p = Path.of(System.getProperty("qed.fatJar", "target/qed.jar"));
        assertThat(p).as("the shaded jar (made in the package phase)").isRegularFile();
        return p.toAbsolutePath();
    }

    private static List<Path> cacheFiles(Path cacheDir) throws IOException {
        if (!Files.isDirectory(cacheDir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(cacheDir)) {
            return files.filter(f -> f.toString().endsWith(".jsa") || f.toString().endsWith(".aot")).toList();
        }
    }

    private static byte[] convertedFile(Path dir) throws IOException {
        Path out = dir.resolve("out.raw");
        if (!Files.exists(out)) {
            return new byte[0];
        }
        byte[] bytes = Files.readAllBytes(out);
        Files.delete(out);
        return bytes;
    }

    /** The jar with one more entry: another size and content, so the JVM no longer takes a cache made for it. */
    private static void rewriteJar(Path jar) throws IOException {
        Path tmp = jar.resolveSibling("qed.jar.tmp");
        try (var in = new java.util.zip.ZipInputStream(Files.newInputStream(jar));
                var out = new java.util.zip.ZipOutputStream(Files.newOutputStream(tmp))) {
            for (var e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
                out.putNextEntry(new java.util.zip.ZipEntry(e.getName()));
                in.transferTo(out);
                out.closeEntry();
            }
            out.putNextEntry(new java.util.zip.ZipEntry("META-INF/qed-test-marker.txt"));
            out.write("rewritten by LauncherIT".getBytes(StandardCharsets.UTF_8));
            out.closeEntry();
        }
        Files.move(tmp, jar, StandardCopyOption.REPLACE_EXISTING);
        Files.setLastModifiedTime(jar, FileTime.from(Instant.now()));
    }

    /** Where the JVM took QedCli from in a {@code qed --version} run: the class-load log line. */
    private static String classSource(Path jdk, Map<String, String> env) throws Exception {
        return classSource(launcherPath(), jdk, env);
    }

    private static String classSource(Path launcher, Path jdk, Map<String, String> env) throws Exception {
        Path log = Files.createTempFile(shared, "class-load", ".log");
        Map<String, String> withLog = new LinkedHashMap<>(env);
        withLog.put("QED_JAVA_OPTS", "-Xlog:class+load=info:file=" + log);
        Run r = launcher(launcher, jdk, withLog, List.of("--version"));
        assertThat(r.code()).as(r.err()).isZero();
        return Files.readAllLines(log).stream().filter(l -> l.contains(" io.github.qednio.cli.QedCli "))
                .findFirst().orElse("QedCli not loaded");
    }

    private static Run plain(Path jdk, String... args) throws Exception {
        return launcher(jdk, Map.of("QED_CACHE", "off"), List.of(args));
    }

    private static Run launcher(Path jdk, Map<String, String> env) throws Exception {
        return launcher(launcherPath(), jdk, env, List.of());
    }

    private static Run launcher(Path jdk, Map<String, String> env, List<String> args) throws Exception {
        return launcher(launcherPath(), jdk, env, args);
    }

    /** Runs the launcher as a user runs it: JAVA_HOME names the JDK, no terminal, standard input closed. */
    private static Run launcher(Path launcher, Path jdk, Map<String, String> env, List<String> args)
            throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(launcher.toString());
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(shared.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("QED_") || k.equals("JAVA_TOOL_OPTIONS")
                || k.equals("JDK_JAVA_OPTIONS"));
        pb.environment().put("JAVA_HOME", jdk.toString());
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> drain(p.getInputStream()), OWN_THREAD);
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(p.getErrorStream()), OWN_THREAD);
        assertThat(p.waitFor(5, TimeUnit.MINUTES)).as("%s finished", cmd).isTrue();
        return new Run(p.exitValue(), out.join(), err.join());
    }

    private static String drain(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
