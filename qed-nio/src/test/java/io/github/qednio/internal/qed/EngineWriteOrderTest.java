package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.storage.RecordingStorage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.internal.storage.RecordingStorage.Event;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The order of writes and flushes of an allocating write, against the {@code strace} of QEMU 7.2 in notes §8.3.
 * Three deliberate differences, all allowed by the notes: the header write that sets NEED_CHECK is flushed at
 * once (§8.4 caveat); the zeros around a partial write are not written when the new cluster lies past the end
 * of the file and has no backing data: the data goes out alone, plus one byte at the cluster's end, and the rest
 * stays a hole (which reads as zeros) — a partial cluster that needs backing data is still one write; and updates
 * of existing L2 tables are written back at flush, close or eviction rather than with each allocation (crash-safe
 * because NEED_CHECK is durable first), with the data forced before them when there is a backing file.
 */
class EngineWriteOrderTest {
    private static final int CS = 65536;
    private static final long L1 = CS;
    private static final long FRESH_EOF = 5L * CS;
    private static final int TABLE_BYTES = 4 * CS;

    @TempDir
    Path dir;

    @Test
    void allocatingWritesFollowQemusOrderWithoutABackingFile() throws IOException {
        List<RecordingStorage> storages = new CopyOnWriteArrayList<>();
        Path file = dir.resolve("a.qed");
        List<Event> events;
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(1L << 30),
                OpenOptions.defaults().withStorageFactory(RecordingStorage.factory(storages)))) {
            img.write(ByteBuffer.wrap(new byte[4096]), 1 << 20);        // new cluster, new L2 table
            img.write(ByteBuffer.wrap(new byte[CS]), 2 << 20);          // new cluster, existing table
            img.write(ByteBuffer.wrap(new byte[4096]), 2 << 20);        // in place
        }
        events = storages.get(0).writesAndForces();
        long data1 = FRESH_EOF;
        long l2 = data1 + CS;
        long data2 = l2 + TABLE_BYTES;
        // QEMU: header 512 @0, tail 61440 @0x51000, data 4096 @0x50000, L2 262144 @0x60000, fdatasync,
        // L1 512 @0x10000, data 65536 @0xa0000, L2 512 @0x60000, data 4096 @0xa0000, fdatasync, header, fdatasync.
        // Here the zero tail of the first cluster is a hole: the data, then the cluster's last byte; and the update of
        // the existing L2 table is deferred to the flush (one sector write for all the allocations before it).
        assertThat(events).as("writes and forces").containsExactly(
                Event.write(0, 64), Event.force(),
                Event.write(data1, 4096), Event.write(data1 + CS - 1, 1),
                Event.write(l2, TABLE_BYTES), Event.force(),
                Event.write(L1, 512),
                Event.write(data2, CS),
                Event.write(data2, 4096),
                Event.write(l2, 512),
                Event.force(), Event.write(0, 64), Event.force());
    }

    @Test
    void withABackingFileDataIsFlushedBeforeTheL2Update() throws IOException {
        byte[] base = new byte[1 << 20];
        Arrays.fill(base, (byte) 0x55);
        Files.write(dir.resolve("base.raw"), base);
        List<RecordingStorage> storages = new CopyOnWriteArrayList<>();
        Path file = dir.resolve("ov.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(4L << 20)
                        .withBackingFile("base.raw", ImageFormat.RAW),
                OpenOptions.defaults().withStorageFactory(RecordingStorage.factory(storages)))) {
            img.write(ByteBuffer.wrap(new byte[4096]), 8192);    // COW head and tail from the base
            img.write(ByteBuffer.wrap(new byte[4096]), 3 * CS + 100);
        }
        List<Event> events = new ArrayList<>(storages.get(0).writesAndForces());
        long data1 = FRESH_EOF;
        long l2 = data1 + CS;
        long data2 = l2 + TABLE_BYTES;
        int l2Write = events.indexOf(Event.write(l2, TABLE_BYTES));
        int data1Write = events.indexOf(Event.write(data1, CS));
        assertThat(data1Write).as("first cluster written in %s", events).isGreaterThanOrEqualTo(0)
                .isLessThan(l2Write);
        assertThat(events.subList(l2Write, events.size())).as("new L2 and data flushed before L1 in %s", events)
                .startsWith(Event.write(l2, TABLE_BYTES), Event.force(), Event.write(L1, 512));
        int data2Write = events.indexOf(Event.write(data2, CS));
        int l2Update = events.indexOf(Event.write(l2, 512));
        assertThat(data2Write).as("second cluster in %s", events).isGreaterThan(l2Write);
        assertThat(events.subList(data2Write, l2Update)).as("a force between data and L2 update in %s", events)
                .contains(Event.force());
        byte[] cluster = new byte[CS];
        ByteBuffer.wrap(Files.readAllBytes(file), (int) data1, CS).get(cluster);
        byte[] expected = base.clone();
        Arrays.fill(expected, 8192, 12288, (byte) 0);
        assertThat(cluster).as("COW head and tail from the backing file").isEqualTo(Arrays.copyOf(expected, CS));
    }

    @Test
    void readOfPhysicallyContiguousClustersIsOneIo() throws IOException {
        List<RecordingStorage> storages = new CopyOnWriteArrayList<>();
        Path file = dir.resolve("c.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(16L << 20))) {
            img.write(ByteBuffer.wrap(new byte[4 * CS]), CS);   // one allocation: 4 contiguous clusters
        }
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults()
                .withStorageFactory(RecordingStorage.factory(storages)))) {
            img.readFully(ByteBuffer.allocate(8), 0); // loads the L2 table
            RecordingStorage s = storages.get(0);
            s.clear();
            img.readFully(ByteBuffer.allocate(4 * CS - 200), CS + 100);
            assertThat(s.events()).as("one read for four contiguous clusters")
                    .containsExactly(new Event(RecordingStorage.Kind.READ, FRESH_EOF + 100, 4 * CS - 200));
        }
    }
}
