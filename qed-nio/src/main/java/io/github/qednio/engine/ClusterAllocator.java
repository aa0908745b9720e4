package io.github.qednio.engine;

import io.github.qednio.format.Geometry;
import java.io.IOException;

/**
 * QED's allocator: the cluster-rounded end of the file. New clusters always go there; nothing is reused
 * (notes §1). Only called with the image's allocation lock held; {@link #nextAllocationOffset()} may be read by
 * anyone.
 */
final class ClusterAllocator {
    private final Storage storage;
    private final Geometry geometry;
    private volatile long next;

    ClusterAllocator(Storage storage, Geometry geometry, long fileLength) {
        this.storage = storage;
        this.geometry = geometry;
        this.next = geometry.roundDownToCluster(fileLength);
    }

    /** The file length rounded down to a whole cluster: where the next allocation goes. */
    long nextAllocationOffset() {
        return next;
    }

    /** Reserves {@code bytes} (a multiple of the cluster size) at the end of the file and returns its offset. */
    long allocate(long bytes) {
        long off = next;
        next = Math.addExact(off, bytes);
        return off;
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

    /** After check cut leaked clusters off the end of the file. */
    void reset(long fileLength) {
        next = geometry.roundDownToCluster(fileLength);
    }
}
