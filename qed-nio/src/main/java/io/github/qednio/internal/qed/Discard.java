package io.github.qednio.internal.qed;

import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.util.Arrays;

/**
 * Discard (QEMU's qed has none, notes §8.5): whole clusters stop holding data. Their L2 entries become 0
 * (unallocated) when nothing below would show through, or 1 (a zero cluster) over a backing file; the clusters
 * they held go to {@link FreeClusters} as pending, reusable once the updated entries are durable. Partial clusters
 * are written with zeros, as write-zeroes does. Afterwards the range reads as zeros.
 *
 * <p>The entry updates are deferred dirty entries of the {@link L2Cache}, like those of allocating writes;
 * {@code QED_F_NEED_CHECK} is set first, as for any table change.
 */
public final class Discard {

    private final QedState st;

    Discard(QedState st) {
        this.st = st;
    }

    /** Discards {@code [position, end)}; the range is inside the disk. */
    public void discard(long position, long end) throws IOException {
        long alignedStart = Math.min(end, st.geo.roundUpToCluster(position));
        long alignedEnd = Math.max(alignedStart, st.geo.roundDownToCluster(end));
        zeroPartial(position, alignedStart);
        for (long pos = alignedStart; pos < alignedEnd; ) {
            pos = discardRun(pos, alignedEnd);
        }
        zeroPartial(alignedEnd, end);
    }

    /** Discards the run of whole clusters at {@code pos}; returns its end. */
    private long discardRun(long pos, long end) throws IOException {
        st.lock.lock();
        try {
            Extent run = st.lookup.lookup(pos, end);
            switch (run.kind()) {
                case DATA -> {
                    st.header.setNeedCheck();
                    int clusters = (int) (run.length() >> st.geo.clusterBits());
                    long[] values = new long[clusters];
                    Arrays.fill(values, st.hasBacking() ? Geometry.ENTRY_ZERO : Geometry.ENTRY_UNALLOCATED);
                    st.l2Cache.update(st.lookup.l1().get(st.geo.l1Index(pos)), st.geo.l2Index(pos), values);
                    st.free.freed(run.hostOffset(), run.length());
                }
                case UNALLOCATED -> {
                    if (st.hasBacking()) {
                        st.allocating.zeroClusters(pos, run.end()); // mask the backing file
                    }
                }
                case ZERO -> { }
            }
            return run.end();
        } finally {
            st.lock.unlock();
        }
    }

    /** Zeros part of one cluster, unless it reads as zeros already. */
    private void zeroPartial(long from, long to) throws IOException {
        if (from >= to) {
            return;
        }
        Extent run = st.lookup.lookup(from, to);
        boolean zeros = run.kind() == Extent.Kind.ZERO || (run.kind() == Extent.Kind.UNALLOCATED && !st.hasBacking());
        if (!zeros) {
            st.writes.writeZeroData(from, to);
        }
    }
}
