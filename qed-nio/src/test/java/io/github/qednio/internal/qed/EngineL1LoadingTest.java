package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.RecordingStorage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Only the L1 entries that cover the virtual size are loaded (whole sectors of them); a grow loads the newly
 * covered entries from disk, and check still sees the whole table, as QEMU's does.
 */
class EngineL1LoadingTest {
    /** 4 KiB clusters, 1-cluster tables: 512 L1 entries of 2 MiB each, 1 GiB addressable. */
    private static final int CS = 4096;
    private static final long PER_L2 = 512L * CS;
    private static final long L1_OFFSET = CS;

    @TempDir
    Path dir;

    private static long l1BytesRead(List<RecordingStorage> storages) {
        return storages.get(0).events().stream()
                .filter(e -> e.kind() == RecordingStorage.Kind.READ && e.offset() >= L1_OFFSET
                        && e.offset() < L1_OFFSET + CS)
                .mapToLong(RecordingStorage.Event::length).sum();
    }

    private static OpenOptions recording(List<RecordingStorage> sink) {
        return OpenOptions.defaults().withStorageFactory(RecordingStorage.factory(sink));
    }

    @Test
    void openReadsOnlyTheSectorOfL1EntriesThatCoversASmallDisk() throws IOException {
        Path file = dir.resolve("a.qed");
        QedImage.create(file, CreateOptions.ofSize(1L << 20).withClusterSize(CS).withTableSize(1)
                .withAllowQemuIncompatible(true)).close();
        List<RecordingStorage> storages = new CopyOnWriteArrayList<>();
        try (QedImage img = QedImage.open(file, recording(storages).withReadOnly(true))) {
            assertThat(l1BytesRead(storages)).as("bytes of the 4 KiB L1 table read at open").isEqualTo(512);
            assertThat(L1Table.entriesFor(img.geometry(), img.size())).isEqualTo(64);
        }
    }

    @Test
    void entriesForRoundsUpToWholeSectorsAndNeverPassesTheTable() throws IOException {
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(1L << 20).withClusterSize(CS)
                .withTableSize(1).withAllowQemuIncompatible(true))) {
            var geo = img.geometry();
            assertThat(L1Table.entriesFor(geo, 0)).isEqualTo(64);
            assertThat(L1Table.entriesFor(geo, 64 * PER_L2)).isEqualTo(64);
            assertThat(L1Table.entriesFor(geo, 64 * PER_L2 + 1)).isEqualTo(128);
            assertThat(L1Table.entriesFor(geo, 512 * PER_L2)).isEqualTo(512);
        }
    }

    @Test
    void growMakesTheNewlyCoveredL1EntriesAvailableFromDisk() throws IOException {
        Path file = dir.resolve("a.qed");
        long far = 300L << 20; // L1 entry 150: outside the first sector of entries
        byte[] data = "far away".getBytes();
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(512L << 20).withClusterSize(CS)
                .withTableSize(1).withAllowQemuIncompatible(true))) {
            img.write(ByteBuffer.wrap(data), far);
        }
        // An image whose table already holds entries past its size (QED cannot shrink; made by hand).
        setImageSize(file, 1L << 20);
        List<RecordingStorage> storages = new CopyOnWriteArrayList<>();
        try (QedImage img = QedImage.open(file, recording(storages))) {
            assertThat(l1BytesRead(storages)).isEqualTo(512);
            assertThat(img.check(Repair.NONE).allocatedClusters()).as("check sees the whole L1 table")
                    .isEqualTo(1);
            img.resize(512L << 20);
            ByteBuffer b = ByteBuffer.allocate(data.length);
            img.readFully(b, far);
            assertThat(b.array()).isEqualTo(data);
            assertThat(img.extentAt(far).kind()).isEqualTo(Extent.Kind.DATA);
            img.write(ByteBuffer.wrap(data), far + (100L << 20));
        }
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            ByteBuffer b = ByteBuffer.allocate(data.length);
            img.readFully(b, far + (100L << 20));
            assertThat(b.array()).isEqualTo(data);
            assertThat(img.check(Repair.NONE).isClean()).isTrue();
        }
    }

    @Test
    void repairOfAnInvalidL1EntryPastTheLoadedPartKeepsMemoryAndFileInAgreement() throws IOException {
        Qemu.assumeAvailable();
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(1L << 20).withClusterSize(CS)
                .withTableSize(2))) {
            img.write(ByteBuffer.wrap(new byte[] {1}), 0);
        }
        // L1 entry 200 of 1024 (far past the size and the loaded sector) points into the header: an invalid entry check must clear.
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 512).rewind(),
                    L1_OFFSET + 200 * 8);
        }
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            CheckResult r = img.check(Repair.ERRORS);
            assertThat(r.corruptionsFixed()).isEqualTo(1);
            assertThat(r.isClean()).isTrue();
            ByteBuffer b = ByteBuffer.allocate(1);
            img.readFully(b, 0);
            assertThat(b.get(0)).isEqualTo((byte) 1);
        }
        Qemu.assertCheckClean(file);
    }

    private static void setImageSize(Path file, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, size).rewind(), 48);
        }
    }
}
