package io.github.qednio.internal.qed;

import io.github.qednio.image.CacheBudget;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;

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
 * do not serialise. A hint is only ever set (under the budget's lock) to a table that is in the map, and cleared
 * (under the same lock) when that table leaves the map, so a hint never outlives the table's place in the cache.
 * Hits through a hint do not refresh the LRU order.
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
    /** The budget's lock: guards {@link #tables}, {@link #released} and the dirty state of the tables. */
    private final Object lock;
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

    public L2Cache(TableIO io, CacheBudget budget, int capacity, WriteBarrier barrier) {
        this.io = io;
        this.budget = budget;
        this.lock = budget.lock();
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
        synchronized (lock) {
            if (released) {
                throw new ClosedChannelException();
            }
            Table t = tables.get(offset);
            if (t == null) {
                return false;
            }
            budget.touched(t);
            apply(t, first, values);
            return true;
        }
    }

    /** With the lock held. */
    private static void apply(Table t, int first, long[] values) {
        for (int i = 0; i < values.length; i++) {
            t.set(first + i, values[i]);
        }
        t.markDirty(first, first + values.length);
    }

    /** Adds a table that was just written whole; if the budget has no room it is simply not cached. */
    void put(Table t) {
        synchronized (lock) {
            Table old = tables.remove(t.offset);
            if (old != null) {
                dropHint(old);
                budget.released(old, tableBytes);
            }
            if (released) {
                return;
            }
            List<Map.Entry<Table, L2Cache>> inTheWay = budget.tryReserve(tableBytes);
            if (inTheWay == null || !inTheWay.isEmpty()) {
                return;
            }
            add(t);
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
            synchronized (lock) {
                for (Table t : tables.values()) {
                    if (t.isDirty()) {
                        dirty.add(t);
                    }
                }
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
        synchronized (lock) {
            tables.values().removeIf(t -> {
                if (t.isDirty()) {
                    return false;
                }
                budget.released(t, tableBytes);
                return true;
            });
            for (int i = 0; i < hints.length(); i++) {
                hints.set(i, null);
            }
        }
    }

    /**
     * Gives every table back to the budget, when the image closes (after its last flush, which wrote the dirty
     * tables back, or failed and left NEED_CHECK set). Later loads are served without caching.
     */
    public void release() {
        synchronized (lock) {
            released = true;
            for (Table t : tables.values()) {
                budget.released(t, tableBytes);
            }
            tables.clear();
            for (int i = 0; i < hints.length(); i++) {
                hints.set(i, null);
            }
        }
    }

    /** Number of tables cached now. */
    int size() {
        synchronized (lock) {
            return tables.size();
        }
    }

    /** Number of tables with entries not yet written back. */
    int dirtyTables() {
        synchronized (lock) {
            return (int) tables.values().stream().filter(Table::isDirty).count();
        }
    }

    // ------------------------------------------------------------------------------------------- for CacheBudget

    /** The budget evicted {@code t} (clean); called with the lock held. Returns the bytes it held. */
    public long evicted(Table t) {
        tables.remove(t.offset, t);
        dropHint(t);
        return tableBytes;
    }

    /**
     * Writes {@code t} back so that it can be evicted (it stays dirty if it changed meanwhile). Called by any cache
     * drawing from the budget, holding none of this cache's locks.
     */
    void writeBackForEviction(Table t) throws IOException {
        writeBackLock.lock();
        try {
            synchronized (lock) {
                if (released || !t.isDirty()) {
                    return;
                }
            }
            barrier.beforeWriteBack();
            writeDirty(t);
        } finally {
            writeBackLock.unlock();
        }
    }

    // ---------------------------------------------------------------------------------------------- internals

    /** Writes the sectors of {@code t}'s dirty range; with {@link #writeBackLock} held. */
    private void writeDirty(Table t) throws IOException {
        int from;
        int to;
        long version;
        synchronized (lock) {
            from = t.dirtyFrom();
            to = t.dirtyTo();
            version = t.dirtyVersion();
        }
        if (from < 0) {
            return;
        }
        io.writeEntries(t, from, to - from);
        synchronized (lock) {
            t.markClean(version);
        }
    }

    private Table cached(long offset) {
        synchronized (lock) {
            Table t = tables.get(offset);
            if (t != null) {
                budget.touched(t);
                hints.setRelease(slot(offset), t);
            }
            return t;
        }
    }

    /**
     * Reads the table at {@code offset} into the cache, applying an update (unless {@code values} is null) in the
     * same step, so that no eviction can come between; with the offset's stripe lock held.
     */
    private Table load(long offset, int first, long[] values) throws IOException {
        reserve(offset);
        Table t;
        try {
            t = io.read(offset);
        } catch (IOException | RuntimeException | Error e) {
            synchronized (lock) {
                budget.released(null, tableBytes);
            }
            throw e;
        }
        synchronized (lock) {
            if (released) {
                budget.released(null, tableBytes);
                if (values != null) {
                    throw new ClosedChannelException();
                }
                return t;
            }
            add(t);
            if (values != null) {
                apply(t, first, values);
            }
        }
        trimToCapacity(t);
        return t;
    }

    /** With the lock held and {@link #tableBytes} charged. */
    private void add(Table t) {
        tables.put(t.offset, t);
        budget.added(t, this);
        hints.setRelease(slot(t.offset), t);
    }

    /** Charges one table to the budget, writing back dirty tables (of any cache) that stand in the way. */
    private void reserve(long offset) throws IOException {
        while (true) {
            List<Map.Entry<Table, L2Cache>> dirty;
            synchronized (lock) {
                dirty = budget.tryReserve(tableBytes);
            }
            if (dirty != null && dirty.isEmpty()) {
                return;
            }
            IOException failure = null;
            boolean progress = false;
            for (Map.Entry<Table, L2Cache> e : dirty == null ? List.<Map.Entry<Table, L2Cache>>of() : dirty) {
                try {
                    // Progress even if the table was dirtied again meanwhile: the next round tries again.
                    e.getValue().writeBackForEviction(e.getKey());
                    progress = true;
                    break;
                } catch (IOException ex) {
                    if (failure == null) {
                        failure = ex;
                    } else {
                        failure.addSuppressed(ex);
                    }
                }
            }
            if (!progress) {
                IOException ex;
                synchronized (lock) {
                    ex = budget.exhausted(io.name(), offset, tableBytes);
                }
                if (failure != null) {
                    ex.addSuppressed(failure);
                }
                throw ex;
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
            synchronized (lock) {
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
                    tables.remove(victim.offset);
                    dropHint(victim);
                    budget.released(victim, tableBytes);
                    continue;
                }
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
