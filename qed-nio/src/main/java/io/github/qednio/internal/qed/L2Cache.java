package io.github.qednio.internal.qed;

import io.github.qednio.image.CacheBudget;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * A cache of L2 tables keyed by file offset, bounded by a table count (QEMU keeps 50 tables) and by the bytes of a
 * {@link CacheBudget} shared with other images, least recently used first out.
 *
 * <p>Updates to existing tables are deferred: {@link #update} changes the cached table and marks the changed
 * entries dirty; {@link #writeBack()} (at flush, close and check) and eviction write them out, sector by sector as
 * QEMU does. A dirty table is never dropped: eviction writes it back first, and a failed write-back keeps it dirty.
 * This is crash-safe because {@code QED_F_NEED_CHECK} is durable before the first allocation: after a crash the
 * clusters of unwritten entries are leaks that the next read-write open repairs, and only unflushed writes are lost.
 * With a backing file the data must be durable before an entry points at it (notes §8.4): the write-back barrier
 * (a force of the image file) runs before entries are written, once per write-back rather than once per write.
 *
 * <p>Tables are loaded under a per-offset lock, so one table is read once however many threads miss on it. Hits go
 * through a direct-mapped array of hints first, without a lock or an allocation, so that threads reading one image
 * do not serialise. A hint is only ever set (under the cache's lock) to a table that is in the map, and cleared
 * (under the same lock) when that table leaves the map, so a hint never outlives the table's place in the cache.
 * Hits through a hint do not refresh the LRU order.
 *
 * <p>A cache miss in one image never waits on another image's lock or I/O. The budget only counts bytes; each cache
 * keeps its own LRU order under its own lock and makes room from its own tables (evicting clean ones, writing its own
 * dirty ones back). So that an idle image cannot hold the budget forever, a cache holding less than its fair share
 * (the limit divided by the caches drawing from it) first asks the others to shrink, and that request never waits:
 * the other cache takes its lock with {@code tryLock} and skips the request if the lock is busy, gives back its least
 * recently used clean table if it has one, and if it has only dirty tables starts a write-back of them on a
 * background daemon thread and says no, so that they are clean for a later request. Locks are never waited for
 * in a circle because the only lock taken on another cache is a {@code tryLock}. When no room can be made at once,
 * a read is served by a table that is read but not kept, and an update is written through at once (the write-back
 * barrier first); only when this cache's own dirty tables cannot be written back (or a table is larger than the whole
 * budget) does a load fail with the budget's "exhausted" error. A background write-back was chosen over an owner-side flag because an idle image has no
 * thread of its own that would ever look at such a flag.
 */
public final class L2Cache {
    /** Default capacity: QEMU's {@code QED_DEFAULT_L2_CACHE_SIZE}. */
    public static final int DEFAULT_TABLES = 50;
    private static final int STRIPES = 64;

    /** Runs before dirty entries are written: with a backing file, makes the data they point at durable. */
    public interface WriteBarrier {
        void beforeWriteBack() throws IOException;
    }

    static final WriteBarrier NO_BARRIER = () -> { };

    private final TableIO io;
    private final CacheBudget budget;
    /**
     * This cache's lock: guards {@link #tables}, {@link #released} and the dirty state of the tables. Never held
     * during I/O; other caches only ever {@code tryLock} it.
     */
    private final ReentrantLock lock = new ReentrantLock();
    /** What other caches of the budget call to make this one give a table back; never waits. */
    private final BooleanSupplier shrinker = this::shrinkForOthers;
    /** Set while a background write-back asked for by another cache is pending. */
    private final AtomicBoolean backgroundWriteBack = new AtomicBoolean();
    /** The last background write-back, for tests to wait for. */
    private volatile Thread lastBackgroundWriteBack;
    private final int capacity;
    private final long tableBytes;
    private final WriteBarrier barrier;
    private final LinkedHashMap<Long, Table> tables = new LinkedHashMap<>(16, 0.75f, true);
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    /** Serialises write-backs, so that an older image of a table never lands after a newer one. */
    private final ReentrantLock writeBackLock = new ReentrantLock();
    private final AtomicReferenceArray<Table> hints;
    private final int hintBits;
    private boolean released;
    /** Whether {@link #shrinker} is registered with the budget: from the first table kept until release. */
    private boolean joined;

    public L2Cache(TableIO io, CacheBudget budget, int capacity, WriteBarrier barrier) {
        this.io = io;
        this.budget = budget;
        this.capacity = Math.max(1, capacity);
        this.tableBytes = io.tableBytes();
        this.barrier = barrier;
        this.hintBits = Math.min(16, 64 - Long.numberOfLeadingZeros(this.capacity * 2L - 1));
        this.hints = new AtomicReferenceArray<>(1 << hintBits);
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    /**
     * Returns the table at {@code offset}, reading it from disk on a miss.
     *
     * @throws IOException if the table cannot be read, or does not fit in the budget even after evicting every
     *     table that can be evicted (the message names the budget)
     */
    public Table get(long offset) throws IOException {
        Table t = hints.getAcquire(slot(offset));
        if (t != null && t.offset == offset) {
            return t;
        }
        t = cached(offset);
        if (t != null) {
            return t;
        }
        ReentrantLock stripe = stripe(offset);
        stripe.lock();
        try {
            t = cached(offset);
            return t != null ? t : load(offset, 0, null);
        } finally {
            stripe.unlock();
        }
    }

    /** Sets entries {@code [first, first + values.length)} of the table at {@code offset}; written back later. */
    void update(long offset, int first, long[] values) throws IOException {
        if (applyIfCached(offset, first, values)) {
            return;
        }
        ReentrantLock stripe = stripe(offset);
        stripe.lock();
        try {
            if (!applyIfCached(offset, first, values)) {
                load(offset, first, values);
            }
        } finally {
            stripe.unlock();
        }
    }

    /** Applies an update to the cached table; a dirty table outside the map would be lost, so only in it. */
    private boolean applyIfCached(long offset, int first, long[] values) throws ClosedChannelException {
        lock.lock();
        try {
            if (released) {
                throw new ClosedChannelException();
            }
            Table t = tables.get(offset);
            if (t == null) {
                return false;
            }
            apply(t, first, values);
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** With the lock held. */
    private static void apply(Table t, int first, long[] values) {
        for (int i = 0; i < values.length; i++) {
            t.set(first + i, values[i]);
        }
        t.markDirty(first, first + values.length);
    }

    /** Adds a table that was just written whole; if no clean table of this cache makes room it is not cached. */
    void put(Table t) {
        lock.lock();
        try {
            Table old = tables.remove(t.offset);
            if (old != null) {
                dropHint(old);
                budget.release(tableBytes);
            }
            if (released) {
                return;
            }
            while (!budget.tryCharge(tableBytes)) {
                Table victim = leastRecentlyUsedClean();
                if (victim == null) {
                    return;
                }
                remove(victim);
            }
            add(t);
        } finally {
            lock.unlock();
        }
        trimToCapacity(t);
    }

    /**
     * Writes every dirty entry out (the barrier first, once); tables whose write fails stay dirty and the first
     * failure is thrown.
     */
    public void writeBack() throws IOException {
        writeBackLock.lock();
        try {
            List<Table> dirty = new ArrayList<>();
            lock.lock();
            try {
                for (Table t : tables.values()) {
                    if (t.isDirty()) {
                        dirty.add(t);
                    }
                }
            } finally {
                lock.unlock();
            }
            if (dirty.isEmpty()) {
                return;
            }
            dirty.sort(Comparator.comparingLong(t -> t.offset));
            barrier.beforeWriteBack();
            for (Table t : dirty) {
                writeDirty(t);
            }
        } finally {
            writeBackLock.unlock();
        }
    }

    /** Drops every clean table (after check rewrote tables on disk). Dirty tables stay. */
    void clear() {
        lock.lock();
        try {
            tables.values().removeIf(t -> {
                if (t.isDirty()) {
                    return false;
                }
                budget.release(tableBytes);
                return true;
            });
            for (int i = 0; i < hints.length(); i++) {
                hints.set(i, null);
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Gives every table back to the budget, when the image closes (after its last flush, which wrote the dirty
     * tables back, or failed and left NEED_CHECK set). Later loads are served without caching.
     */
    public void release() {
        lock.lock();
        try {
            released = true;
            budget.leave(shrinker);
            budget.release(tables.size() * tableBytes);
            tables.clear();
            for (int i = 0; i < hints.length(); i++) {
                hints.set(i, null);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Number of tables cached now. */
    int size() {
        lock.lock();
        try {
            return tables.size();
        } finally {
            lock.unlock();
        }
    }

    /** Number of tables with entries not yet written back. */
    int dirtyTables() {
        lock.lock();
        try {
            return (int) tables.values().stream().filter(Table::isDirty).count();
        } finally {
            lock.unlock();
        }
    }

    /** For tests: the lock that other caches only ever try. */
    ReentrantLock lockForTest() {
        return lock;
    }

    /** For tests: waits for the last write-back that another cache's shrink request started, if any. */
    void awaitBackgroundWriteBack() throws InterruptedException {
        Thread t = lastBackgroundWriteBack;
        if (t != null) {
            t.join();
        }
    }

    // ------------------------------------------------------------------------------------------- for other caches

    /**
     * Another cache of the budget needs room: gives back this cache's least recently used clean table if the lock
     * is free right now. Never waits for the lock or for I/O; with only dirty tables, starts writing them back on
     * a background thread (so that a later request finds them clean) and returns false.
     */
    private boolean shrinkForOthers() {
        if (!lock.tryLock()) {
            return false;
        }
        boolean dirtyOnly;
        try {
            if (released) {
                return false;
            }
            Table victim = leastRecentlyUsedClean();
            if (victim != null) {
                remove(victim);
                return true;
            }
            dirtyOnly = !tables.isEmpty();
        } finally {
            lock.unlock();
        }
        if (dirtyOnly && backgroundWriteBack.compareAndSet(false, true)) {
            Thread t = new Thread(() -> {
                try {
                    writeBack();
                } catch (IOException | RuntimeException e) {
                    // The tables stay dirty; the owner's next flush writes them back or reports the failure.
                } finally {
                    backgroundWriteBack.set(false);
                }
            }, "qed-l2-writeback " + io.name());
            t.setDaemon(true);
            lastBackgroundWriteBack = t;
            t.start();
        }
        return false;
    }

    // ---------------------------------------------------------------------------------------------- internals

    /**
     * Writes {@code t} back so that it can be evicted (it stays dirty if it changed meanwhile); holding none of
     * this cache's other locks.
     */
    private void writeBackForEviction(Table t) throws IOException {
        writeBackLock.lock();
        try {
            lock.lock();
            try {
                if (released || !t.isDirty()) {
                    return;
                }
            } finally {
                lock.unlock();
            }
            barrier.beforeWriteBack();
            writeDirty(t);
        } finally {
            writeBackLock.unlock();
        }
    }

    /** Writes the sectors of {@code t}'s dirty range; with {@link #writeBackLock} held. */
    private void writeDirty(Table t) throws IOException {
        int from;
        int to;
        long version;
        lock.lock();
        try {
            from = t.dirtyFrom();
            to = t.dirtyTo();
            version = t.dirtyVersion();
        } finally {
            lock.unlock();
        }
        if (from < 0) {
            return;
        }
        io.writeEntries(t, from, to - from);
        lock.lock();
        try {
            t.markClean(version);
        } finally {
            lock.unlock();
        }
    }

    private Table cached(long offset) {
        lock.lock();
        try {
            Table t = tables.get(offset);
            if (t != null) {
                hints.setRelease(slot(offset), t);
            }
            return t;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Reads the table at {@code offset} into the cache, applying an update (unless {@code values} is null) in the
     * same step, so that no eviction can come between; with the offset's stripe lock held. Without room in the
     * budget the table is not kept, and an update is written through at once.
     */
    private Table load(long offset, int first, long[] values) throws IOException {
        boolean charged = reserve(offset);
        Table t;
        try {
            t = io.read(offset);
        } catch (IOException | RuntimeException | Error e) {
            if (charged) {
                budget.release(tableBytes);
            }
            throw e;
        }
        lock.lock();
        try {
            if (released || !charged) {
                if (charged) {
                    budget.release(tableBytes);
                }
                if (values == null) {
                    return t;
                }
                if (released) {
                    throw new ClosedChannelException();
                }
                apply(t, first, values);
            } else {
                add(t);
                if (values != null) {
                    apply(t, first, values);
                }
            }
        } finally {
            lock.unlock();
        }
        if (!charged) {
            writeThrough(t);
            return t;
        }
        trimToCapacity(t);
        return t;
    }

    /** Writes the update of a table that the budget had no room for; a failure loses it (NEED_CHECK repairs). */
    private void writeThrough(Table t) throws IOException {
        writeBackLock.lock();
        try {
            barrier.beforeWriteBack();
            writeDirty(t);
        } finally {
            writeBackLock.unlock();
        }
    }

    /** With the lock held and {@link #tableBytes} charged. */
    private void add(Table t) {
        if (!joined) {
            // Only caches holding tables count for the fair share and can be asked to shrink.
            budget.join(shrinker);
            joined = true;
        }
        tables.put(t.offset, t);
        hints.setRelease(slot(t.offset), t);
    }

    /** With the lock held: drops {@code t} from the map and gives its bytes back. */
    private void remove(Table t) {
        tables.remove(t.offset, t);
        dropHint(t);
        budget.release(tableBytes);
    }

    /** With the lock held. */
    private Table leastRecentlyUsedClean() {
        for (Table t : tables.values()) {
            if (!t.isDirty()) {
                return t;
            }
        }
        return null;
    }

    /**
     * Charges one table to the budget, making room from this cache's own tables (and, below the fair share, first
     * from other caches without waiting for them). Returns false if no room could be made at once: the table is
     * then used without being kept.
     *
     * @throws IOException naming the budget, if the table is larger than the whole budget, or if room could have
     *     been made only by writing back this cache's dirty tables and every such write-back failed
     */
    private boolean reserve(long offset) throws IOException {
        boolean othersFirst;
        lock.lock();
        try {
            othersFirst = tables.size() * tableBytes < budget.fairShare();
        } finally {
            lock.unlock();
        }
        IOException failure = null;
        Set<Table> failed = new HashSet<>();
        while (true) {
            if (budget.tryCharge(tableBytes)) {
                return true;
            }
            if (othersFirst && budget.askOthersToShrink(shrinker)) {
                continue;
            }
            Table dirty = null;
            lock.lock();
            try {
                if (released) {
                    return false;
                }
                Table victim = leastRecentlyUsedClean();
                if (victim != null) {
                    remove(victim);
                    continue;
                }
                for (Table t : tables.values()) {
                    if (!failed.contains(t)) {
                        dirty = t;
                        break;
                    }
                }
            } finally {
                lock.unlock();
            }
            if (!othersFirst && budget.askOthersToShrink(shrinker)) {
                continue;
            }
            if (dirty == null) {
                if (failure == null && tableBytes <= budget.limit()) {
                    return false;
                }
                IOException ex = budget.exhausted(io.name(), offset, tableBytes);
                if (failure != null) {
                    ex.addSuppressed(failure);
                }
                throw ex;
            }
            try {
                // Progress even if the table was dirtied again meanwhile: the next round tries again.
                writeBackForEviction(dirty);
            } catch (IOException ex) {
                failed.add(dirty);
                if (failure == null) {
                    failure = ex;
                } else {
                    failure.addSuppressed(ex);
                }
            }
        }
    }

    /**
     * Evicts this cache's least recently used tables beyond its table count, writing a dirty one back first; never
     * {@code keep}, the table just added (or a dirty table would push every new one out at once).
     */
    private void trimToCapacity(Table keep) {
        while (true) {
            Table victim = null;
            lock.lock();
            try {
                if (tables.size() <= capacity) {
                    return;
                }
                for (Table t : tables.values()) {
                    if (t != keep) {
                        victim = t;
                        break;
                    }
                }
                if (!victim.isDirty()) {
                    remove(victim);
                    continue;
                }
            } finally {
                lock.unlock();
            }
            try {
                writeBackForEviction(victim);
            } catch (IOException e) {
                // The cache stays over its count (but within the budget); the failure surfaces at the next flush.
                return;
            }
        }
    }

    /** Called with the lock held when {@code t} leaves the map. */
    private void dropHint(Table t) {
        hints.compareAndSet(slot(t.offset), t, null);
    }

    int slot(long offset) {
        return (int) ((offset * 0x9E3779B97F4A7C15L) >>> (64 - hintBits));
    }

    private ReentrantLock stripe(long offset) {
        return stripes[(int) (Long.hashCode(offset) * 0x9E3779B9L >>> 26) & (STRIPES - 1)];
    }
}
