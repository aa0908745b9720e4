package io.github.qednio.internal.qed;

import io.github.qednio.image.CacheBudget;
import io.github.qednio.internal.storage.MemoryStorage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

/**
 * The L2 cache: bounded by its table count and by a shared budget, hints never serving a table that left the
 * cache, updates deferred until write-back, dirty tables written back (never dropped) before eviction.
 */
class L2CacheTest {
    /** 4 KiB clusters, 1-cluster tables: 512 entries (4 KiB) per table. */
    private static final Geometry GEO = Geometry.of(4096, 1, 1);
    private static final long TB = 4096;

    private final MemoryStorage disk = new MemoryStorage();
    private final TableIO io = new TableIO(disk, GEO);

    /** Table {@code k} lies at {@code (k + 1) * 4096}; entry 0 on disk holds {@code 1000 + k}. */
    private static long at(int k) {
        return (k + 1) * TB;
    }

    private void tablesOnDisk(int count) {
        for (int k = 0; k < count; k++) {
            disk.putLong(at(k), 1000 + k);
        }
        disk.putLong(at(count) - 8, 0); // the file ends with the last table
    }

    @Test
    void theCacheKeepsAtMostItsTableCountAndGivesTheBudgetBackOnRelease() throws IOException {
        tablesOnDisk(6);
        CacheBudget budget = CacheBudget.ofBytes(100 * TB);
        L2Cache cache = new L2Cache(io, budget, 2, L2Cache.NO_BARRIER);
        for (int k = 0; k < 6; k++) {
            assertThat(cache.get(at(k)).get(0)).isEqualTo(1000 + k);
            assertThat(cache.size()).as("after loading table %d", k).isEqualTo(Math.min(k + 1, 2));
        }
        assertThat(budget.used()).isEqualTo(2 * TB);
        cache.release();
        assertThat(budget.used()).isZero();
        assertThat(cache.size()).isZero();
    }

    @Test
    void evictionDropsTheTableLoadedFirst() throws IOException {
        tablesOnDisk(3);
        L2Cache cache = new L2Cache(io, CacheBudget.ofBytes(100 * TB), 2, L2Cache.NO_BARRIER);
        cache.get(at(0));
        Table t1 = cache.get(at(1));
        cache.get(at(0));              // a hit through the hint: does not refresh the order (QEMU's cache is FIFO)
        cache.get(at(2));              // evicts t0
        assertThat(cache.get(at(1))).as("t1 stayed").isSameAs(t1);
        disk.putLong(at(0), 42);
        assertThat(cache.get(at(0)).get(0)).as("t0 reread").isEqualTo(42);
    }

    @Test
    void aHintNeverServesATableThatWasEvicted() throws IOException {
        tablesOnDisk(2);
        L2Cache cache = new L2Cache(io, CacheBudget.ofBytes(100 * TB), 1, L2Cache.NO_BARRIER);
        Table old = cache.get(at(0));
        cache.get(at(1));              // evicts table 0 (capacity 1)
        disk.putLong(at(0), 7);
        Table now = cache.get(at(0));
        assertThat(now).isNotSameAs(old);
        assertThat(now.get(0)).isEqualTo(7);
    }

    @Test
    void aHintNeverServesATableEvictedByAnotherCacheOfTheBudget() throws IOException {
        tablesOnDisk(2);
        CacheBudget budget = CacheBudget.ofBytes(TB);
        L2Cache a = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        L2Cache b = new L2Cache(new TableIO(disk, GEO), budget, 10, L2Cache.NO_BARRIER);
        Table old = a.get(at(0));
        b.get(at(1));                  // the budget holds one table: a's is evicted
        assertThat(a.size()).isZero();
        disk.putLong(at(0), 9);
        assertThat(a.get(at(0))).isNotSameAs(old);
        assertThat(a.get(at(0)).get(0)).isEqualTo(9);
        assertThat(budget.used()).isEqualTo(TB);
    }

    @Test
    void clearDropsCleanTablesAndTheirHints() throws IOException {
        tablesOnDisk(1);
        CacheBudget budget = CacheBudget.ofBytes(100 * TB);
        L2Cache cache = new L2Cache(io, budget, 4, L2Cache.NO_BARRIER);
        Table old = cache.get(at(0));
        disk.putLong(at(0), 5);        // as check-and-repair rewrites a table on disk
        cache.clear();
        assertThat(budget.used()).isZero();
        Table now = cache.get(at(0));
        assertThat(now).isNotSameAs(old);
        assertThat(now.get(0)).isEqualTo(5);
    }

    @Test
    void updatesAreVisibleAtOnceButWrittenOnlyAtWriteBack() throws IOException {
        tablesOnDisk(1);
        List<String> order = new ArrayList<>();
        L2Cache cache = new L2Cache(io, CacheBudget.ofBytes(100 * TB), 4, () -> order.add("barrier"));
        cache.get(at(0));
        disk.clearLog();
        cache.update(at(0), 70, new long[] {0x10000, 0x20000});
        cache.update(at(0), 72, new long[] {0x30000});
        assertThat(cache.get(at(0)).get(71)).isEqualTo(0x20000);
        assertThat(disk.log()).as("nothing written before write-back").isEmpty();
        assertThat(cache.dirtyTables()).isEqualTo(1);
        cache.writeBack();
        assertThat(order).containsExactly("barrier");
        assertThat(disk.log()).as("one sector: entries 64..127").containsExactly("write " + (at(0) + 512) + " 512");
        assertThat(disk.getLong(at(0) + 8 * 72)).isEqualTo(0x30000);
        assertThat(cache.dirtyTables()).isZero();
        cache.writeBack();
        assertThat(order).as("nothing dirty: no barrier").containsExactly("barrier");
        assertThat(disk.log()).hasSize(1);
    }

    @Test
    void writeBackCoversTheSectorsFromTheFirstToTheLastDirtyEntry() throws IOException {
        tablesOnDisk(1);
        L2Cache cache = new L2Cache(io, CacheBudget.ofBytes(100 * TB), 4, L2Cache.NO_BARRIER);
        cache.update(at(0), 200, new long[] {0x10000});
        cache.update(at(0), 3, new long[] {0x20000});
        disk.clearLog();
        cache.writeBack();
        assertThat(disk.log()).containsExactly("write " + at(0) + " " + 256 * 8);
        assertThat(disk.getLong(at(0) + 8 * 3)).isEqualTo(0x20000);
        assertThat(disk.getLong(at(0) + 8 * 200)).isEqualTo(0x10000);
    }

    @Test
    void aDirtyTableIsWrittenBackBeforeItIsEvictedByTheTableCount() throws IOException {
        tablesOnDisk(2);
        List<String> order = new ArrayList<>();
        L2Cache cache = new L2Cache(io, CacheBudget.ofBytes(100 * TB), 1, () -> order.add("barrier"));
        cache.update(at(0), 0, new long[] {0x50000});
        cache.get(at(1));
        assertThat(order).containsExactly("barrier");
        assertThat(disk.getLong(at(0))).as("written back").isEqualTo(0x50000);
        assertThat(cache.size()).isEqualTo(1);
        assertThat(cache.get(at(0)).get(0)).as("reread after eviction").isEqualTo(0x50000);
    }

    @Test
    void aDirtyTableOfAnotherCacheIsWrittenBackInTheBackgroundAndThenEvicted() throws Exception {
        tablesOnDisk(2);
        CacheBudget budget = CacheBudget.ofBytes(TB);
        List<String> order = new ArrayList<>();
        L2Cache a = new L2Cache(io, budget, 10, () -> order.add("barrier a"));
        L2Cache b = new L2Cache(new TableIO(disk, GEO), budget, 10, L2Cache.NO_BARRIER);
        a.update(at(0), 1, new long[] {0x60000});
        assertThat(b.get(at(1)).get(0)).as("served without being kept").isEqualTo(1001);
        assertThat(b.size()).isZero();
        a.awaitBackgroundWriteBack();
        assertThat(order).containsExactly("barrier a");
        assertThat(disk.getLong(at(0) + 8)).isEqualTo(0x60000);
        assertThat(a.dirtyTables()).isZero();
        assertThat(b.get(at(1)).get(0)).isEqualTo(1001);
        assertThat(b.size()).as("a's table, clean now, made room").isEqualTo(1);
        assertThat(a.size()).isZero();
        assertThat(a.get(at(0)).get(1)).isEqualTo(0x60000);
        assertThat(budget.used()).isEqualTo(TB);
    }

    @Test
    void aMissInOneCacheCompletesWhileAnotherCachesLockIsHeld() throws Exception {
        tablesOnDisk(2);
        CacheBudget budget = CacheBudget.ofBytes(TB);
        L2Cache a = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        L2Cache b = new L2Cache(new TableIO(disk, GEO), budget, 10, L2Cache.NO_BARRIER);
        a.get(at(0));                  // a holds the whole budget
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<?> holder = pool.submit(() -> {
                a.lockForTest().lock();
                try {
                    held.countDown();
                    done.await();
                } finally {
                    a.lockForTest().unlock();
                }
                return null;
            });
            held.await();
            assertThat(b.get(at(1)).get(0)).as("b's miss, a's lock held by another thread").isEqualTo(1001);
            b.update(at(1), 2, new long[] {0x61000});
            assertThat(disk.getLong(at(1) + 16)).as("no room: written through").isEqualTo(0x61000);
            done.countDown();
            holder.get();
        } finally {
            done.countDown();
            pool.shutdown();
        }
        assertThat(a.size()).as("a was skipped, not waited for").isEqualTo(1);
        assertThat(budget.used()).isEqualTo(TB);
    }

    @Test
    void aMissInOneCacheCompletesWhileAnotherCachesWriteIsBlocked() throws Exception {
        tablesOnDisk(2);
        MemoryStorage diskA = new MemoryStorage(disk.bytes());
        CacheBudget budget = CacheBudget.ofBytes(TB);
        L2Cache a = new L2Cache(new TableIO(diskA, GEO), budget, 10, L2Cache.NO_BARRIER);
        L2Cache b = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        a.update(at(0), 0, new long[] {0x62000});
        CountDownLatch writing = new CountDownLatch(1);
        CountDownLatch unblock = new CountDownLatch(1);
        diskA.onNextWrite(() -> {
            writing.countDown();
            try {
                unblock.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<?> flush = pool.submit(() -> {
                a.writeBack();         // blocks inside a's storage, holding a's write-back lock
                return null;
            });
            writing.await();
            assertThat(b.get(at(1)).get(0)).as("b's miss, a's write blocked").isEqualTo(1001);
            unblock.countDown();
            flush.get();
        } finally {
            unblock.countDown();
            pool.shutdown();
        }
        a.awaitBackgroundWriteBack();
        assertThat(diskA.getLong(at(0))).isEqualTo(0x62000);
        assertThat(b.get(at(1)).get(0)).isEqualTo(1001);
        assertThat(b.size()).as("a's table, written back, made room").isEqualTo(1);
    }

    @Test
    void aCacheBelowItsFairShareTakesRoomFromAnIdleOneEvenWithRoomOfItsOwnToMake() throws IOException {
        tablesOnDisk(4);
        CacheBudget budget = CacheBudget.ofBytes(3 * TB);
        L2Cache a = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        L2Cache b = new L2Cache(new TableIO(disk, GEO), budget, 10, L2Cache.NO_BARRIER);
        a.get(at(0));
        a.get(at(1));
        b.get(at(2));                  // the budget is full: a holds 2 tables, b 1
        b.get(at(3));                  // b holds less than half: a gives back its least recently used table
        assertThat(a.size()).isEqualTo(1);
        assertThat(b.size()).isEqualTo(2);
        assertThat(budget.used()).isEqualTo(3 * TB);
    }

    @Test
    void aFailedWriteBackKeepsTheEntriesDirtyAndVisibleAndALaterOneWritesThem() throws IOException {
        tablesOnDisk(1);
        L2Cache cache = new L2Cache(io, CacheBudget.ofBytes(100 * TB), 4, L2Cache.NO_BARRIER);
        cache.update(at(0), 9, new long[] {0x70000});
        disk.failWrites(true);
        assertThatThrownBy(cache::writeBack).isInstanceOf(IOException.class).hasMessageContaining("simulated");
        assertThat(cache.dirtyTables()).isEqualTo(1);
        cache.clear();                 // as after a check: a dirty table must survive it
        assertThat(cache.get(at(0)).get(9)).isEqualTo(0x70000);
        disk.failWrites(false);
        cache.writeBack();
        assertThat(cache.dirtyTables()).isZero();
        assertThat(disk.getLong(at(0) + 72)).isEqualTo(0x70000);
    }

    @Test
    void aFailedWriteBarrierWritesNothingAndKeepsTheTableDirty() throws IOException {
        tablesOnDisk(1);
        L2Cache cache = new L2Cache(io, CacheBudget.ofBytes(100 * TB), 4, () -> {
            throw new IOException("fsync failed (simulated)");
        });
        cache.update(at(0), 0, new long[] {0x70000});
        disk.clearLog();
        assertThatThrownBy(cache::writeBack).hasMessageContaining("fsync failed");
        assertThat(disk.log()).isEmpty();
        assertThat(cache.dirtyTables()).isEqualTo(1);
    }

    @Test
    void whenOnlyUnwritableDirtyTablesFillTheBudgetALoadFailsNamingTheBudget() throws IOException {
        tablesOnDisk(3);
        CacheBudget budget = CacheBudget.ofBytes(2 * TB);
        L2Cache cache = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        cache.update(at(0), 0, new long[] {0x80000});
        cache.update(at(1), 0, new long[] {0x81000});
        disk.failWrites(true);
        assertThatThrownBy(() -> cache.get(at(2))).isInstanceOf(IOException.class)
                .hasMessageContaining("mem.qed").hasMessageContaining("0x3000")
                .hasMessageContaining("an L2 cache budget of 8192 bytes is exhausted")
                .satisfies(e -> assertThat(e.getSuppressed()).as("the first write-back failure").hasSize(1))
                .satisfies(e -> assertThat(e.getSuppressed()[0].getSuppressed()).as("and the second").hasSize(1));
        assertThat(budget.used()).as("the failed load charged nothing").isEqualTo(2 * TB);
        assertThat(cache.get(at(0)).get(0)).as("the dirty table kept").isEqualTo(0x80000);
        disk.failWrites(false);
        assertThat(cache.get(at(2)).get(0)).isEqualTo(1002);
        assertThat(disk.getLong(at(0))).isEqualTo(0x80000);
    }

    @Test
    void aNewTableIsCachedOnlyIfTheBudgetHasRoom() throws IOException {
        tablesOnDisk(2);
        CacheBudget budget = CacheBudget.ofBytes(TB);
        L2Cache cache = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        cache.update(at(0), 0, new long[] {0x80000});
        Table fresh = new Table(at(1), GEO.entriesPerTable());
        cache.put(fresh);
        assertThat(cache.size()).as("no room next to a dirty table").isEqualTo(1);
        cache.writeBack();
        cache.put(fresh);
        assertThat(cache.get(at(1))).isSameAs(fresh);
        assertThat(budget.used()).isEqualTo(TB);
    }

    @Test
    void aFailedReadChargesNothing() throws IOException {
        tablesOnDisk(1);
        CacheBudget budget = CacheBudget.ofBytes(100 * TB);
        L2Cache cache = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        assertThatThrownBy(() -> cache.get(at(50))).isInstanceOf(java.io.EOFException.class);
        assertThat(budget.used()).isZero();
        assertThat(cache.size()).isZero();
    }

    @Test
    void afterReleaseTablesAreServedUncachedAndUpdatesRefused() throws IOException {
        tablesOnDisk(1);
        CacheBudget budget = CacheBudget.ofBytes(100 * TB);
        L2Cache cache = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        cache.release();
        assertThat(cache.get(at(0)).get(0)).isEqualTo(1000);
        assertThat(budget.used()).isZero();
        assertThatThrownBy(() -> cache.update(at(0), 0, new long[] {1}))
                .isInstanceOf(java.nio.channels.ClosedChannelException.class);
    }

    @Test
    void aFullBudgetIsUsedToTheLastByteAndCountsOnlyTablesStillCached() throws IOException {
        tablesOnDisk(4);
        CacheBudget budget = CacheBudget.ofBytes(2 * TB);
        L2Cache a = new L2Cache(io, budget, 1, L2Cache.NO_BARRIER);
        L2Cache b = new L2Cache(new TableIO(disk, GEO), budget, 10, L2Cache.NO_BARRIER);
        a.get(at(0));
        a.get(at(1));                  // a's count evicts t0, which leaves the budget too
        b.get(at(2));
        assertThat(a.size() + b.size()).isEqualTo(2);
        assertThat(budget.used()).as("exactly full").isEqualTo(2 * TB);
        b.get(at(3));                  // b holds its fair share: it makes room from its own tables
        assertThat(a.size()).isEqualTo(1);
        assertThat(b.size()).isEqualTo(1);
        assertThat(budget.used()).isEqualTo(2 * TB);
    }

    @Test
    void theBudgetEvictsTheLeastRecentlyUpdatedTableLast() throws IOException {
        tablesOnDisk(3);
        CacheBudget budget = CacheBudget.ofBytes(2 * TB);
        L2Cache cache = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        Table t0 = cache.get(at(0));
        cache.get(at(1));
        cache.update(at(0), 5, new long[] {0x90000}); // t0 becomes the most recently used
        cache.writeBack();
        cache.get(at(2));              // evicts t1
        assertThat(cache.get(at(0))).isSameAs(t0);
        assertThat(cache.size()).isEqualTo(2);
    }

    @Test
    void releaseDropsTheHintsSoLaterReadsSeeTheDisk() throws IOException {
        tablesOnDisk(1);
        L2Cache cache = new L2Cache(io, CacheBudget.ofBytes(100 * TB), 10, L2Cache.NO_BARRIER);
        Table old = cache.get(at(0));
        cache.release();
        disk.putLong(at(0), 77);
        assertThat(cache.get(at(0))).isNotSameAs(old);
        assertThat(cache.get(at(0)).get(0)).isEqualTo(77);
    }

    @Test
    void putKeepsTheCountAndReplacesATableAtTheSameOffset() throws IOException {
        tablesOnDisk(2);
        CacheBudget budget = CacheBudget.ofBytes(100 * TB);
        L2Cache cache = new L2Cache(io, budget, 1, L2Cache.NO_BARRIER);
        cache.put(new Table(at(0), GEO.entriesPerTable()));
        Table second = new Table(at(1), GEO.entriesPerTable());
        cache.put(second);
        assertThat(cache.size()).isEqualTo(1);
        Table again = new Table(at(1), GEO.entriesPerTable());
        cache.put(again);
        assertThat(cache.size()).isEqualTo(1);
        assertThat(budget.used()).isEqualTo(TB);
        assertThat(cache.get(at(1))).isSameAs(again);
    }

    @Test
    void writeBackWritesTablesInFileOrderAndAnEntryZeroStaysInTheDirtyRange() throws IOException {
        tablesOnDisk(2);
        L2Cache cache = new L2Cache(io, CacheBudget.ofBytes(100 * TB), 10, L2Cache.NO_BARRIER);
        cache.update(at(1), 0, new long[] {0x11000});
        cache.update(at(1), 300, new long[] {0x12000});
        cache.update(at(0), 0, new long[] {0x13000});
        disk.clearLog();
        cache.writeBack();
        assertThat(disk.log()).containsExactly("write " + at(0) + " 512", "write " + at(1) + " " + 320 * 8);
        assertThat(disk.getLong(at(1))).isEqualTo(0x11000);
    }

    @Test
    void anEntryChangedDuringItsWriteBackKeepsTheTableDirty() throws IOException {
        tablesOnDisk(2);
        L2Cache cache = new L2Cache(io, CacheBudget.ofBytes(100 * TB), 1, L2Cache.NO_BARRIER);
        cache.update(at(0), 0, new long[] {0x21000});
        disk.onNextWrite(() -> {
            try {
                cache.update(at(0), 0, new long[] {0x22000});
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        });
        cache.writeBack();
        assertThat(cache.dirtyTables()).as("changed while written").isEqualTo(1);
        disk.onNextWrite(() -> {
            try {
                cache.update(at(0), 1, new long[] {0x23000});
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        });
        cache.get(at(1));              // the count evicts t0: written back until it stays clean
        assertThat(disk.getLong(at(0))).isEqualTo(0x22000);
        assertThat(disk.getLong(at(0) + 8)).isEqualTo(0x23000);
        assertThat(cache.get(at(0)).get(1)).isEqualTo(0x23000);
    }

    @Test
    void everyLockIsReleasedForOtherThreads() throws Exception {
        tablesOnDisk(2);
        CacheBudget budget = CacheBudget.ofBytes(TB);
        L2Cache cache = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        L2Cache other = new L2Cache(new TableIO(disk, GEO), budget, 10, L2Cache.NO_BARRIER);
        cache.get(at(0));
        cache.update(at(0), 0, new long[] {0x31000});
        cache.update(at(1), 0, new long[] {0x32000}); // writes t0 back for room: both locks taken and released
        cache.writeBack();
        cache.update(at(1), 1, new long[] {0x33000});
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            // A lock left held above would block these calls from another thread forever (PIT: timed out).
            pool.submit(() -> {
                other.get(at(0));      // evicts cache's dirty t1 through its write-back lock
                cache.get(at(0));      // a load under the stripe lock that the first get took
                cache.get(at(1));
                cache.update(at(1), 2, new long[] {0x34000});
                cache.writeBack();
                return null;
            }).get();
        } finally {
            pool.shutdown();
        }
        assertThat(disk.getLong(at(1) + 16)).isEqualTo(0x34000);
    }

    @Test
    void aHitThroughTheMapAfterAHintCollisionRefreshesTheBudgetsOrder() throws IOException {
        tablesOnDisk(64);
        CacheBudget budget = CacheBudget.ofBytes(2 * TB);
        L2Cache cache = new L2Cache(io, budget, 10, L2Cache.NO_BARRIER);
        int j = -1;
        int k = -1;
        for (int a = 0; a < 64 && k < 0; a++) {
            for (int b = a + 1; b < 64 && k < 0; b++) {
                if (cache.slot(at(a)) == cache.slot(at(b))) {
                    j = a;
                    k = b;
                }
            }
        }
        assertThat(k).as("two tables sharing a hint slot (pigeonhole: 64 tables, 32 slots)").isPositive();
        int m = j == 0 ? (k == 1 ? 2 : 1) : 0;
        Table tj = cache.get(at(j));
        cache.get(at(k));              // takes tj's hint slot
        assertThat(cache.get(at(j))).isSameAs(tj); // found in the map: now the most recently used
        cache.get(at(m));              // the budget evicts tk, not tj
        assertThat(cache.get(at(j))).isSameAs(tj);
    }
}
