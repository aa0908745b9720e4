package io.github.qednio.image;

import io.github.qednio.internal.storage.Buffers;
import io.github.qednio.internal.storage.RecordingStorage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.format.QedHeader;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link CacheMode}: UNSAFE drops every fsync and nothing else; the counting storage sits under the cache-mode
 * wrapper, so it sees exactly what reaches the file.
 */
class CacheModeTest {
    private static final int CLUSTER = 4096;
    private static final long SIZE = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void writebackIsTheDefault() {
        assertThat(OpenOptions.defaults().cacheMode()).isEqualTo(CacheMode.WRITEBACK);
        assertThat(OpenOptions.readOnlyDefaults().cacheMode()).isEqualTo(CacheMode.WRITEBACK);
        assertThat(OpenOptions.defaults().withCacheMode(CacheMode.UNSAFE).withReadOnly(false).cacheMode())
                .isEqualTo(CacheMode.UNSAFE);
    }

    @Test
    void unsafeWritesTheSameBytesInTheSameOrderWithoutAnyFsyncAndClosesClean() throws IOException {
        List<RecordingStorage.Event> writeback = run(CacheMode.WRITEBACK, "wb");
        List<RecordingStorage.Event> unsafe = run(CacheMode.UNSAFE, "unsafe");

        assertThat(writeback).as("control: writeback syncs").anyMatch(RecordingStorage.Event::isForce);
        assertThat(unsafe).as("no fsync reaches the file").noneMatch(RecordingStorage.Event::isForce);
        assertThat(unsafe).as("the same writes in the same order").containsExactlyElementsOf(
                writeback.stream().filter(e -> !e.isForce()).toList());
        for (String name : List.of("wb", "unsafe")) {
            Path image = dir.resolve(name + ".qed");
            assertThat(features(image) & QedHeader.QED_F_NEED_CHECK).as("NEED_CHECK after a clean close").isZero();
            if (Qemu.crossChecks()) {
                Qemu.assertCheckClean(image);
                Qemu.assertIdentical(image, dir.resolve(name + ".raw"));
            }
        }
    }

    /** A fixed workload of allocating and in-place writes with a flush between; returns the writes and forces. */
    private List<RecordingStorage.Event> run(CacheMode mode, String name) throws IOException {
        Path image = dir.resolve(name + ".qed");
        Path raw = dir.resolve(name + ".raw");
        List<RecordingStorage> storages = new CopyOnWriteArrayList<>();
        OpenOptions options = OpenOptions.defaults().withCacheMode(mode)
                .withStorageFactory(RecordingStorage.factory(storages));
        Random rnd = new Random(42);
        try (QedImage img = QedImage.create(image, CreateOptions.ofSize(SIZE).withClusterSize(CLUSTER), options);
             FileChannel model = FileChannel.open(raw, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            model.write(ByteBuffer.allocate(1), SIZE - 1);
            for (int i = 0; i < 40; i++) {
                if (i == 20) {
                    img.flush();
                }
                byte[] data = new byte[1 + rnd.nextInt(3 * CLUSTER)];
                rnd.nextBytes(data);
                long pos = (long) rnd.nextInt((int) SIZE - data.length);
                img.write(ByteBuffer.wrap(data), pos);
                model.write(ByteBuffer.wrap(data), pos);
            }
        }
        assertThat(storages).hasSize(1);
        return storages.get(0).writesAndForces();
    }

    private static long features(Path image) throws IOException {
        try (FileChannel ch = FileChannel.open(image)) {
            ByteBuffer b = ByteBuffer.allocate(QedHeader.HEADER_LENGTH);
            Buffers.fill(ch::read, b, 0);
            return QedHeader.decode(b.flip(), image.toString()).features();
        }
    }
}
