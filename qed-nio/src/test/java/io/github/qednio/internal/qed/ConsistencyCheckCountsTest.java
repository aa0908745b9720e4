package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.Repair;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link ConsistencyCheck}'s counts and repairs on small hand-made layouts (4 KiB clusters, one-cluster tables, a
 * one-cluster header; cluster 1 holds L1), through its narrow {@link ConsistencyCheck.Target} interface: each layout
 * has exactly one thing to find, so each count and each write the check makes is pinned down. The interop cases
 * (the same counts as {@code qemu-img check}) are in {@code ConsistencyCheckTest}.
 */
class ConsistencyCheckCountsTest {
    private static final int CS = 4096;
    private static final Geometry GEO = Geometry.of(CS, 1, 1);

    /** An image in memory: L1 at cluster 1, L2 tables by offset, and a record of what the check writes. */
    private static final class Layout implements ConsistencyCheck.Target {
        final long fileEnd;
        final Table l1 = new Table(CS, GEO.entriesPerTable());
        final Map<Long, Table> l2 = new HashMap<>();
        final List<Long> unreadable = new ArrayList<>();
        final List<String> writes = new ArrayList<>();

        Layout(int clusters) {
            this.fileEnd = (long) clusters * CS;
        }

        /** An L2 table at {@code cluster}, linked from L1 entry {@code l1Index}, with entries at clusters. */
        Layout table(int l1Index, int cluster, long... dataClusters) {
            Table t = new Table((long) cluster * CS, GEO.entriesPerTable());
            for (int i = 0; i < dataClusters.length; i++) {
                long c = dataClusters[i];
                t.set(i, c == Geometry.ENTRY_ZERO || c == Geometry.ENTRY_UNALLOCATED ? c : c * CS);
            }
            l1.set(l1Index, t.offset);
            l2.put(t.offset, t);
            return this;
        }

        @Override
        public String name() {
            return "layout";
        }

        @Override
        public Geometry geometry() {
            return GEO;
        }

        @Override
        public long virtualSize() {
            return 4L * GEO.bytesPerL2();
        }

        @Override
        public long nextAllocationOffset() {
            return fileEnd;
        }

        @Override
        public Table l1() {
            return l1;
        }

        @Override
        public void writeL1(Table t) {
            writes.add("L1");
        }

        @Override
        public Table readL2(long offset) throws IOException {
            if (unreadable.contains(offset)) {
                throw new IOException("layout: cannot read the L2 table at " + offset);
            }
            return l2.get(offset);
        }

        @Override
        public void writeL2(Table t) {
            writes.add("L2@" + t.offset / CS);
        }
    }

    private static CheckResult check(Layout l, Repair repair) throws IOException {
        return new ConsistencyCheck(l, repair).run();
    }

    @Test
    void aConsistentImageHasNoFindingsAndCountsAllocatedAndFragmentedClusters() throws IOException {
        // Data at 3, 4, 6, 5: two entries do not follow the one before (6 after 4, 5 after 6).
        Layout l = new Layout(7).table(0, 2, 3, 4, 6, 5, Geometry.ENTRY_ZERO);
        CheckResult r = check(l, Repair.ERRORS_AND_LEAKS);
        assertThat(r).isEqualTo(new CheckResult(4 * 512, 4, 2, 0, 0, 0, 0, 0));
        assertThat(l.writes).isEmpty();
    }

    @Test
    void anUnreadableL2TableIsACheckErrorAndThenNoLeakIsCountedOrCut() throws IOException {
        // Cluster 5 is referenced by nothing readable; the unreadable table at 4 might reference it.
        Layout l = new Layout(6).table(0, 2, 3).table(1, 4, 5);
        l.unreadable.add(4L * CS);
        CheckResult r = check(l, Repair.ERRORS_AND_LEAKS);
        assertThat(r.checkErrors()).isEqualTo(1);
        assertThat(r.leaks()).isZero();
        assertThat(r.leaksFixed()).isZero();
        assertThat(r.allocatedClusters()).isEqualTo(1);
        assertThat(l.writes).isEmpty();
    }

    @Test
    void leakedClustersAreCountedWhereverTheyAreAndNeverTouchedByTheCheckItself() throws IOException {
        // Used: header 0, L1 1, L2 2, data 4. Leaked: 3 (before data) and 5, 6 (at the end).
        for (Repair repair : Repair.values()) {
            Layout l = new Layout(7).table(0, 2, 4);
            CheckResult r = check(l, repair);
            assertThat(r.leaks()).as("%s", repair).isEqualTo(3);
            assertThat(r.leaksFixed()).as("%s: clearing leaks is CheckAndRepair's", repair).isZero();
            assertThat(l.writes).as("%s", repair).isEmpty();
        }
    }

    @Test
    void onlyARepairOfErrorsClearsAnInvalidEntry() throws IOException {
        for (Repair repair : Repair.values()) {
            Layout l = new Layout(4).table(0, 2, 3, 9);
            CheckResult r = check(l, repair);
            boolean fixes = repair == Repair.ERRORS || repair == Repair.ERRORS_AND_LEAKS;
            assertThat(r.corruptions()).as("%s", repair).isEqualTo(fixes ? 0 : 1);
            assertThat(r.corruptionsFixed()).as("%s", repair).isEqualTo(fixes ? 1 : 0);
            assertThat(l.writes).as("%s", repair).hasSize(fixes ? 1 : 0);
        }
    }

    @Test
    void anL2EntryPastTheEndOfTheFileIsCountedOrClearedAndItsTableWrittenBack() throws IOException {
        Layout found = new Layout(4).table(0, 2, 3, 9);
        CheckResult r = check(found, Repair.NONE);
        assertThat(r.corruptions()).isEqualTo(1);
        assertThat(r.corruptionsFixed()).isZero();
        assertThat(found.writes).isEmpty();
        assertThat(found.l2.get(2L * CS).get(1)).isEqualTo(9L * CS);

        Layout repaired = new Layout(4).table(0, 2, 3, 9);
        CheckResult fixed = check(repaired, Repair.ERRORS);
        assertThat(fixed.corruptions()).isZero();
        assertThat(fixed.corruptionsFixed()).isEqualTo(1);
        assertThat(repaired.writes).containsExactly("L2@2");
        assertThat(repaired.l2.get(2L * CS).get(1)).isEqualTo(Geometry.ENTRY_UNALLOCATED);
        assertThat(repaired.l2.get(2L * CS).get(0)).as("valid entries kept").isEqualTo(3L * CS);
    }

    @Test
    void anL1EntryPastTheEndOfTheFileIsCountedOrClearedAndL1WrittenBack() throws IOException {
        Layout found = new Layout(4).table(0, 2, 3);
        found.l1.set(1, 8L * CS);
        assertThat(check(found, Repair.NONE).corruptions()).isEqualTo(1);
        assertThat(found.writes).isEmpty();

        Layout repaired = new Layout(4).table(0, 2, 3);
        repaired.l1.set(1, 8L * CS);
        CheckResult fixed = check(repaired, Repair.ERRORS);
        assertThat(fixed.corruptionsFixed()).isEqualTo(1);
        assertThat(fixed.corruptions()).isZero();
        assertThat(repaired.writes).containsExactly("L1");
        assertThat(repaired.l1.get(1)).isEqualTo(Geometry.ENTRY_UNALLOCATED);
        assertThat(repaired.l1.get(0)).isEqualTo(2L * CS);
    }

    @Test
    void aTableReferencedTwiceIsScannedOnceAndCountedOncePerSharedCluster() throws IOException {
        // L1 entries 0 and 1 both point at the table in cluster 2; cluster 5 is leaked at the end.
        Layout l = new Layout(6).table(0, 2, 3);
        l.l1.set(1, 2L * CS);
        CheckResult r = check(l, Repair.ERRORS_AND_LEAKS);
        assertThat(r.corruptions()).isEqualTo(1);
        assertThat(r.allocatedClusters()).as("scanned once").isEqualTo(1);
        assertThat(r.leaks()).isEqualTo(2);
        assertThat(r.leaksFixed()).isZero();
        assertThat(l.writes).isEmpty();
    }

    @Test
    void aDataClusterReferencedTwiceIsOneCorruption() throws IOException {
        Layout l = new Layout(4).table(0, 2, 3, 3);
        CheckResult r = check(l, Repair.ERRORS);
        assertThat(r.corruptions()).isEqualTo(1);
        assertThat(r.allocatedClusters()).isEqualTo(2);
        assertThat(r.fragmentedClusters()).isEqualTo(1);
        assertThat(l.writes).isEmpty();
    }
}
