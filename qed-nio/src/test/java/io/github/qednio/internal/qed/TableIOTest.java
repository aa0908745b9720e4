package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.MemoryStorage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.format.Geometry;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** Tables over 65,536 entries are read and written in slices; updates write only the sectors they touch. */
class TableIOTest {
    /** 256 KiB clusters x 4: 1 MiB tables of 131,072 entries, two slices. */
    private static final Geometry BIG = Geometry.of(256 * 1024, 4, 1);

    @Test
    void aTableOfTwoSlicesRoundTrips() throws IOException {
        MemoryStorage disk = new MemoryStorage();
        TableIO io = new TableIO(disk, BIG);
        long at = 1L << 20;
        Table t = new Table(at, BIG.entriesPerTable());
        assertThat(t.length()).isEqualTo(131072);
        for (int i = 0; i < t.length(); i++) {
            t.set(i, i * 3L + 1);
        }
        io.writeAll(t);
        assertThat(disk.log()).containsExactly("write " + at + " 524288", "write " + (at + 524288) + " 524288");
        assertThat(disk.size()).isEqualTo(at + (1L << 20));
        assertThat(disk.getLong(at + 8L * 70000)).isEqualTo(70000 * 3L + 1);
        Table back = io.read(at);
        for (int i = 0; i < back.length(); i++) {
            if (back.get(i) != i * 3L + 1) {
                throw new AssertionError("entry " + i + " read back as " + back.get(i));
            }
        }
        assertThat(io.tableBytes()).isEqualTo(1L << 20);
    }

    @Test
    void writeEntriesWritesTheCoveringSectorsOnly() throws IOException {
        MemoryStorage disk = new MemoryStorage();
        TableIO io = new TableIO(disk, BIG);
        Table t = new Table(0, BIG.entriesPerTable());
        t.set(70000, 42);
        io.writeEntries(t, 70000, 1);
        assertThat(disk.log()).containsExactly("write " + 70000 / 64 * 512 + " 512");
        disk.clearLog();
        io.writeEntries(t, 63, 2);                   // straddles two sectors
        assertThat(disk.log()).containsExactly("write 0 1024");
        disk.clearLog();
        io.writeEntries(t, 131071, 1);               // the last sector, not past the table
        assertThat(disk.log()).containsExactly("write " + (1048576 - 512) + " 512");
        assertThat(disk.getLong(8L * 70000)).isEqualTo(42);
        disk.clearLog();
        io.writeEntries(t, 0, 63);                   // ends one short of a sector boundary
        assertThat(disk.log()).containsExactly("write 0 512");
        disk.clearLog();
        io.writeEntries(t, 0, 65600);                // a whole slice and a remainder
        assertThat(disk.log()).containsExactly("write 0 524288", "write 524288 512");
    }
}
