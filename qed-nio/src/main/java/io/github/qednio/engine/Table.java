package io.github.qednio.engine;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * One L1 or L2 table in memory. Entries are atomics so that lock-free readers see a complete entry written by the
 * allocating thread (which updates them only while holding the image's allocation lock).
 */
final class Table {
    final long offset;
    final AtomicLongArray entries;

    Table(long offset, int entryCount) {
        this.offset = offset;
        this.entries = new AtomicLongArray(entryCount);
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
}
