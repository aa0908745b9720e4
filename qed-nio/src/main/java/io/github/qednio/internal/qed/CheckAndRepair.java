package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.Storage;
import io.github.qednio.format.Geometry;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Check and repair of one image ({@code qed-check.c} plus qemu-img's "double check"): runs
 * {@link ConsistencyCheck} under the allocation lock through the narrow {@link ConsistencyCheck.Target} view of
 * the image's tables ({@link InUse}). A repair clears invalid entries ({@link Repair#ERRORS}), then clears leaks
 * by compaction ({@link Repair#LEAKS}, only on an image without corruptions), makes everything durable, and checks
 * again from the file alone (header, tables and length as a fresh open would read them, nothing this open image
 * knows): that check is the result, the fixed counts are what it finds fewer than the first pass, and
 * {@code QED_F_NEED_CHECK} is cleared only if it finds no corruption.
 */
public final class CheckAndRepair {
    /** Clears every leaked cluster of a consistent image: a compaction ({@link Compaction#run}). */
    public interface LeakClearer {
        void clearLeaks() throws IOException;
    }

    private final Storage storage;
    private final Geometry geo;
    private final ReentrantLock lock;
    private final HeaderState header;
    private final ClusterLookup lookup;
    private final L2Cache l2Cache;
    private final TableIO tableIO;
    private final ClusterAllocator allocator;
    private final FreeClusters free;
    private LeakClearer leaks;

    public CheckAndRepair(Storage storage, Geometry geo, ReentrantLock lock, HeaderState header, ClusterLookup lookup,
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

    /** What clears leaks (set once, after construction). */
    public void setLeakClearer(LeakClearer leaks) {
        this.leaks = leaks;
    }

    public CheckResult check(Repair repair) throws IOException {
        lock.lock();
        try {
            l2Cache.writeBack(); // the check reads the tables from the file: deferred L2 updates must be there
            CheckResult first = new ConsistencyCheck(new InUse(), repair).run();
            if (repair == Repair.NONE) {
                // Clusters this image freed (discarded, or left by a compaction) are not leaks to its own check.
                long known = (free.reusableBytes() + free.pendingBytes()) >> geo.clusterBits();
                return withCounts(first, first.corruptions(), Math.max(0, first.leaks() - known), 0, 0);
            }
            l2Cache.clear(); // entries the first pass cleared were written past the cache
            // With corruptions left, a table skipped as a duplicate may reference clusters counted as leaked;
            // moving data over them could destroy it, so leaks are cleared only from an otherwise consistent image.
            if (repair.fixesLeaks() && first.leaks() > 0 && first.isConsistent()) {
                leaks.clearLeaks();
            }
            l2Cache.writeBack();
            storage.force();
            l2Cache.clear();
            CheckResult fresh = new ConsistencyCheck(new FileTables(), Repair.NONE).run();
            if (fresh.isConsistent() && header.needsCheck()) {
                header.clearNeedCheck();
            }
            long found = first.corruptions() + first.corruptionsFixed();
            return withCounts(fresh, fresh.corruptions(), fresh.leaks(),
                    Math.max(0, found - fresh.corruptions()), Math.max(0, first.leaks() - fresh.leaks()));
        } finally {
            lock.unlock();
        }
    }

    private static CheckResult withCounts(CheckResult r, long corruptions, long leaks, long corruptionsFixed,
                                          long leaksFixed) {
        return new CheckResult(r.totalClusters(), r.allocatedClusters(), r.fragmentedClusters(), corruptions, leaks,
                r.checkErrors(), corruptionsFixed, leaksFixed);
    }

    /**
     * The whole L1 table, as QEMU checks it: the one in memory if it is all loaded, else a copy read from disk
     * (which equals the loaded part, since L1 updates are written through).
     */
    public Table l1() throws IOException {
        L1Table l1 = lookup.l1Table();
        return l1.isComplete() ? l1.table() : tableIO.read(l1.offset());
    }

    /** What both views of the image share: its file, its geometry, and L2 tables read from the file. */
    private abstract class FileView implements ConsistencyCheck.Target {
        @Override
        public String name() {
            return storage.name();
        }

        @Override
        public Geometry geometry() {
            return geo;
        }

        @Override
        public Table readL2(long offset) throws IOException {
            return tableIO.read(offset);
        }
    }

    /** The image as it is in use: its header and L1 table in memory, which a repair writes through. */
    private final class InUse extends FileView {
        @Override
        public long virtualSize() {
            return header.imageSize();
        }

        @Override
        public long nextAllocationOffset() {
            return allocator.nextAllocationOffset();
        }

        @Override
        public Table l1() throws IOException {
            return CheckAndRepair.this.l1();
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
        public void writeL2(Table l2) throws IOException {
            tableIO.writeAll(l2);
        }
    }

    /**
     * The image as a fresh open would find it: the header, the tables and the length of the file, read from the
     * file. Only read: the check through it repairs nothing.
     */
    private final class FileTables extends FileView {
        private final QedHeader onDisk;
        private final long fileSize;

        FileTables() throws IOException {
            ByteBuffer hb = ByteBuffer.allocate(QedHeader.HEADER_LENGTH);
            storage.readFully(hb, 0);
            onDisk = QedHeader.decode(hb.flip(), storage.name());
            fileSize = geo.roundDownToCluster(storage.size());
        }

        @Override
        public long virtualSize() {
            return onDisk.imageSize();
        }

        @Override
        public long nextAllocationOffset() {
            return fileSize;
        }

        @Override
        public Table l1() throws IOException {
            return tableIO.read(onDisk.l1TableOffset());
        }

        @Override
        public void writeL1(Table l1) {
            throw new UnsupportedOperationException("a check of the file as it is writes nothing");
        }

        @Override
        public void writeL2(Table l2) {
            throw new UnsupportedOperationException("a check of the file as it is writes nothing");
        }
    }
}
