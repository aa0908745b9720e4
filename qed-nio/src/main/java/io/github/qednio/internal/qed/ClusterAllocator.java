package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.Storage;
import io.github.qednio.format.Geometry;
import java.io.IOException;

/**
 * QED's allocator: clusters freed by discard, compaction or leak reclaim once they are reusable
 * ({@link FreeClusters}), else the cluster-rounded end of the file (where QEMU always allocates, notes §1). Free
 * space at the end of the file is cut off. Only called with the image's allocation lock held;
 * {@link #nextAllocationOffset()} may be read by anyone.
 */
public final class ClusterAllocator {
    /** Makes pending freed clusters reusable (flushing first); called when they would satisfy an allocation. */
    public interface Reclaimer {
        void reclaim() throws IOException;
    }

    private final Storage storage;
    private final Geometry geometry;
    private final FreeClusters free;
    private volatile long next;
    private final Reclaimer reclaimer;

    ClusterAllocator(Storage storage, Geometry geometry, long fileLength) {
        this(storage, geometry, fileLength, new FreeClusters(), null);
    }

    /** @param reclaimer makes pending clusters reusable when an allocation could use them; null for none */
    ClusterAllocator(Storage storage, Geometry geometry, long fileLength, FreeClusters free, Reclaimer reclaimer) {
        this.storage = storage;
        this.geometry = geometry;
        this.free = free;
        this.reclaimer = reclaimer;
        this.next = geometry.roundDownToCluster(fileLength);
    }

    /** The file length rounded down to a whole cluster: where the next allocation at the end goes. */
    public long nextAllocationOffset() {
        return next;
    }

    /**
     * Reserves {@code bytes} (a multiple of the cluster size) and returns its offset: a reusable run if one is long
     * enough (making pending clusters reusable first if they could be), else the end of the file.
     */
    long allocate(long bytes) throws IOException {
        long off = free.take(bytes);
        if (off < 0 && reclaimer != null && free.pendingBytes() >= bytes) {
            reclaimer.reclaim();
            off = free.take(bytes);
        }
        return off >= 0 ? off : allocateAtEnd(bytes);
    }

    /** Reserves {@code bytes} at the end of the file. */
    long allocateAtEnd(long bytes) {
        long off = next;
        next = Math.addExact(off, bytes);
        storage.appending(off, next);
        return off;
    }

    /**
     * Gives back {@code [offset, offset + bytes)}, allocated by a write that failed before any table pointed at
     * it: cut off if it is at the end of the file, else reusable again.
     */
    void release(long offset, long bytes) {
        if (offset + bytes == next) {
            rollback(offset);
        } else {
            free.addReusable(offset, bytes);
        }
    }

    /**
     * Gives back everything allocated from {@code offset} on, after a failure before any metadata pointed at it,
     * and cuts the file there so that a full disk has its space back for later writes.
     */
    void rollback(long offset) {
        try {
            if (storage.size() > offset) {
                storage.truncate(offset);
                // The space may be reused only once the cut is durable: otherwise a crash could keep the failed
                // write's data there and drop the new one, and the new L2 entry would show data from elsewhere.
                storage.force();
            }
            next = offset;
        } catch (IOException ignored) {
            // The clusters stay allocated but unreferenced (leaked); check reports them.
        }
    }

    /**
     * Cuts reusable clusters at the end of the file off, durably (a new cluster past the end of the file must read
     * as zeros, even after a crash).
     */
    void trimFreeTail() throws IOException {
        long end = free.trimTail(next);
        if (end == next) {
            return;
        }
        try {
            storage.truncate(end);
            storage.force();
        } catch (IOException | RuntimeException e) {
            free.addReusable(end, next - end);
            throw e;
        }
        next = end;
    }

    /** After check cut leaked clusters off the end of the file. */
    void reset(long fileLength) {
        next = geometry.roundDownToCluster(fileLength);
    }
}
