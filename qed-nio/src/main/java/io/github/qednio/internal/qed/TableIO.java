package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.Storage;
import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Reads and writes whole tables and 512-byte spans of them (QEMU writes table updates sector by sector). */
public final class TableIO {
    static final int SECTOR = 512;
    static final int ENTRIES_PER_SECTOR = SECTOR / 8;

    private final Storage storage;
    private final Geometry geometry;

    public TableIO(Storage storage, Geometry geometry) {
        this.storage = storage;
        this.geometry = geometry;
    }

    /** Bytes of one table in memory (and on disk). */
    long tableBytes() {
        return (long) geometry.entriesPerTable() * 8;
    }

    /** The image file, for messages. */
    String name() {
        return storage.name();
    }

    Table read(long offset) throws IOException {
        int n = geometry.entriesPerTable();
        Table t = new Table(offset, n);
        // Read in slices so that a 1 GiB table (16 x 64 MiB clusters) does not need a second 1 GiB buffer.
        int slice = Math.min(n, 1 << 16);
        ByteBuffer buf = ByteBuffer.allocate(slice * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i += slice) {
            buf.clear();
            storage.readFully(buf, offset + i * 8L);
            buf.flip();
            for (int j = 0; j < slice; j++) {
                t.set(i + j, buf.getLong());
            }
        }
        return t;
    }

    void writeAll(Table t) throws IOException {
        writeSpan(t, 0, t.length());
    }

    /** Writes the sectors that hold entries {@code [first, first + count)}. */
    void writeEntries(Table t, int first, int count) throws IOException {
        int from = first / ENTRIES_PER_SECTOR * ENTRIES_PER_SECTOR;
        int to = Math.min(t.length(), (first + count + ENTRIES_PER_SECTOR - 1) / ENTRIES_PER_SECTOR
                * ENTRIES_PER_SECTOR);
        writeSpan(t, from, to - from);
    }

    private void writeSpan(Table t, int from, int count) throws IOException {
        int slice = Math.min(count, 1 << 16);
        ByteBuffer buf = ByteBuffer.allocate(slice * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = from; i < from + count; i += slice) {
            int k = Math.min(slice, from + count - i);
            buf.clear();
            for (int j = 0; j < k; j++) {
                buf.putLong(t.get(i + j));
            }
            buf.flip();
            storage.write(buf, t.offset + i * 8L);
        }
    }
}
