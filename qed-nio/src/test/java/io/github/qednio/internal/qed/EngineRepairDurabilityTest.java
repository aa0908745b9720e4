package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.SimulatedDisk;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A repair's effects are durable when it returns, even on an image that was clean before (so no NEED_CHECK
 * transition forces the file afterwards): a power cut right after the repair finds the cut file.
 */
class EngineRepairDurabilityTest {
    private static final int CS = 65536;

    @TempDir
    Path dir;

    @Test
    void leakedClustersCutByARepairStayCutAfterAPowerLossRightAfterIt() throws IOException {
        Path file = dir.resolve("a.qed");
        long end;
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(16L << 20))) {
            img.write(ByteBuffer.wrap(new byte[] {1}), 0);
            end = img.nextAllocationOffset();
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {9}), end + 2L * CS - 1); // two leaked clusters, flag clear
        }
        SimulatedDisk disk = new SimulatedDisk(Files.readAllBytes(file), 1, 1);
        try (QedImage img = QedImage.openForCheck(file, OpenOptions.defaults()
                .withStorageFactory((f, ro) -> disk.storage(f.toString())))) {
            assertThat(img.needsCheck()).isFalse();
            CheckResult r = img.check(Repair.ERRORS_AND_LEAKS);
            assertThat(r.leaksFixed()).isEqualTo(2);
            assertThat(r.leaks()).isZero();
            assertThat(img.nextAllocationOffset()).isEqualTo(end);
            disk.crashNow(SimulatedDisk.CrashMode.LOSE_ALL);
        } catch (IOException closeAfterCrash) {
            // close fails on the crashed disk; the crash image is what matters
        }
        assertThat((long) disk.crashImage().length).as("file length after a power loss right after the repair")
                .isEqualTo(end);
    }
}
