package io.github.qednio.internal.qed;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@link FreeClusters}: pending clusters are never handed out; reusable runs merge, go lowest first, trim. */
class FreeClustersTest {
    private static final long CS = 4096;

    @Test
    void pendingClustersAreHandedOutOnlyAfterPromotion() {
        FreeClusters f = new FreeClusters();
        f.freed(10 * CS, 2 * CS);
        assertThat(f.take(CS)).isEqualTo(-1);
        assertThat(f.isPending(11 * CS)).isTrue();
        assertThat(f.everReused()).isFalse();
        f.promote();
        assertThat(f.pendingBytes()).isZero();
        assertThat(f.take(CS)).isEqualTo(10 * CS);
        assertThat(f.everReused()).isTrue();
        assertThat(f.take(CS)).isEqualTo(11 * CS);
        assertThat(f.take(CS)).isEqualTo(-1);
    }

    @Test
    void aGivenRangeIsTakenOnlyIfAllOfItIsReusableAndARunFromAnOffsetOnlyPastIt() {
        FreeClusters f = new FreeClusters();
        f.addReusable(10 * CS, 6 * CS);
        f.addReusable(30 * CS, CS);
        f.addReusable(40 * CS, 3 * CS);
        assertThat(f.takeAt(15 * CS, 2 * CS)).as("runs past the reusable run").isFalse();
        assertThat(f.takeAt(12 * CS, 2 * CS)).isTrue();
        assertThat(f.isReusable(12 * CS) || f.isReusable(13 * CS)).isFalse();
        assertThat(f.isReusable(11 * CS) && f.isReusable(14 * CS)).as("both sides stay").isTrue();
        assertThat(f.reusableBytes()).isEqualTo(8 * CS);
        assertThat(f.takeFrom(11 * CS, 2 * CS)).as("starts inside the run 10-12, too short").isEqualTo(14 * CS);
        assertThat(f.takeFrom(25 * CS, 2 * CS)).as("30 is too short").isEqualTo(40 * CS);
        assertThat(f.takeFrom(41 * CS, CS)).isEqualTo(42 * CS);
        assertThat(f.takeFrom(43 * CS, CS)).isEqualTo(-1);
        assertThat(f.take(2 * CS)).as("lower runs are left to take").isEqualTo(10 * CS);
        assertThat(f.reusableBytes()).isEqualTo(CS);
    }

    @Test
    void adjacentRunsMergeAndTheLowestFittingRunIsTaken() {
        FreeClusters f = new FreeClusters();
        f.addReusable(20 * CS, CS);
        f.addReusable(5 * CS, CS);
        f.addReusable(22 * CS, CS);
        f.addReusable(21 * CS, CS); // joins 20 and 22
        assertThat(f.reusableBytes()).isEqualTo(5 * CS - CS);
        assertThat(f.take(2 * CS)).as("the first run long enough").isEqualTo(20 * CS);
        assertThat(f.take(4 * CS)).isEqualTo(-1);
        assertThat(f.take(CS)).isEqualTo(5 * CS);
        f.addReusable(23 * CS, CS); // a new run: a request that failed before may now fit
        assertThat(f.take(2 * CS)).isEqualTo(22 * CS);
        assertThat(f.reusableBytes()).isZero();
    }

    @Test
    void onlyARunEndingAtTheEndOfTheFileIsTrimmed() {
        FreeClusters f = new FreeClusters();
        f.addReusable(3 * CS, CS);
        f.addReusable(8 * CS, 2 * CS);
        assertThat(f.trimTail(11 * CS)).isEqualTo(11 * CS);
        assertThat(f.trimTail(10 * CS)).isEqualTo(8 * CS);
        assertThat(f.isReusable(8 * CS)).isFalse();
        assertThat(f.isReusable(3 * CS)).isTrue();
        assertThat(f.reusableBytes()).isEqualTo(CS);
    }
}
