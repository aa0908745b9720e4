package io.github.qednio.internal.qed;

import io.github.qednio.format.Geometry;
import java.io.IOException;

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

    private boolean scanned;

    private final QedState st;

    FreeSpace(QedState st) {
        this.st = st;
    }

    /**
     * Called right after a flush wrote every deferred table update back and forced the file: the pending clusters'
     * freeing updates are durable now. Waits for the operations that may still use them, makes them reusable, and
     * cuts free space at the end of the file off.
     */
    public void afterFlush() throws IOException {
        if (st.free.pendingBytes() > 0) {
            st.guard.awaitQuiescence();
            st.free.promote();
        }
        st.allocator.trimFreeTail();
    }

    /** An allocation could use the pending clusters: flush the tables that freed them, then make them reusable. */
    public void reclaimFreed() throws IOException {
        st.lock.lock();
        try {
            st.l2Cache.writeBack();
            st.storage.force();
            afterFlush();
        } finally {
            st.lock.unlock();
        }
    }

    /**
     * After a compaction found every cluster in use in {@code used} (with the tables on disk up to date), makes
     * every other cluster of the file past the header reusable and cuts those at the end off.
     *
     * @return the number of clusters reclaimed that were not known to be free before
     */
    long reclaimLeaks(ClusterBitmap used, long firstCluster, long clusters, int clusterBits) throws IOException {
        st.storage.force(); // the repair's own table writes must be durable before their clusters are reused
        st.guard.awaitQuiescence();
        long known = (st.free.reusableBytes() + st.free.pendingBytes()) >> clusterBits;
        st.free.clear();
        long found = 0;
        for (long c = firstCluster; c < clusters; c++) {
            if (!used.get(c)) {
                st.free.addReusable(c << clusterBits, 1L << clusterBits);
                found++;
            }
        }
        st.allocator.trimFreeTail();
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
        long fileSize = st.allocator.nextAllocationOffset();
        Table l1 = st.checker.l1();
        long tableCount = 0;
        for (int i = 0; i < l1.length(); i++) {
            tableCount += l1.get(i) != ENTRY_UNALLOCATED ? 1 : 0;
        }
        long clusters = fileSize >> st.geo.clusterBits();
        long fixed = st.geo.headerSize() + st.geo.tableSize() * (tableCount + 1);
        if (tableCount * st.geo.tableBytes() > SCAN_LIMIT_BYTES || clusters <= fixed) {
            return;
        }
        ClusterBitmap used = new ClusterBitmap();
        try {
            mark(used, l1.offset, st.geo.tableSize());
            for (int i = 0; i < l1.length(); i++) {
                long e = l1.get(i);
                if (e == ENTRY_UNALLOCATED) {
                    continue;
                }
                if (!st.geo.isValidTableOffset(e, fileSize)) {
                    return;
                }
                mark(used, e, st.geo.tableSize());
                Table l2 = st.l2Cache.get(e);
                for (int j = 0; j < l2.length(); j++) {
                    long v = l2.get(j);
                    if (v == ENTRY_UNALLOCATED || v == ENTRY_ZERO) {
                        continue;
                    }
                    if (!st.geo.isValidClusterOffset(v, fileSize)) {
                        return;
                    }
                    mark(used, v, 1);
                }
            }
        } catch (ClusterBitmap.TooLargeException e) {
            return;
        }
        for (long c = st.geo.headerSize(); c < clusters; c++) {
            long off = c << st.geo.clusterBits();
            if (!used.get(c) && !st.free.isReusable(off) && !st.free.isPending(off)) {
                st.free.addReusable(off, st.geo.clusterSize());
            }
        }
    }

    private void mark(ClusterBitmap used, long offset, int count) throws ClusterBitmap.TooLargeException {
        for (int k = 0; k < count; k++) {
            used.testAndSet((offset >> st.geo.clusterBits()) + k);
        }
    }
}
