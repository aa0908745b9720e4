package io.github.qednio.internal.qed;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.storage.RecordingStorage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.internal.storage.RecordingStorage.Event;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The order of writes and forces that makes reuse of freed clusters crash-safe: the update that frees a cluster is
 * durable before the cluster is written for another position, and that position's data is durable before the
 * entry pointing at it is written.
 */
class ReuseOrderTest {
    private static final int CS = 65536;

    @TempDir
    Path dir;

    @Test
    void aFreedClusterIsWrittenForAnotherPositionOnlyAfterTheFreeingUpdateIsDurable() throws IOException {
        List<RecordingStorage> storages = new CopyOnWriteArrayList<>();
        Path file = dir.resolve("a.qed");
        long freed;
        long l2;
        int mark;
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(1L << 30),
                OpenOptions.defaults().withStorageFactory(RecordingStorage.factory(storages)))) {
            img.write(ByteBuffer.wrap(new byte[CS]), 0);
            l2 = img.nextAllocationOffset() - 4L * CS;
            img.write(ByteBuffer.wrap(new byte[2 * CS]), CS);
            freed = img.map(CS, CS).get(0).hostOffset();
            img.flush();
            mark = storages.get(0).writesAndForces().size();
            img.discard(CS, CS); // frees a cluster before the last one of the file: reusable, not cut
            img.write(ByteBuffer.wrap(new byte[CS]), 100L * CS); // no flush in between: the allocation flushes
            assertThat(img.map(100L * CS, CS).get(0).hostOffset()).as("the freed cluster is reused")
                    .isEqualTo(freed);
        }
        List<Event> all = storages.get(0).writesAndForces();
        List<Event> events = all.subList(mark, all.size());
        int freeing = events.indexOf(Event.write(l2, 512));
        int forced = events.subList(freeing, events.size()).indexOf(Event.force()) + freeing;
        int reuse = events.indexOf(Event.write(freed, CS));
        assertThat(freeing).as("events %s", events).isNotNegative();
        assertThat(reuse).as("events %s", events).isGreaterThan(forced).isGreaterThan(freeing);
        // Entry 100 lies in the table's second sector.
        int linking = events.subList(reuse, events.size()).indexOf(Event.write(l2 + 512, 512)) + reuse;
        assertThat(linking).as("events %s", events).isGreaterThan(reuse);
        assertThat(events.subList(reuse, linking)).as("a force between the data and its entry: %s", events)
                .contains(Event.force());
    }
}
