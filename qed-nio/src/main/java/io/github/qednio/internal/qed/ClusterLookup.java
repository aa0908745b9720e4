package io.github.qednio.internal.qed;

import io.github.qednio.format.CorruptImageException;
import io.github.qednio.format.Geometry;
import java.io.IOException;

import static io.github.qednio.format.Geometry.ENTRY_UNALLOCATED;
import static io.github.qednio.format.Geometry.ENTRY_ZERO;

/**
 * Translates guest offsets through the L1 and L2 tables into {@link Extent}s (QEMU's {@code qed-cluster.c}). Runs
 * without the allocation lock: table entries are atomics, and an entry is only ever changed from unallocated (or
 * zero) to its final value.
 */
public final class ClusterLookup {
    private final String name;
    private final Geometry geo;
    private final L1Table l1;
    private final L2Cache l2Cache;
    private final ClusterAllocator allocator;

    public ClusterLookup(String name, Geometry geo, L1Table l1, L2Cache l2Cache, ClusterAllocator allocator) {
        this.name = name;
        this.geo = geo;
        this.l1 = l1;
        this.l2Cache = l2Cache;
        this.allocator = allocator;
    }

    /** The L1 table in memory: the entries that cover the virtual size. */
    Table l1() {
        return l1.table();
    }

    /** The L1 table with its loading state. */
    public L1Table l1Table() {
        return l1;
    }

    /**
     * Finds the run starting at {@code pos} (ending no later than {@code end}, never crossing an L2 table's range)
     * whose clusters share one state: all unallocated, all zero, or allocated and contiguous in the file.
     *
     * @throws CorruptImageException if a table entry on the way is not a valid offset
     */
    public Extent lookup(long pos, long end) throws IOException {
        long span = geo.bytesPerL2();
        long tableEnd = pos - pos % span + span;
        long chunkEnd = tableEnd < 0 ? end : Math.min(end, tableEnd);
        int l1i = geo.l1Index(pos);
        long l1e = l1.table().get(l1i);
        if (l1e == ENTRY_UNALLOCATED) {
            return new Extent(pos, chunkEnd - pos, Extent.Kind.UNALLOCATED, -1);
        }
        Table l2 = l2Table(l1i, l1e);
        int idx = geo.l2Index(pos);
        long first = l2.get(idx);
        int cs = geo.clusterSize();
        long runEnd = geo.roundDownToCluster(pos) + cs;
        int k = 1;
        if (first == ENTRY_UNALLOCATED || first == ENTRY_ZERO) {
            while (runEnd < chunkEnd && l2.get(idx + k) == first) {
                runEnd += cs;
                k++;
            }
            return new Extent(pos, Math.min(runEnd, chunkEnd) - pos,
                    first == ENTRY_ZERO ? Extent.Kind.ZERO : Extent.Kind.UNALLOCATED, -1);
        }
        long fileSize = allocator.nextAllocationOffset();
        if (!geo.isValidClusterOffset(first, fileSize)) {
            throw invalidL2Entry(l2, idx, first, fileSize);
        }
        while (runEnd < chunkEnd) {
            long next = l2.get(idx + k);
            if (next != first + (long) k * cs || !geo.isValidClusterOffset(next, fileSize)) {
                break;
            }
            runEnd += cs;
            k++;
        }
        return new Extent(pos, Math.min(runEnd, chunkEnd) - pos, Extent.Kind.DATA,
                first + geo.offsetInCluster(pos));
    }

    private Table l2Table(int l1i, long l1e) throws IOException {
        long fileSize = allocator.nextAllocationOffset();
        if (!geo.isValidTableOffset(l1e, fileSize)) {
            throw new CorruptImageException("L1 entry", String.format(
                    "%s: L1 entry %d is 0x%x, not the cluster-aligned offset of a %d-byte L2 table in [0x%x, 0x%x)"
                            + " (run check with repair to clear it)", name, l1i, l1e, geo.tableBytes(),
                    geo.headerBytes(), fileSize));
        }
        return l2Cache.get(l1e);
    }

    private CorruptImageException invalidL2Entry(Table l2, int idx, long value, long fileSize) {
        return new CorruptImageException("L2 entry", String.format(
                "%s: entry %d of the L2 table at 0x%x is 0x%x, not a cluster-aligned offset in [0x%x, 0x%x)"
                        + " (run check with repair to clear it)", name, idx, l2.offset, value,
                geo.headerBytes(), fileSize));
    }
}
