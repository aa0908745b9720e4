package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.Buffers;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Guest reads: each run is read from this image's clusters, as zeros, or from the backing chain, which with
 * copy-on-read is then copied into the image.
 */
public final class ReadPath {
    /** The allocating-write path when copy-on-read is on, else null. */
    private final AllocatingWrite copyOnRead;

    private final QedState st;

    ReadPath(QedState st) {
        this.st = st;
        // Copy-on-read writes, so a read-only image never copies.
        this.copyOnRead = st.options.copyOnRead() && !st.options.readOnly() ? st.allocating : null;
    }

    /**
     * Fills {@code buf} (position to limit) with guest bytes from {@code pos}; the range is inside the disk. The
     * read runs without a lock and is repeated, inside a shared section, if clusters were freed for reuse or moved
     * meanwhile ({@link ClusterGuard}): it might have read a cluster that another position owns now.
     */
    public void read(ByteBuffer buf, long pos) throws IOException {
        int start = buf.position();
        long stamp = st.guard.optimistic();
        if (stamp != 0) {
            try {
                readRuns(buf, pos, true);
                if (st.guard.validate(stamp)) {
                    return;
                }
            } catch (IOException | RuntimeException e) {
                if (st.guard.validate(stamp)) {
                    throw e;
                }
            }
            buf.position(start);
        }
        long shared = st.guard.enterShared();
        try {
            // No copy-on-read here: it takes the allocation lock, which must not be taken in a shared section.
            readRuns(buf, pos, false);
        } finally {
            st.guard.exitShared(shared);
        }
    }

    private void readRuns(ByteBuffer buf, long pos, boolean mayCopy) throws IOException {
        int limit = buf.limit();
        try {
            while (buf.position() < limit) {
                Extent run = st.lookup.lookup(pos, pos + (limit - buf.position()));
                int len = (int) run.length();
                buf.limit(buf.position() + len);
                switch (run.kind()) {
                    case DATA -> st.storage.readFully(buf, run.hostOffset());
                    case ZERO -> Buffers.putZeros(buf, len);
                    case UNALLOCATED -> {
                        st.backingReads.read(buf, pos);
                        if (mayCopy && copyOnRead != null && st.backingReads.hasBacking()) {
                            copyOnRead.copyOnRead(pos, len);
                        }
                    }
                }
                buf.limit(limit);
                pos += len;
            }
        } finally {
            buf.limit(limit);
        }
    }
}
