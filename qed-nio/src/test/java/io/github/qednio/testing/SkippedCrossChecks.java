package io.github.qednio.testing;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Reports a test whose QEMU cross-checks were skipped ({@link Qemu#crossChecks()} answered false) as skipped, not as
 * passed: its pure-Java part has run to the end, and then it is aborted. Registered for every test through JUnit's
 * extension autodetection (META-INF/services, enabled in surefire's configuration); where it is not registered,
 * {@link Qemu#crossChecks()} aborts the test at once instead.
 */
public final class SkippedCrossChecks implements BeforeAllCallback, BeforeEachCallback, AfterEachCallback {
    /** Set once this extension runs in the JVM. */
    private static volatile boolean registered;
    /** Set by a cross-check skipped during the current test (on any thread). */
    private static volatile boolean skipped;

    @Override
    public void beforeAll(ExtensionContext context) {
        registered = true;
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        registered = true;
        skipped = false;
    }

    @Override
    public void afterEach(ExtensionContext context) {
        boolean abort = skipped && context.getExecutionException().isEmpty();
        skipped = false;
        if (abort) {
            Assumptions.abort("pure-Java part passed; its QEMU cross-checks were skipped: " + Qemu.MISSING);
        }
    }

    /** A cross-check is being skipped: reports the test as skipped when it ends, or aborts it now if unregistered. */
    static void skipping() {
        if (!registered) {
            Assumptions.abort("QEMU cross-check skipped (and the rest of this test: SkippedCrossChecks is not"
                    + " registered): " + Qemu.MISSING);
        }
        skipped = true;
    }
}
