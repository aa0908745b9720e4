package io.github.qednio.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.platform.testkit.engine.EngineExecutionResults;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;

/** A test whose QEMU cross-checks were skipped is reported as skipped (aborted), never as passed. */
class SkippedCrossChecksTest {
    /** Run only through the test kit below ({@code qed.skippedCrossChecks.example}), as if QEMU were missing. */
    @ExtendWith(SkippedCrossChecks.class)
    static class Examples {
        @Test
        void pureJavaPartPassesAndCrossCheckIsSkipped() {
            guard();
            SkippedCrossChecks.skipping();
        }

        @Test
        void crossCheckIsSkippedThenAPureJavaCheckFails() {
            guard();
            SkippedCrossChecks.skipping();
            throw new AssertionError("pure-Java check failed");
        }

        @Test
        void nothingIsSkipped() {
            guard();
        }

        private static void guard() {
            org.junit.jupiter.api.Assumptions.assumeTrue(Boolean.getBoolean("qed.skippedCrossChecks.example"));
        }
    }

    private static EngineExecutionResults run(String method) {
        System.setProperty("qed.skippedCrossChecks.example", "true");
        try {
            return EngineTestKit.engine("junit-jupiter").selectors(selectMethod(Examples.class, method)).execute();
        } finally {
            System.clearProperty("qed.skippedCrossChecks.example");
        }
    }

    @Test
    void aTestWhoseCrossChecksWereSkippedIsReportedAsSkipped() {
        EngineExecutionResults r = run("pureJavaPartPassesAndCrossCheckIsSkipped");
        r.testEvents().assertStatistics(s -> s.started(1).succeeded(0).aborted(1).failed(0));
        Event aborted = r.testEvents().aborted().list().get(0);
        assertThat(aborted.getPayload(org.junit.platform.engine.TestExecutionResult.class)).get()
                .satisfies(t -> assertThat(t.getThrowable()).get().extracting(Throwable::getMessage).asString()
                        .contains("QEMU cross-checks were skipped"));
    }

    @Test
    void aFailureBesideASkippedCrossCheckIsStillAFailure() {
        run("crossCheckIsSkippedThenAPureJavaCheckFails").testEvents()
                .assertStatistics(s -> s.started(1).succeeded(0).aborted(0).failed(1));
    }

    @Test
    void aTestThatSkippedNothingPasses() {
        run("nothingIsSkipped").testEvents().assertStatistics(s -> s.started(1).succeeded(1).aborted(0).failed(0));
    }
}
