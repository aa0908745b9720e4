package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.Progress;
import io.github.qednio.image.Repair;
import io.github.qednio.format.Geometry;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;

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
    private final QedState st;

    CheckAndRepair(QedState st) {
        this.st = st;
    }

    public CheckResult check(Repair repair) throws IOException {
        st.lock.lock();
        try {
            st.l2Cache.writeBack(); // the check reads the tables from the file: deferred L2 updates must be there
            CheckResult first = new ConsistencyCheck(new InUse(), repair).run();
            if (repair == Repair.NONE) {
                // Clusters this image freed (discarded, or left by a compaction) are not leaks to its own check.
                long known = (st.free.reusableBytes() + st.free.pendingBytes()) >> st.geo.clusterBits();
                return withCounts(first, first.corruptions(), Math.max(0, first.leaks() - known), 0, 0);
            }
            st.l2Cache.clear(); // entries the first pass cleared were written past the cache
            // With corruptions left, a table skipped as a duplicate may reference clusters counted as leaked;
            // moving data over them could destroy it, so leaks are cleared only from an otherwise consistent image.
            if (repair.fixesLeaks() && first.leaks() > 0 && first.isConsistent()) {
                st.compaction.run(Progress.NONE); // reclaims every leaked cluster
            }
            st.l2Cache.writeBack();
            st.storage.force();
            st.l2Cache.clear();
            CheckResult fresh = new ConsistencyCheck(new FileTables(), Repair.NONE).run();
            if (fresh.isConsistent() && st.header.needsCheck()) {
                st.header.clearNeedCheck();
            }
            long found = first.corruptions() + first.corruptionsFixed();
            return withCounts(fresh, fresh.corruptions(), fresh.leaks(),
                    Math.max(0, found - fresh.corruptions()), Math.max(0, first.leaks() - fresh.leaks()));
        } finally {
            st.lock.unlock();
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
        L1Table l1 = st.lookup.l1Table();
        return l1.isComplete() ? l1.table() : st.tableIO.read(l1.offset());
    }

    /** What both views of the image share: its file, its geometry, and L2 tables read from the file. */
    private abstract class FileView implements ConsistencyCheck.Target {
        @Override
        public String name() {
            return st.storage.name();
        }

        @Override
        public Geometry geometry() {
            return st.geo;
        }

        @Override
        public Table readL2(long offset) throws IOException {
            return st.tableIO.read(offset);
        }
    }

    /** The image as it is in use: its header and L1 table in memory, which a repair writes through. */
    private final class InUse extends FileView {
        @Override
        public long virtualSize() {
            return st.header.imageSize();
        }

        @Override
        public long nextAllocationOffset() {
            return st.allocator.nextAllocationOffset();
        }

        @Override
        public Table l1() throws IOException {
            return CheckAndRepair.this.l1();
        }

        @Override
        public void writeL1(Table l1) throws IOException {
            st.tableIO.writeAll(l1);
            Table loaded = st.lookup.l1();
            if (loaded != l1) {
                for (int i = 0; i < loaded.length(); i++) {
                    loaded.set(i, l1.get(i));
                }
            }
        }

        @Override
        public void writeL2(Table l2) throws IOException {
            st.tableIO.writeAll(l2);
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
            st.storage.readFully(hb, 0);
            onDisk = QedHeader.decode(hb.flip(), st.storage.name());
            fileSize = st.geo.roundDownToCluster(st.storage.size());
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
            return st.tableIO.read(onDisk.l1TableOffset());
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
