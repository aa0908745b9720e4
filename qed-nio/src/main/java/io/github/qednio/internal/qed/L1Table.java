package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.Storage;
import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The part of the L1 table that covers the virtual size, in memory; entries past it are left on disk, so an image
 * whose tables could address far more than its size costs only what it uses. A grow loads the newly covered
 * entries before the new size is published. The loaded part is a whole number of 512-byte sectors, so that
 * table updates still write whole sectors.
 */
public final class L1Table {
    private final Storage storage;
    private final Geometry geo;
    /** Replaced whole when the table moves; its offset is the table's. */
    private volatile Table table;

    public L1Table(Storage storage, Geometry geo, long offset, long virtualSize) throws IOException {
        this.storage = storage;
        this.geo = geo;
        this.table = read(offset, entriesFor(geo, virtualSize), null);
    }

    /** The loaded entries (a prefix of the table on disk); entries are set only under the allocation lock. */
    Table table() {
        return table;
    }

    /** The file offset of the table. */
    long offset() {
        return table.offset;
    }

    /**
     * Uses {@code moved}, a copy of the loaded entries at its own offset, from now on: the header names that
     * offset durably. Allocation lock held.
     */
    void moveTo(Table moved) {
        table = moved;
    }

    /** Loads the entries that cover {@code newSize} if they are not loaded yet. Allocation lock held. */
    public void cover(long newSize) throws IOException {
        Table t = table;
        int n = entriesFor(geo, newSize);
        if (n > t.length()) {
            table = read(t.offset, n, t);
        }
    }

    /** Whether every entry of the table is loaded. */
    boolean isComplete() {
        return table.length() == geo.entriesPerTable();
    }

    /** Entries needed for {@code size} bytes, rounded up to whole sectors, at least one sector, at most all. */
    static int entriesFor(Geometry geo, long size) {
        long needed = Math.max(1, (size + geo.bytesPerL2() - 1) / geo.bytesPerL2());
        long sectors = (needed + TableIO.ENTRIES_PER_SECTOR - 1) / TableIO.ENTRIES_PER_SECTOR;
        return (int) Math.min(geo.entriesPerTable(), sectors * TableIO.ENTRIES_PER_SECTOR);
    }

    /** Reads the first {@code n} entries, keeping the values of {@code loaded} (which may be null). */
    private Table read(long offset, int n, Table loaded) throws IOException {
        Table t = new Table(offset, n);
        int from = 0;
        if (loaded != null) {
            for (; from < loaded.length(); from++) {
                t.set(from, loaded.get(from));
            }
        }
        // Read in slices so that a large table does not need a second buffer of its size.
        ByteBuffer buf = ByteBuffer.allocate(Math.min(n - from, 1 << 16) * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = from; i < n; ) {
            int k = Math.min(n - i, buf.capacity() / 8);
            buf.clear().limit(k * 8);
            storage.readFully(buf, offset + i * 8L);
            buf.flip();
            for (int j = 0; j < k; j++) {
                t.set(i + j, buf.getLong());
            }
            i += k;
        }
        return t;
    }
}
