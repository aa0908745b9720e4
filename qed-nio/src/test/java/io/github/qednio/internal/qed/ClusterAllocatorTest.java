package io.github.qednio.internal.qed;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.MemoryStorage;
import io.github.qednio.internal.storage.SimulatedDisk;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Allocation at the cluster-rounded end of the file, and rollback that cuts the file back durably. */
class ClusterAllocatorTest {
    private static final Geometry GEO = Geometry.of(4096, 4, 1);

    @TempDir
    Path dir;

    @Test
    void allocationsAppendAtTheClusterRoundedEnd() throws IOException {
        ClusterAllocator a = new ClusterAllocator(new MemoryStorage(), GEO, 3 * 4096 + 100);
        assertThat(a.nextAllocationOffset()).isEqualTo(3 * 4096);
        assertThat(a.allocate(2 * 4096)).isEqualTo(3 * 4096);
        assertThat(a.allocate(4096)).isEqualTo(5 * 4096);
        assertThat(a.nextAllocationOffset()).isEqualTo(6 * 4096);
        a.reset(2 * 4096 + 5);
        assertThat(a.nextAllocationOffset()).isEqualTo(2 * 4096);
    }

    @Test
    void rollbackCutsTheFileDurablyAndTheNextAllocationLandsThere() throws IOException {
        MemoryStorage disk = new MemoryStorage(new byte[3 * 4096]);
        ClusterAllocator a = new ClusterAllocator(disk, GEO, disk.size());
        long off = a.allocate(2 * 4096);
        disk.write(ByteBuffer.allocate(2 * 4096), off);
        disk.clearLog();
        a.rollback(off);
        assertThat(disk.size()).isEqualTo(off);
        assertThat(disk.log()).containsExactly("force");
        assertThat(a.nextAllocationOffset()).isEqualTo(off);
        assertThat(a.allocate(4096)).isEqualTo(off);
    }

    @Test
    void rollbackOfNothingWrittenTouchesNoFile() throws IOException {
        MemoryStorage disk = new MemoryStorage(new byte[3 * 4096]);
        ClusterAllocator a = new ClusterAllocator(disk, GEO, disk.size());
        long off = a.allocate(4096);
        a.rollback(off);
        assertThat(disk.log()).isEmpty();
        assertThat(a.nextAllocationOffset()).isEqualTo(off);
    }

    @Test
    void aFailedDataWriteGivesTheSpaceBackAndTheNextAllocationReusesIt() throws IOException {
        Path file = dir.resolve("r.qed");
        QedImage.create(file, CreateOptions.ofSize(16L << 20).withClusterSize(4096).withTableSize(2)).close();
        SimulatedDisk disk = new SimulatedDisk(Files.readAllBytes(file), 1, 1);
        try (QedImage img = QedImage.open(file, OpenOptions.defaults()
                .withStorageFactory((f, ro) -> disk.storage(f.toString())))) {
            img.write(ByteBuffer.allocate(4096).put(0, (byte) 1), 0); // the L2 table exists from now on
            long end = img.nextAllocationOffset();
            long length = disk.currentImage().length;
            disk.failWriteAt(1);
            try {
                img.write(ByteBuffer.allocate(2 * 4096).put(0, (byte) 2), 4 * 4096);
                throw new AssertionError("the write should have failed");
            } catch (IOException expected) {
                // the data write failed
            }
            assertThat(disk.currentImage().length).as("file cut back").isEqualTo(length);
            assertThat(img.nextAllocationOffset()).isEqualTo(end);
            img.write(ByteBuffer.allocate(4096).put(0, (byte) 3), 8 * 4096);
            assertThat(img.extentAt(8 * 4096).hostOffset()).as("lands where the failed one was").isEqualTo(end);
            assertThat(img.check(Repair.NONE).isClean()).isTrue();
        }
    }
}
