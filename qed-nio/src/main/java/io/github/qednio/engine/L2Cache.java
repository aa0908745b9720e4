package io.github.qednio.engine;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bounded, least-recently-used cache of L2 tables keyed by file offset (QEMU keeps 50 tables, FIFO).
 *
 * <p>A table is loaded from disk and updated on disk under the same per-offset lock, so a load can never capture
 * a half-applied update and then be cached in place of the updated copy. Lookups of cached tables take no
 * per-offset lock, so readers do not wait on allocations to other tables.
 *
 * <p>Hits go through a direct-mapped array of hints first, without a lock or an allocation, so that threads reading
 * one image do not serialise on the cache. A hint is only ever set (under the cache's lock) to a table that is in
 * the map, and cleared (under the same lock) when that table leaves the map, so a hint never outlives the table's
 * place in the cache. Hits through a hint do not refresh the LRU order (QEMU's cache is FIFO anyway).
 */
final class L2Cache {
    /** Default capacity: QEMU's {@code QED_DEFAULT_L2_CACHE_SIZE}. */
    static final int DEFAULT_TABLES = 50;
    private static final int STRIPES = 64;

    private final TableIO io;
    private final int capacity;
    private final Map<Long, Table> tables;
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    private final AtomicReferenceArray<Table> hints;
    private final int hintBits;

    L2Cache(TableIO io, int capacity) {
        this.io = io;
        this.capacity = Math.max(1, capacity);
        this.tables = new LinkedHashMap<>(16, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, Table> eldest) {
                if (size() > L2Cache.this.capacity) {
                    dropHint(eldest.getValue());
                    return true;
                }
                return false;
            }
        };
        this.hintBits = Math.min(16, 64 - Long.numberOfLeadingZeros(Math.max(1, this.capacity * 2L - 1)));
        this.hints = new AtomicReferenceArray<>(1 << hintBits);
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    /** Returns the table at {@code offset}, reading it from disk on a miss. */
    Table get(long offset) throws IOException {
        Table t = hints.getAcquire(slot(offset));
        if (t != null && t.offset == offset) {
            return t;
        }
        t = cached(offset);
        if (t != null) {
            return t;
        }
        ReentrantLock lock = stripe(offset);
        lock.lock();
        try {
            t = cached(offset);
            if (t == null) {
                t = io.read(offset);
                put(t);
            }
            return t;
        } finally {
            lock.unlock();
        }
    }

    /** Sets entries {@code [first, first + values.length)} of the table at {@code offset} and writes them through. */
    void update(long offset, int first, long[] values) throws IOException {
        ReentrantLock lock = stripe(offset);
        lock.lock();
        try {
            Table t = get(offset);
            for (int i = 0; i < values.length; i++) {
                t.set(first + i, values[i]);
            }
            try {
                io.writeEntries(t, first, values.length);
            } catch (IOException e) {
                // The disk may or may not hold the update; drop the copy so the next use rereads the truth.
                invalidate(offset);
                throw e;
            }
        } finally {
            lock.unlock();
        }
    }

    /** Adds a table that was just written whole. */
    synchronized void put(Table t) {
        Table old = tables.put(t.offset, t);
        if (old != null) {
            dropHint(old);
        }
        hints.setRelease(slot(t.offset), t);
    }

    synchronized void invalidate(long offset) {
        Table old = tables.remove(offset);
        if (old != null) {
            dropHint(old);
        }
    }

    synchronized void clear() {
        tables.clear();
        for (int i = 0; i < hints.length(); i++) {
            hints.set(i, null);
        }
    }

    private synchronized Table cached(long offset) {
        Table t = tables.get(offset);
        if (t != null) {
            hints.setRelease(slot(offset), t);
        }
        return t;
    }

    /** Called with the lock held when {@code t} leaves the map. */
    private void dropHint(Table t) {
        hints.compareAndSet(slot(t.offset), t, null);
    }

    private int slot(long offset) {
        return (int) ((offset * 0x9E3779B97F4A7C15L) >>> (64 - hintBits));
    }

    private ReentrantLock stripe(long offset) {
        return stripes[(int) (Long.hashCode(offset) * 0x9E3779B9L >>> 26) & (STRIPES - 1)];
    }
}
