package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.Storage;
import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.util.concurrent.locks.ReentrantLock;

import static io.github.qednio.format.Geometry.ENTRY_UNALLOCATED;
import static io.github.qednio.format.Geometry.ENTRY_ZERO;

/**
 * Turns freed clusters into space that comes back: pending clusters ({@link FreeClusters}) become reusable once
 * the table updates that freed them are durable and no operation in progress can still be using them, and free
 * clusters at the end of the file are cut off. Leaked clusters found by a compaction become reusable the same way,
 * and so do the clusters an earlier session left unreferenced, found once before the first allocation
 * ({@link #findFreeOnce}). All methods run with the image's allocation lock held, outside any {@link ClusterGuard}
 * section.
 */
public final class FreeSpace {
    /**
     * The most L2 table bytes {@link #findFreeOnce} reads: 64 MiB, 256 tables of the default geometry, which map
     * 512 GiB. Larger images find their free clusters with a leak repair or a compaction instead.
     */
    static final long SCAN_LIMIT_BYTES = 64L << 20;

    /** The tables as the image uses them now: the whole L1 table, and its L2 tables (cached, with deferred entries). */
    public interface Tables {
        Table l1() throws IOException;

        Table l2(long offset) throws IOException;
    }
    private final Storage storage;
    private final ReentrantLock lock;
    private final L2Cache l2Cache;
    private final ClusterAllocator allocator;
    private final FreeClusters free;
    private final ClusterGuard guard;
    private final Geometry geo;
    private final Tables tables;
    private boolean scanned;

    public FreeSpace(Storage storage, ReentrantLock lock, L2Cache l2Cache, ClusterAllocator allocator, FreeClusters free,
              ClusterGuard guard, Geometry geo, Tables tables) {
        this.geo = geo;
        this.tables = tables;
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
    public void afterFlush() throws IOException {
        if (free.pendingBytes() > 0) {
            guard.awaitQuiescence();
            free.promote();
        }
        allocator.trimFreeTail();
    }

    /** An allocation could use the pending clusters: flush the tables that freed them, then make them reusable. */
    public void reclaimFreed() throws IOException {
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
     * After a compaction found every cluster in use in {@code used} (with the tables on disk up to date), makes
     * every other cluster of the file past the header reusable and cuts those at the end off.
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
        scanned = true;
        return Math.max(0, found - known);
    }

    /**
     * Once per open, before the first allocation: makes the clusters that no table references (left by discards,
     * moves or crashes of an earlier session) reusable, so that a reopened image reuses them too. Needs no flush:
     * an unreferenced cluster found here was unreferenced on disk since the open (clusters freed in this session
     * are pending or reusable already, and left alone). Skipped for images whose L2 tables pass
     * {@link #SCAN_LIMIT_BYTES}, and if any entry is invalid (the automatic repair, or a check, deals with those).
     */
    void findFreeOnce() throws IOException {
        if (scanned) {
            return;
        }
        scanned = true;
        long fileSize = allocator.nextAllocationOffset();
        Table l1 = tables.l1();
        long tableCount = 0;
        for (int i = 0; i < l1.length(); i++) {
            tableCount += l1.get(i) != ENTRY_UNALLOCATED ? 1 : 0;
        }
        long clusters = fileSize >> geo.clusterBits();
        long fixed = geo.headerSize() + geo.tableSize() * (tableCount + 1);
        if (tableCount * geo.tableBytes() > SCAN_LIMIT_BYTES || clusters <= fixed) {
            return;
        }
        ClusterBitmap used = new ClusterBitmap();
        try {
            mark(used, l1.offset, geo.tableSize());
            for (int i = 0; i < l1.length(); i++) {
                long e = l1.get(i);
                if (e == ENTRY_UNALLOCATED) {
                    continue;
                }
                if (!geo.isValidTableOffset(e, fileSize)) {
                    return;
                }
                mark(used, e, geo.tableSize());
                Table l2 = tables.l2(e);
                for (int j = 0; j < l2.length(); j++) {
                    long v = l2.get(j);
                    if (v == ENTRY_UNALLOCATED || v == ENTRY_ZERO) {
                        continue;
                    }
                    if (!geo.isValidClusterOffset(v, fileSize)) {
                        return;
                    }
                    mark(used, v, 1);
                }
            }
        } catch (ClusterBitmap.TooLargeException e) {
            return;
        }
        for (long c = geo.headerSize(); c < clusters; c++) {
            long off = c << geo.clusterBits();
            if (!used.get(c) && !free.isReusable(off) && !free.isPending(off)) {
                free.addReusable(off, geo.clusterSize());
            }
        }
    }

    private void mark(ClusterBitmap used, long offset, int count) throws ClusterBitmap.TooLargeException {
        for (int k = 0; k < count; k++) {
            used.testAndSet((offset >> geo.clusterBits()) + k);
        }
    }
}
