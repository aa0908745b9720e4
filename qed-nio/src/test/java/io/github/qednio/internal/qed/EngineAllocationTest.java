package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.ForwardingStorage;
import io.github.qednio.internal.storage.Storage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where allocations land and what a failed one gives back: the file length, the next allocation offset and the
 * host offsets of later writes (surviving mutants of {@code ClusterAllocator} and {@code AllocatingWrite} in the
 * mutation-testing baseline: the rollback could be removed without any test noticing).
 */
class EngineAllocationTest {
    private static final int CS = 65536;

    @TempDir
    Path dir;

    /** Fails, once armed, the first write at or past {@code from}, after writing its first half. */
    private static final class FailingDataWrite extends ForwardingStorage {
        volatile long from = Long.MAX_VALUE;

        FailingDataWrite(Storage delegate) {
            super(delegate);
        }

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            if (position >= from) {
                from = Long.MAX_VALUE;
                super.write(src.duplicate().limit(src.position() + src.remaining() / 2), position);
                throw new IOException("injected: data write failed");
            }
            super.write(src, position);
        }
    }

    private static byte[] filled(int n, int value) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) value);
        return b;
    }

    @Test
    void aFailedAllocatingWriteCutsTheFileBackAndTheNextAllocationReusesTheSpace() throws IOException {
        Path file = dir.resolve("a.qed");
        long end;
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20))) {
            img.write(ByteBuffer.wrap(filled(CS, 1)), 0);
            end = img.nextAllocationOffset();
        }
        assertThat(Files.size(file)).isEqualTo(end);
        FailingDataWrite[] storage = new FailingDataWrite[1];
        try (QedImage img = QedImage.open(file, OpenOptions.defaults().withStorageFactory((f, ro) -> {
            storage[0] = new FailingDataWrite(Storage.open(f, ro));
            return storage[0];
        }))) {
            storage[0].from = end;
            // Two whole clusters in the same L2 table: data only, no new table.
            assertThatThrownBy(() -> img.write(ByteBuffer.wrap(filled(2 * CS, 2)), 4L * CS))
                    .hasMessageContaining("injected");
            assertThat(Files.size(file)).as("the file is cut back to where the failed allocation began")
                    .isEqualTo(end);
            assertThat(img.nextAllocationOffset()).isEqualTo(end);
            assertThat(img.extentAt(4L * CS).kind()).isEqualTo(Extent.Kind.UNALLOCATED);

            img.write(ByteBuffer.wrap(filled(CS, 3)), 8L * CS);
            assertThat(img.extentAt(8L * CS).hostOffset()).as("the next allocation reuses the space")
                    .isEqualTo(end);
            assertThat(img.nextAllocationOffset()).isEqualTo(end + CS);
        }
        assertThat(Files.size(file)).isEqualTo(end + CS);
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            CheckResult r = img.check(Repair.NONE);
            assertThat(r.leaks()).isZero();
            assertThat(r.corruptions()).isZero();
            ByteBuffer b = ByteBuffer.allocate(CS);
            img.readFully(b, 8L * CS);
            assertThat(b.array()).isEqualTo(filled(CS, 3));
            img.readFully(b.clear(), 4L * CS);
            assertThat(b.array()).isEqualTo(new byte[CS]);
        }
        if (Qemu.crossChecks()) {
            Qemu.assertCheckClean(file);
        }
    }

    @Test
    void aFailedWriteOfANewL2TableGivesBackTheDataAndTheTable() throws IOException {
        Path file = dir.resolve("a.qed");
        long end;
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20).withClusterSize(4096)
                .withTableSize(2))) {
            // 4 KiB clusters, 2-cluster tables: each L2 table covers 4 MiB.
            img.write(ByteBuffer.wrap(filled(4096, 1)), 0);
            end = img.nextAllocationOffset();
        }
        FailingDataWrite[] storage = new FailingDataWrite[1];
        try (QedImage img = QedImage.open(file, OpenOptions.defaults().withStorageFactory((f, ro) -> {
            storage[0] = new FailingDataWrite(Storage.open(f, ro));
            return storage[0];
        }))) {
            // The data cluster goes at end, the new L2 table after it: fail the table write.
            storage[0].from = end + 4096;
            assertThatThrownBy(() -> img.write(ByteBuffer.wrap(filled(4096, 2)), 8L << 20))
                    .hasMessageContaining("injected");
            assertThat(Files.size(file)).isEqualTo(end);
            assertThat(img.nextAllocationOffset()).isEqualTo(end);
            img.write(ByteBuffer.wrap(filled(4096, 3)), 8L << 20);
            assertThat(img.extentAt(8L << 20).hostOffset()).isEqualTo(end);
        }
        if (Qemu.crossChecks()) {
            Qemu.assertCheckClean(file);
        }
    }

    /** Once armed, writes the next L1 table write (at 4096..12288) whole, then reports a failure. */
    private static final class L1WriteReportsFailure extends ForwardingStorage {
        volatile boolean armed;

        L1WriteReportsFailure(Storage delegate) {
            super(delegate);
        }

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            super.write(src, position);
            if (armed && position >= 4096 && position < 3 * 4096) {
                armed = false;
                throw new IOException("injected: L1 write reported failure after reaching the file");
            }
        }
    }

    @Test
    void anL1UpdateThatReachedTheFileBeforeFailingIsKeptInMemory() throws IOException {
        Path file = dir.resolve("a.qed");
        // 4 KiB clusters, 2-cluster tables: L1 at 0x1000, each L2 table covers 4 MiB; L1 entry 1 covers 4..8 MiB.
        QedImage.create(file, CreateOptions.ofSize(16L << 20).withClusterSize(4096).withTableSize(2)).close();
        L1WriteReportsFailure[] storage = new L1WriteReportsFailure[1];
        try (QedImage img = QedImage.open(file, OpenOptions.defaults().withStorageFactory((f, ro) -> {
            storage[0] = new L1WriteReportsFailure(Storage.open(f, ro));
            return storage[0];
        }))) {
            storage[0].armed = true;
            assertThatThrownBy(() -> img.write(ByteBuffer.wrap(filled(4096, 4)), 4L << 20))
                    .hasMessageContaining("injected");
            assertThat(img.extentAt(4L << 20).kind()).as("memory agrees with the L1 entry the file holds")
                    .isEqualTo(Extent.Kind.DATA);
            ByteBuffer b = ByteBuffer.allocate(4096);
            img.readFully(b, 4L << 20);
            assertThat(b.array()).isEqualTo(filled(4096, 4));
        }
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            ByteBuffer b = ByteBuffer.allocate(4096);
            img.readFully(b, 4L << 20);
            assertThat(b.array()).isEqualTo(filled(4096, 4));
            assertThat(img.check(Repair.NONE).isConsistent()).isTrue();
        }
    }
}
