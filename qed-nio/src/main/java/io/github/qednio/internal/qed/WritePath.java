package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.Buffers;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Guest writes: runs of clusters the image holds are overwritten in place without a lock; the others go through
 * {@link AllocatingWrite}. Write-zeroes turns whole unallocated clusters into zero clusters (notes §8.5). With zero
 * detection ({@link OpenOptions#withDetectZeroes}) an all-zero write allocates nothing it does not have to.
 */
public final class WritePath {
    private final boolean detectZeroes;

    private final QedState st;

    WritePath(QedState st) {
        this.st = st;
        this.detectZeroes = st.options.detectZeroes();
    }

    /** Writes {@code src} (position to limit) at guest offset {@code position}; the range is inside the disk. */
    public void write(ByteBuffer src, long position) throws IOException {
        if (detectZeroes && Buffers.isAllZeros(src)) {
            writeDetectedZeroes(src, position);
            return;
        }
        writeData(src, position);
    }

    private void writeData(ByteBuffer src, long position) throws IOException {
        int limit = src.limit();
        long pos = position;
        try {
            while (src.position() < limit) {
                // From lookup to the end of the write, the cluster cannot be freed and handed to another position.
                long stamp = st.guard.enterShared();
                boolean inPlace;
                try {
                    Extent run = st.lookup.lookup(pos, pos + (limit - src.position()));
                    inPlace = run.kind() == Extent.Kind.DATA;
                    if (inPlace) {
                        src.limit(src.position() + (int) run.length());
                        st.storage.write(src, run.hostOffset());
                        pos += run.length();
                    }
                } finally {
                    st.guard.exitShared(stamp);
                    src.limit(limit);
                }
                if (!inPlace) {
                    // Outside the shared section: the allocating path takes the allocation lock.
                    pos += st.allocating.write(src, pos, false);
                }
            }
        } finally {
            src.limit(limit);
        }
    }

    /**
     * Zero detection (QEMU's {@code detect-zeroes=on}, but allocating less): {@code src} is all zeros. Clusters
     * already reading as zeros from this image alone (zero clusters; unallocated ones without a backing file) are
     * skipped, whole or in part, since every later read or copy-on-write of them gives zeros; whole unallocated
     * clusters over a backing file become zero clusters; everything else is written as ordinary data.
     */
    private void writeDetectedZeroes(ByteBuffer src, long position) throws IOException {
        int base = src.position();
        int limit = src.limit();
        long end = position + (limit - base);
        try {
            for (long pos = position; pos < end; ) {
                Extent run = st.lookup.lookup(pos, end);
                long runEnd = run.end();
                src.limit(limit).position(base + (int) (pos - position));
                if (run.kind() == Extent.Kind.DATA) {
                    src.limit(base + (int) (runEnd - position));
                    writeData(src, pos);
                } else if (run.kind() == Extent.Kind.UNALLOCATED && st.hasBacking()) {
                    long alignedStart = Math.min(runEnd, st.geo.roundUpToCluster(pos));
                    long alignedEnd = Math.max(alignedStart, st.geo.roundDownToCluster(runEnd));
                    if (alignedStart == alignedEnd || alignedStart > pos) {
                        // The part of a cluster before its end: copy-on-write with zeros, as an ordinary write.
                        runEnd = alignedStart == alignedEnd ? runEnd : alignedStart;
                        src.limit(base + (int) (runEnd - position));
                        writeData(src, pos);
                    } else {
                        // Under the allocation lock the run may have changed: zeroClusters returns it as it was.
                        Extent zeroed = st.allocating.zeroClusters(pos, alignedEnd);
                        runEnd = zeroed.end();
                        if (zeroed.kind() == Extent.Kind.DATA) {
                            src.limit(base + (int) (runEnd - position));
                            writeData(src, pos);
                        }
                    }
                }
                pos = runEnd;
            }
        } finally {
            src.limit(limit).position(limit);
        }
    }

    /** Makes {@code [position, end)} read as zeros; the range is inside the disk. */
    public void writeZeroes(long position, long end) throws IOException {
        long alignedStart = Math.min(end, st.geo.roundUpToCluster(position));
        long alignedEnd = Math.max(alignedStart, st.geo.roundDownToCluster(end));
        writeZeroData(position, alignedStart);
        long pos = alignedStart;
        while (pos < alignedEnd) {
            Extent run = st.allocating.zeroClusters(pos, alignedEnd);
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
