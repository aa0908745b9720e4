package io.github.qednio.testing;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * For tests of what the engine does only on Java 22 and later (its native file calls through the Foreign Function
 * API): skipped on an older JVM, or failed when the system property {@code qed.requireNative} is true, which
 * {@code .ci/run} sets when it builds and tests on JDK 25, so that CI never passes them by skipping.
 */
public final class Java22 {
    private Java22() {
    }

    /** Whether {@code -Dqed.requireNative=true}: the native calls must work in this test run. */
    public static boolean required() {
        return Boolean.getBoolean("qed.requireNative");
    }

    /** Skips the calling test below Java 22 ({@code what} needs it), or fails it under {@link #required()}. */
    public static void assume(String what) {
        int feature = Runtime.version().feature();
        if (feature >= 22) {
            return;
        }
        String why = what + " needs the Foreign Function API of Java 22+, this is Java " + feature;
        if (required()) {
            Assertions.fail(why + ", and qed.requireNative=true forbids skipping");
        }
        Assumptions.abort("JDK skip (not QEMU): " + why);
    }
}
