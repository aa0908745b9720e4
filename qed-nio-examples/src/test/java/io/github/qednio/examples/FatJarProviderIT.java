package io.github.qednio.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.testing.Java22;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shaded {@code qed.jar} registers the {@code qed:} provider: a JVM with nothing but that jar on its class path
 * opens {@code qed:} URIs through {@code FileSystems.newFileSystem} and {@code Path.of(URI)}.
 */
class FatJarProviderIT {
    @TempDir
    Path dir;

    private static Path fatJar() {
        Path jar = Path.of(System.getProperty("qed.fatJar", "target/qed.jar"));
        assertThat(jar).as("the shaded jar (built in the package phase)").isRegularFile();
        return jar;
    }

    @Test
    void shadedJarListsTheProviderInItsServiceFile() throws IOException {
        try (JarFile jar = new JarFile(fatJar().toFile())) {
            var entry = jar.getEntry("META-INF/services/java.nio.file.spi.FileSystemProvider");
            assertThat(entry).isNotNull();
            String services = new String(jar.getInputStream(entry).readAllBytes(), StandardCharsets.UTF_8);
            assertThat(services.lines().map(String::trim))
                    .contains("io.github.qednio.nio.QedFileSystemProvider");
            assertThat(jar.getEntry("io/github/qednio/nio/QedFileSystemProvider.class")).isNotNull();
        }
    }

    @Test
    void shadedJarIsMultiReleaseAndAllowsItsOwnNativeAccess() throws IOException {
        // The README's promise: qed.jar enables the Java 22+ hole probe (Foreign Function API) by itself.
        try (JarFile jar = new JarFile(fatJar().toFile())) {
            var main = jar.getManifest().getMainAttributes();
            assertThat(main.getValue("Multi-Release")).isEqualTo("true");
            assertThat(main.getValue("Enable-Native-Access")).isEqualTo("ALL-UNNAMED");
            if (Runtime.version().feature() >= 22 || Java22.required()) {
                // Built by the JDK that runs the tests, or by a JDK 22+ the build found (CI has one).
                assertThat(jar.getEntry("META-INF/versions/22/io/github/qednio/internal/storage/NativeHoleProbe.class"))
                        .isNotNull();
            }
        }
    }

    @Test
    void shadedJarRunByJavaDashJarSaysItsNativeFeaturesAreActiveFromJava22On() throws Exception {
        // The jar allows its own native access (manifest), so on Java 22+ nothing but the JVM's version decides.
        int java = Runtime.version().feature();
        List<String> expected = java >= 22
                ? List.of("hole skipping: active (Java 22+ native access)",
                        "preallocation: active (Java 22+ native access)")
                : List.of("hole skipping: inactive (this JVM is Java " + java + ")",
                        "preallocation: inactive (this JVM is Java " + java + ")");
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(javaBin, "-jar", fatJar().toAbsolutePath().toString(), "--version")
                .redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out.lines().toList()).as(out).containsAll(expected);
    }

    @Test
    void shadedJarPrintsNoLibraryLogLineUnlessDebugIsGiven() throws Exception {
        // Only the jar itself: the test class path's logging configuration would hide a logger made too early.
        for (boolean debug : new boolean[] {false, true}) {
            Path image = dir.resolve("dirty-" + debug + ".qed");
            try (QedImage img = QedImage.create(image, CreateOptions.ofSize(1 << 20),
                    OpenOptions.defaults())) {
                img.write(ByteBuffer.wrap(new byte[4096]), 0);
            }
            try (var ch = java.nio.channels.FileChannel.open(image, java.nio.file.StandardOpenOption.WRITE)) {
                ByteBuffer features = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                features.putLong(0, 2); // QED_F_NEED_CHECK, as after a crash
                ch.write(features, 16);
            }
            String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            List<String> cmd = new java.util.ArrayList<>(List.of(javaBin, "-jar",
                    fatJar().toAbsolutePath().toString(), "io"));
            if (debug) {
                cmd.add("--debug");
            }
            cmd.addAll(List.of("-c", "read 0 4k", image.toString()));
            Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            p.getOutputStream().close();
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
            assertThat(p.exitValue()).as(err).isZero();
            String notice = "qed: " + image + " was not closed cleanly; checked it: 0 corruptions fixed, 0 remain,"
                    + " 0 leaked clusters";
            if (debug) {
                assertThat(err).contains(notice).contains("INFO io.github.qednio.image.QedImage");
            } else {
                assertThat(err).isEqualTo(notice + "\n");
            }
        }
    }

    @Test
    void jvmWithOnlyTheShadedJarOpensQedUris() throws Exception {
        Path image = dir.resolve("fat jar disk #1.qed");
        runDemo(image, List.of("-cp", fatJar().toAbsolutePath().toString()));
    }

    /** On the module path the provider is found through module-info's {@code provides}, not META-INF/services. */
    @Test
    void jvmWithTheModuleOnTheModulePathOpensQedUris() throws Exception {
        Path image = dir.resolve("module path disk.qed");
        String modulePath = location(QedImage.class) + java.io.File.pathSeparator + location(org.slf4j.Logger.class);
        runDemo(image, List.of("--module-path", modulePath, "--add-modules", "io.github.qednio",
                "-cp", location(QedUriDemo.class)));
    }

    private static String location(Class<?> c) throws Exception {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }

    private void runDemo(Path image, List<String> classPathArgs) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new java.util.ArrayList<>(List.of(java));
        cmd.addAll(classPathArgs);
        cmd.addAll(List.of("io.github.qednio.examples.QedUriDemo", image.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue()).as("%s\n%s", cmd, out).isZero();
        assertThat(out).contains("read: hello from a qed: disk").contains("size: 1048576")
                .contains("clusterSize: 65536").contains("uri: qed:" + image.toUri());

        // The child wrote a real, clean QED image.
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            assertThat(img.needsCheck()).isFalse();
            ByteBuffer b = ByteBuffer.allocate(22);
            img.readFully(b, 4096);
            assertThat(new String(b.array(), StandardCharsets.UTF_8)).isEqualTo("hello from a qed: disk");
        }
        assertThat(Files.size(image)).isPositive();
    }
}
