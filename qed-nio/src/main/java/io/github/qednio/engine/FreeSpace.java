package io.github.qednio.engine;

import java.io.IOException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Turns freed clusters into space that comes back: pending clusters ({@link FreeClusters}) become reusable once
 * the table updates that freed them are durable and no operation in progress can still be using them, and free
 * clusters at the end of the file are cut off. Leaked clusters found by a check become reusable the same way. All
 * methods run with the image's allocation lock held, outside any {@link ClusterGuard} section.
 */
final class FreeSpace {
    private final Storage storage;
    private final ReentrantLock lock;
    private final L2Cache l2Cache;
    private final ClusterAllocator allocator;
    private final FreeClusters free;
    private final ClusterGuard guard;

    FreeSpace(Storage storage, ReentrantLock lock, L2Cache l2Cache, ClusterAllocator allocator, FreeClusters free,
              ClusterGuard guard) {
        this.storage = storage;
        this.lock = lock;
        this.l2Cache = l2Cache;
        this.allocator = allocator;
        this.free = free;
        this.guard = guard;
    }

    /**
     * Called right after a flush wrote every deferred table update back and forced the file: the pending clusters'
     * freeing updates are durable now. Waits for the operations that may still use them, makes them reusable, and
     * cuts free space at the end of the file off.
     */
    void afterFlush() throws IOException {
        if (free.pendingBytes() > 0) {
            guard.awaitQuiescence();
            free.promote();
        }
        allocator.trimFreeTail();
    }

    /** An allocation could use the pending clusters: flush the tables that freed them, then make them reusable. */
    void reclaimFreed() throws IOException {
        lock.lock();
        try {
            l2Cache.writeBack();
            storage.force();
            afterFlush();
        } finally {
            lock.unlock();
        }
    }

    /**
     * After a check found every cluster in use in {@code used} (with the tables on disk up to date, and nothing
     * left to repair), makes every other cluster of the file past the header reusable and cuts those at the end
     * off.
     *
     * @return the number of clusters reclaimed that were not known to be free before
     */
    long reclaimLeaks(ClusterBitmap used, long firstCluster, long clusters, int clusterBits) throws IOException {
        storage.force(); // the repair's own table writes must be durable before their clusters are reused
        guard.awaitQuiescence();
        long known = (free.reusableBytes() + free.pendingBytes()) >> clusterBits;
        free.clear();
        long found = 0;
        for (long c = firstCluster; c < clusters; c++) {
            if (!used.get(c)) {
                free.addReusable(c << clusterBits, 1L << clusterBits);
                found++;
            }
        }
        allocator.trimFreeTail();
        return Math.max(0, found - known);
    }
}
