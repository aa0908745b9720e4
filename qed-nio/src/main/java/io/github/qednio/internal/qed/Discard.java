package io.github.qednio.internal.qed;

import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.util.Arrays;
import java.util.concurrent.locks.ReentrantLock;

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
    private final Geometry geo;
    private final ReentrantLock lock;
    private final HeaderState header;
    private final ClusterLookup lookup;
    private final L2Cache l2Cache;
    private final FreeClusters free;
    private final AllocatingWrite allocating;
    private final WritePath writes;
    private final boolean hasBacking;

    public Discard(Geometry geo, ReentrantLock lock, HeaderState header, ClusterLookup lookup, L2Cache l2Cache,
            FreeClusters free, AllocatingWrite allocating, WritePath writes, boolean hasBacking) {
        this.geo = geo;
        this.lock = lock;
        this.header = header;
        this.lookup = lookup;
        this.l2Cache = l2Cache;
        this.free = free;
        this.allocating = allocating;
        this.writes = writes;
        this.hasBacking = hasBacking;
    }

    /** Discards {@code [position, end)}; the range is inside the disk. */
    public void discard(long position, long end) throws IOException {
        long alignedStart = Math.min(end, geo.roundUpToCluster(position));
        long alignedEnd = Math.max(alignedStart, geo.roundDownToCluster(end));
        zeroPartial(position, alignedStart);
        for (long pos = alignedStart; pos < alignedEnd; ) {
            pos = discardRun(pos, alignedEnd);
        }
        zeroPartial(alignedEnd, end);
    }

    /** Discards the run of whole clusters at {@code pos}; returns its end. */
    private long discardRun(long pos, long end) throws IOException {
        lock.lock();
        try {
            Extent run = lookup.lookup(pos, end);
            switch (run.kind()) {
                case DATA -> {
                    header.setNeedCheck();
                    int clusters = (int) (run.length() >> geo.clusterBits());
                    long[] values = new long[clusters];
                    Arrays.fill(values, hasBacking ? Geometry.ENTRY_ZERO : Geometry.ENTRY_UNALLOCATED);
                    l2Cache.update(lookup.l1().get(geo.l1Index(pos)), geo.l2Index(pos), values);
                    free.freed(run.hostOffset(), run.length());
                }
                case UNALLOCATED -> {
                    if (hasBacking) {
                        allocating.zeroClusters(pos, run.end()); // mask the backing file
                    }
                }
                case ZERO -> { }
            }
            return run.end();
        } finally {
            lock.unlock();
        }
    }

    /** Zeros part of one cluster, unless it reads as zeros already. */
    private void zeroPartial(long from, long to) throws IOException {
        if (from >= to) {
            return;
        }
        Extent run = lookup.lookup(from, to);
        boolean zeros = run.kind() == Extent.Kind.ZERO || (run.kind() == Extent.Kind.UNALLOCATED && !hasBacking);
        if (!zeros) {
            writes.writeZeroData(from, to);
        }
    }
}
