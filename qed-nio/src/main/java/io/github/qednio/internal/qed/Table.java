package io.github.qednio.internal.qed;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * One L1 or L2 table in memory. Entries are atomics so that lock-free readers see a complete entry written by the
 * allocating thread (which updates them only while holding the image's allocation lock).
 *
 * <p>An L2 table in an {@link L2Cache} may be dirty: entries {@code [dirtyFrom, dirtyTo)} were changed in memory and
 * not yet written back. The dirty range is guarded by the lock of the {@link L2Cache} that holds the table.
 */
public final class Table {
    final long offset;
    final AtomicLongArray entries;
    /** First dirty entry, or -1 when the table is clean; guarded by the cache's lock. */
    private int dirtyFrom = -1;
    private int dirtyTo;
    /** Changes with every {@link #markDirty}, so a write-back can tell whether entries changed while it ran. */
    private long dirtyVersion;

    Table(long offset, int entryCount) {
        this.offset = offset;
        this.entries = new AtomicLongArray(entryCount);
    }

    /** A table with the same entries at {@code newOffset} (clean). */
    Table copyAt(long newOffset) {
        Table t = new Table(newOffset, length());
        for (int i = 0; i < length(); i++) {
            t.set(i, get(i));
        }
        return t;
    }

    long get(int index) {
        return entries.get(index);
    }

    void set(int index, long value) {
        entries.set(index, value);
    }

    int length() {
        return entries.length();
    }

    public boolean isDirty() {
        return dirtyFrom >= 0;
    }

    int dirtyFrom() {
        return dirtyFrom;
    }

    int dirtyTo() {
        return dirtyTo;
    }

    long dirtyVersion() {
        return dirtyVersion;
    }

    /** Adds entries {@code [from, to)} to the dirty range. */
    void markDirty(int from, int to) {
        if (dirtyFrom < 0) {
            dirtyFrom = from;
            dirtyTo = to;
        } else {
            dirtyFrom = Math.min(dirtyFrom, from);
            dirtyTo = Math.max(dirtyTo, to);
        }
        dirtyVersion++;
    }

    /** Marks the table clean unless it was dirtied again since {@code version}. */
    void markClean(long version) {
        if (dirtyVersion == version) {
            dirtyFrom = -1;
            dirtyTo = 0;
        }
    }
}
