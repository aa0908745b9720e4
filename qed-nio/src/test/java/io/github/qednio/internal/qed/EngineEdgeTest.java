package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.chain.SharedBackings;
import io.github.qednio.internal.storage.ForwardingStorage;
import io.github.qednio.internal.storage.Storage;
import io.github.qednio.internal.storage.StorageFactory;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.CorruptImageException;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.testing.Qemu;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Edge cases of the engine's pieces that no broader test pins down (they were surviving mutants in the
 * mutation-testing baseline): the L2 cache after a repair, a failed L1 update, copy-on-read across tables, the
 * cut at an overlay's end, a failed open, the table-size limit, reads past the end.
 */
class EngineEdgeTest {
    private static final int CS = 65536;

    @TempDir
    Path dir;

    private static void putLong(Path file, long offset, long value) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value).rewind(), offset);
        }
    }

    private static byte[] read(QedImage img, long pos, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        img.readFully(b, pos);
        return b.array();
    }

    @Test
    void aTableRewrittenByRepairIsReadAgainNotServedFromTheCache() throws IOException {
        Path file = dir.resolve("a.qed");
        long l2;
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(16L << 20))) {
            img.write(ByteBuffer.wrap(new byte[] {7}), 0);
            l2 = img.extentAt(0).hostOffset() + CS;
        }
        putLong(file, l2 + 8, 1L << 40); // entry 1: far past the end of the file
        try (QedImage img = QedImage.openForCheck(file, OpenOptions.defaults())) {
            assertThat(read(img, 0, 1)).containsExactly(7); // caches the table
            assertThatThrownBy(() -> read(img, CS, 1)).isInstanceOf(CorruptImageException.class);
            assertThat(img.check(Repair.ERRORS).corruptionsFixed()).isEqualTo(1);
            assertThat(read(img, CS, 1)).as("the cleared entry, through the same open image").containsExactly(0);
            assertThat(img.extentAt(CS).kind()).isEqualTo(Extent.Kind.UNALLOCATED);
        }
    }

    /** Fails the first write into the L1 table after being armed: nothing written, or the first 2 bytes. */
    private static final class FailingL1Write extends ForwardingStorage {
        volatile boolean armed;
        final boolean torn;

        FailingL1Write(Storage delegate, boolean torn) {
            super(delegate);
            this.torn = torn;
        }

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            if (armed && position >= SMALL_CS && position < 3L * SMALL_CS) {
                armed = false;
                if (torn) {
                    super.write(src.duplicate().limit(src.position() + 2), position);
                }
                throw new IOException("injected: L1 write failed");
            }
            super.write(src, position);
        }
    }

    private static final int SMALL_CS = 4096;

    @ParameterizedTest(name = "torn={0}")
    @ValueSource(booleans = {false, true})
    void aFailedL1UpdateLeavesTheEntryInMemoryAsTheFileHoldsIt(boolean torn) throws IOException {
        // 4 KiB clusters, 2-cluster tables: the L1 table is at 0x1000, each L2 table covers 4 MiB.
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20).withClusterSize(SMALL_CS)
                .withTableSize(2))) {
            // Grow the file so that the next L2 table lands at 0x16000: two bytes of its offset are not zero, so
            // a write torn after two bytes leaves an entry that is neither the old value nor the new one.
            img.write(ByteBuffer.wrap(new byte[16 * SMALL_CS]), 4L << 20);
            assertThat(img.nextAllocationOffset()).isEqualTo(0x15000);
        }
        FailingL1Write[] storage = new FailingL1Write[1];
        try (QedImage img = QedImage.open(file, OpenOptions.defaults().withStorageFactory((f, ro) -> {
            storage[0] = new FailingL1Write(Storage.open(f, ro), torn);
            return storage[0];
        }))) {
            storage[0].armed = true;
            assertThatThrownBy(() -> img.write(ByteBuffer.wrap(new byte[] {5}), 0))
                    .hasMessageContaining("injected");
            ByteBuffer entry = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            try (FileChannel ch = FileChannel.open(file)) {
                ch.read(entry, SMALL_CS);
            }
            assertThat(entry.getLong(0)).as("L1 entry 0 on disk (a torn one is put back)").isZero();
            assertThat(img.extentAt(0).kind()).as("L1 entry 0 in memory").isEqualTo(Extent.Kind.UNALLOCATED);
            img.write(ByteBuffer.wrap(new byte[] {6}), 0);
            assertThat(read(img, 0, 1)).containsExactly(6);
        }
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            assertThat(read(img, 0, 1)).containsExactly(6);
            assertThat(img.check(Repair.NONE).isConsistent()).isTrue();
        }
    }

    @Test
    void copyOnReadAcrossAnL2TableBoundaryAndPartlyAllocatedClustersCopiesEveryCluster() throws IOException {
        // 4 KiB clusters, 2-cluster tables: each L2 table covers 4 MiB.
        Path base = dir.resolve("base.raw");
        byte[] content = new byte[8 << 20];
        new Random(3).nextBytes(content);
        Files.write(base, content);
        Path top = dir.resolve("top.qed");
        long boundary = 4L << 20;
        try (QedImage img = QedImage.create(top, CreateOptions.overlay("base.raw", ImageFormat.RAW)
                .withClusterSize(4096).withTableSize(2))) {
            img.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), boundary - 2 * 4096 + 100); // partly allocated
        }
        try (QedImage img = QedImage.open(top, OpenOptions.defaults().withCopyOnRead(true))) {
            long from = boundary - 3 * 4096 + 10;
            byte[] got = read(img, from, 6 * 4096);
            byte[] want = Arrays.copyOfRange(content, (int) from, (int) from + 6 * 4096);
            System.arraycopy(new byte[] {1, 2, 3}, 0, want, (int) (boundary - 2 * 4096 + 100 - from), 3);
            assertThat(got).isEqualTo(want);
            List<MappedExtent> m = img.map(boundary - 3 * 4096, 7 * 4096);
            assertThat(m).as("every cluster touched by the read is now in the overlay: %s", m)
                    .allSatisfy(e -> assertThat(e.depth()).isZero());
            assertThat(m.stream().mapToLong(MappedExtent::length).sum()).isEqualTo(7 * 4096);
        }
        try (QedImage img = QedImage.open(top, OpenOptions.readOnlyDefaults())) {
            long from = boundary - 3 * 4096;
            byte[] want = Arrays.copyOfRange(content, (int) from, (int) from + 7 * 4096);
            System.arraycopy(new byte[] {1, 2, 3}, 0, want, 4096 + 100, 3);
            assertThat(read(img, from, 7 * 4096)).isEqualTo(want);
            assertThat(img.check(Repair.NONE).isClean()).isTrue();
        }
        if (Qemu.crossChecks()) {
            Qemu.assertCheckClean(top);
        }
    }

    @Test
    void copyOnWriteFillsPastTheOverlaysEndWithZerosNotWithTheLargerBase() throws IOException {
        Path base = dir.resolve("base.raw");
        byte[] content = new byte[1 << 20];
        Arrays.fill(content, (byte) 0x55);
        Files.write(base, content);
        Path top = dir.resolve("top.qed");
        long size = CS + 512; // the last cluster is mostly past the end of the disk
        try (QedImage img = QedImage.create(top, CreateOptions.overlay("base.raw", ImageFormat.RAW)
                .withSize(size))) {
            img.write(ByteBuffer.wrap(new byte[] {9}), CS);
            img.resize(2L * CS);
            byte[] got = read(img, CS, CS);
            assertThat(got[0]).isEqualTo((byte) 9);
            assertThat(Arrays.copyOfRange(got, 1, 512)).as("inside the old size: the base")
                    .containsOnly((byte) 0x55);
            assertThat(Arrays.copyOfRange(got, 512, CS)).as("past the old size: zeros, not the base")
                    .containsOnly((byte) 0);
            assertThat(read(img, 2L * CS - 10, 10)).containsOnly((byte) 0);
        }
    }

    /** Fails reads of the L1 table of the top image, after its backing file was opened. */
    @Test
    void aFailedOpenReleasesTheBackingFileItHadOpened() throws IOException {
        Path base = dir.resolve("base.qed");
        QedImage.create(base, CreateOptions.ofSize(1L << 20)).close();
        Path top = dir.resolve("top.qed");
        QedImage.create(top, CreateOptions.overlay("base.qed", ImageFormat.QED)).close();
        StorageFactory failing = (f, ro) -> {
            Storage s = Storage.open(f, ro);
            if (!f.getFileName().toString().equals("top.qed")) {
                return s;
            }
            return new ForwardingStorage(s) {
                @Override
                public int read(ByteBuffer dst, long position) throws IOException {
                    if (position >= CS) {
                        throw new IOException("injected: L1 unreadable");
                    }
                    return super.read(dst, position);
                }
            };
        };
        assertThatThrownBy(() -> QedImage.open(top, OpenOptions.readOnlyDefaults().withStorageFactory(failing)))
                .hasMessageContaining("injected");
        assertThat(SharedBackings.jvm().references(base.toRealPath())).as("references to the backing file").isZero();
        try (QedImage img = QedImage.open(top, OpenOptions.defaults())) {
            assertThat(img.backingImage()).isNotNull();
        }
    }

    @Test
    void tablesOfExactlyTheLimitOpenAndOneByteMoreIsRefused() throws IOException {
        Path file = dir.resolve("a.qed");
        QedImage.create(file, CreateOptions.ofSize(1L << 20).withClusterSize(4096).withTableSize(2)).close();
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults().withMaxTableBytes(8192))) {
            assertThat(img.geometry().tableBytes()).isEqualTo(8192);
        }
        assertThatThrownBy(() -> QedImage.open(file, OpenOptions.readOnlyDefaults().withMaxTableBytes(8191)))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("8192")
                .hasMessageContaining("8191");
    }

    @Test
    void readFullyPastTheEndThrowsEofExceptionAndReadReturnsWhatFits() throws IOException {
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(1L << 20))) {
            long size = img.size();
            assertThatThrownBy(() -> img.readFully(ByteBuffer.allocate(2), size - 1))
                    .isInstanceOf(EOFException.class).hasMessageContaining(file.toString());
            assertThatThrownBy(() -> img.readFully(ByteBuffer.allocate(1), -1)).isInstanceOf(EOFException.class);
            img.readFully(ByteBuffer.allocate(1), size - 1);
            ByteBuffer b = ByteBuffer.allocate(10);
            assertThat(img.read(b, size - 4)).isEqualTo(4);
            assertThat(b.position()).isEqualTo(4);
            assertThat(img.read(ByteBuffer.allocate(1), size)).isEqualTo(-1);
            assertThat(img.read(ByteBuffer.allocate(0), size)).isZero();
        }
    }
}
