package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Java22;
import java.lang.management.ManagementFactory;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code qed --version} says whether hole skipping and preallocation are active in this JVM, and why not: what it
 * says is checked against the JVM the test runs on (its Java version, its OS, whether it was given native access).
 */
class VersionOptionTest {
    private static final int JAVA = Runtime.version().feature();

    private static List<String> versionLines() {
        QedCliTest.Run r = QedCliTest.cli("--version");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).isEmpty();
        return r.out().lines().toList();
    }

    private static String lineOf(List<String> lines, String feature) {
        return lines.stream().filter(l -> l.startsWith(feature + ": ")).findFirst()
                .orElseThrow(() -> new AssertionError("no '" + feature + ": ' line in " + lines));
    }

    private static boolean nativeAccessGiven() {
        return ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .anyMatch(a -> a.startsWith("--enable-native-access="));
    }

    private static boolean linux() {
        return System.getProperty("os.name", "").startsWith("Linux");
    }

    /** What the line must say for a feature that nothing turned off, from this JVM's facts. */
    private static String expected(String feature) {
        if (JAVA < 22) {
            return feature + ": inactive (this JVM is Java " + JAVA + ")";
        }
        if (!linux()) {
            return feature + ": inactive (not Linux (the native calls use Linux's constants))";
        }
        if (!nativeAccessGiven()) {
            return feature + ": inactive (no native access: run java with --enable-native-access=ALL-UNNAMED)";
        }
        return feature + ": active (Java 22+ native access)";
    }

    @Test
    void versionNamesHoleSkippingAndPreallocationWithTheirStateInThisJvm() {
        List<String> lines = versionLines();
        assertThat(lines).hasSize(3);
        assertThat(lines.get(0)).startsWith("qed (qed-nio) ");
        assertThat(lineOf(lines, "hole skipping")).isEqualTo(expected("hole skipping"));
        assertThat(lineOf(lines, "preallocation")).isEqualTo(expected("preallocation"));
        if (Java22.required()) {
            // CI runs on JDK 25 with native access: both must be on there.
            assertThat(lines).contains("hole skipping: active (Java 22+ native access)",
                    "preallocation: active (Java 22+ native access)");
        }
    }

    @Test
    void versionSaysWhichFeatureItsSystemPropertyTurnedOff() {
        String old = System.setProperty("qednio.seekHoles", "false");
        try {
            List<String> lines = versionLines();
            String holes = expected("hole skipping");
            assertThat(lineOf(lines, "hole skipping")).isEqualTo(holes.endsWith(": active (Java 22+ native access)")
                    ? "hole skipping: inactive (turned off by -Dqednio.seekHoles=false)" : holes);
            assertThat(lineOf(lines, "preallocation")).isEqualTo(expected("preallocation"));
        } finally {
            if (old == null) {
                System.clearProperty("qednio.seekHoles");
            } else {
                System.setProperty("qednio.seekHoles", old);
            }
        }
    }
}
