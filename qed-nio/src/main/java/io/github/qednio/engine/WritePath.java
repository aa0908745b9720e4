package io.github.qednio.engine;

import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Guest writes: runs of clusters the image holds are overwritten in place without a lock; the others go through
 * {@link AllocatingWrite}. Write-zeroes turns whole unallocated clusters into zero clusters (notes §8.5).
 */
final class WritePath {
    private final Storage storage;
    private final Geometry geo;
    private final ClusterLookup lookup;
    private final AllocatingWrite allocating;
    private final ClusterGuard guard;

    WritePath(Storage storage, Geometry geo, ClusterLookup lookup, AllocatingWrite allocating, ClusterGuard guard) {
        this.storage = storage;
        this.geo = geo;
        this.lookup = lookup;
        this.allocating = allocating;
        this.guard = guard;
    }

    /** Writes {@code src} (position to limit) at guest offset {@code position}; the range is inside the disk. */
    void write(ByteBuffer src, long position) throws IOException {
        int limit = src.limit();
        long pos = position;
        try {
            while (src.position() < limit) {
                // From lookup to the end of the write, the cluster cannot be freed and handed to another position.
                long stamp = guard.enterShared();
                boolean inPlace;
                try {
                    Extent run = lookup.lookup(pos, pos + (limit - src.position()));
                    inPlace = run.kind() == Extent.Kind.DATA;
                    if (inPlace) {
                        src.limit(src.position() + (int) run.length());
                        storage.write(src, run.hostOffset());
                        pos += run.length();
                    }
                } finally {
                    guard.exitShared(stamp);
                    src.limit(limit);
                }
                if (!inPlace) {
                    // Outside the shared section: the allocating path takes the allocation lock.
                    pos += allocating.write(src, pos, false);
                }
            }
        } finally {
            src.limit(limit);
        }
    }

    /** Makes {@code [position, end)} read as zeros; the range is inside the disk. */
    void writeZeroes(long position, long end) throws IOException {
        long alignedStart = Math.min(end, geo.roundUpToCluster(position));
        long alignedEnd = Math.max(alignedStart, geo.roundDownToCluster(end));
        writeZeroData(position, alignedStart);
        long pos = alignedStart;
        while (pos < alignedEnd) {
            Extent run = allocating.zeroClusters(pos, alignedEnd);
            if (run.kind() == Extent.Kind.DATA) {
                // Allocated clusters stay allocated, so zeroing them in place needs no lock.
                writeZeroData(pos, run.end());
            }
            pos = run.end();
        }
        writeZeroData(alignedEnd, end);
    }

    /** Writes zeros over {@code [from, to)} (allocating if needed); the range is inside the disk. */
    void writeZeroData(long from, long to) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(to - from, 1 << 20));
        for (long p = from; p < to; ) {
            int k = (int) Math.min(to - p, zeros.capacity());
            write(zeros.clear().limit(k), p);
            p += k;
        }
    }
}
