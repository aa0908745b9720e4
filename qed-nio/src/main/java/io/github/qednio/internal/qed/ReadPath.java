package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.Buffers;
import io.github.qednio.internal.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Guest reads: each run is read from this image's clusters, as zeros, or from the backing chain, which with
 * copy-on-read is then copied into the image.
 */
public final class ReadPath {
    private final Storage storage;
    private final ClusterLookup lookup;
    private final BackingReads backing;
    /** The allocating-write path when copy-on-read is on, else null. */
    private final AllocatingWrite copyOnRead;
    private final ClusterGuard guard;

    public ReadPath(Storage storage, ClusterLookup lookup, BackingReads backing, AllocatingWrite copyOnRead,
             ClusterGuard guard) {
        this.storage = storage;
        this.lookup = lookup;
        this.backing = backing;
        this.copyOnRead = copyOnRead;
        this.guard = guard;
    }

    /**
     * Fills {@code buf} (position to limit) with guest bytes from {@code pos}; the range is inside the disk. The
     * read runs without a lock and is repeated, inside a shared section, if clusters were freed for reuse or moved
     * meanwhile ({@link ClusterGuard}): it might have read a cluster that another position owns now.
     */
    public void read(ByteBuffer buf, long pos) throws IOException {
        int start = buf.position();
        long stamp = guard.optimistic();
        if (stamp != 0) {
            try {
                readRuns(buf, pos, true);
                if (guard.validate(stamp)) {
                    return;
                }
            } catch (IOException | RuntimeException e) {
                if (guard.validate(stamp)) {
                    throw e;
                }
            }
            buf.position(start);
        }
        long shared = guard.enterShared();
        try {
            // No copy-on-read here: it takes the allocation lock, which must not be taken in a shared section.
            readRuns(buf, pos, false);
        } finally {
            guard.exitShared(shared);
        }
    }

    private void readRuns(ByteBuffer buf, long pos, boolean mayCopy) throws IOException {
        int limit = buf.limit();
        try {
            while (buf.position() < limit) {
                Extent run = lookup.lookup(pos, pos + (limit - buf.position()));
                int len = (int) run.length();
                buf.limit(buf.position() + len);
                switch (run.kind()) {
                    case DATA -> storage.readFully(buf, run.hostOffset());
                    case ZERO -> Buffers.putZeros(buf, len);
                    case UNALLOCATED -> {
                        backing.read(buf, pos);
                        if (mayCopy && copyOnRead != null && backing.hasBacking()) {
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
