package io.github.qednio.engine;

import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Check and repair of one image ({@code qed-check.c} plus qemu-img's "double check"): runs
 * {@link ConsistencyCheck} under the allocation lock through the narrow {@link ConsistencyCheck.Target} view of
 * the image's tables, checks again after a repair, and clears {@code QED_F_NEED_CHECK} if no corruption remains.
 */
final class CheckAndRepair implements ConsistencyCheck.Target {
    private final Storage storage;
    private final Geometry geo;
    private final ReentrantLock lock;
    private final HeaderState header;
    private final ClusterLookup lookup;
    private final L2Cache l2Cache;
    private final TableIO tableIO;
    private final ClusterAllocator allocator;
    private final FreeClusters free;
    private FreeSpace space;

    CheckAndRepair(Storage storage, Geometry geo, ReentrantLock lock, HeaderState header, ClusterLookup lookup,
                   L2Cache l2Cache, TableIO tableIO, ClusterAllocator allocator, FreeClusters free) {
        this.free = free;
        this.storage = storage;
        this.geo = geo;
        this.lock = lock;
        this.header = header;
        this.lookup = lookup;
        this.l2Cache = l2Cache;
        this.tableIO = tableIO;
        this.allocator = allocator;
    }

    CheckResult check(Repair repair) throws IOException {
        lock.lock();
        try {
            l2Cache.writeBack(); // the check reads the tables from the file: deferred L2 updates must be there
            CheckResult first = new ConsistencyCheck(this, repair).run();
            if (repair == Repair.NONE) {
                return first;
            }
            l2Cache.clear();
            CheckResult second = new ConsistencyCheck(this, Repair.NONE).run();
            if (second.isConsistent() && header.needsCheck()) {
                storage.force();
                header.clearNeedCheck();
            }
            return new CheckResult(second.totalClusters(), second.allocatedClusters(),
                    second.fragmentedClusters(), second.corruptions(), second.leaks(), second.checkErrors(),
                    first.corruptionsFixed(), first.leaksFixed());
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String name() {
        return storage.name();
    }

    @Override
    public Geometry geometry() {
        return geo;
    }

    @Override
    public long virtualSize() {
        return header.imageSize();
    }

    @Override
    public long nextAllocationOffset() {
        return allocator.nextAllocationOffset();
    }

    /**
     * The whole L1 table, as QEMU checks it: the one in memory if it is all loaded, else a copy read from disk
     * (which equals the loaded part, since L1 updates are written through).
     */
    @Override
    public Table l1() throws IOException {
        L1Table l1 = lookup.l1Table();
        return l1.isComplete() ? l1.table() : tableIO.read(l1.offset());
    }

    @Override
    public void writeL1(Table l1) throws IOException {
        tableIO.writeAll(l1);
        Table loaded = lookup.l1();
        if (loaded != l1) {
            for (int i = 0; i < loaded.length(); i++) {
                loaded.set(i, l1.get(i));
            }
        }
    }

    @Override
    public Table readL2(long offset) throws IOException {
        return tableIO.read(offset);
    }

    @Override
    public void writeL2(Table l2) throws IOException {
        tableIO.writeAll(l2);
    }

    /** Where reclaimed leaks go (set once, after construction). */
    void setFreeSpace(FreeSpace space) {
        this.space = space;
    }

    @Override
    public long knownFreeClusters() {
        return (free.reusableBytes() + free.pendingBytes()) >> geo.clusterBits();
    }

    @Override
    public long reclaimLeaks(ClusterBitmap used, long clusters) throws IOException {
        return space.reclaimLeaks(used, geo.headerSize(), clusters, geo.clusterBits());
    }
}
