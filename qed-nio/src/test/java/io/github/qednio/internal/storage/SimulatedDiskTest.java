package io.github.qednio.internal.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** The fault injector itself: what survives a crash, a torn write, a failed force and a full disk. */
class SimulatedDiskTest {

    private static void write(Storage s, long pos, int... bytes) throws IOException {
        byte[] b = new byte[bytes.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) bytes[i];
        }
        s.write(ByteBuffer.wrap(b), pos);
    }

    @Test
    void powerLossDropsEverythingSinceTheLastSuccessfulForce() throws IOException {
        SimulatedDisk disk = new SimulatedDisk(new byte[4], 1, 1);
        Storage s = disk.storage("d");
        write(s, 0, 1, 1);
        s.force();
        write(s, 2, 2, 2, 2, 2);
        s.truncate(5);
        assertThat(disk.currentImage()).containsExactly(1, 1, 2, 2, 2);
        disk.crashNow(SimulatedDisk.CrashMode.LOSE_ALL);
        assertThat(disk.crashImage()).containsExactly(1, 1, 0, 0);
        assertThatThrownBy(() -> s.read(ByteBuffer.allocate(1), 0)).hasMessageContaining("power loss");
    }

    @Test
    void aTornLastWriteKeepsTheEarlierWritesAndAPrefixCutAtTheGranularity() throws IOException {
        for (long seed = 0; seed < 50; seed++) {
            SimulatedDisk disk = new SimulatedDisk(new byte[0], seed, 8);
            Storage s = disk.storage("d");
            write(s, 0, 9, 9, 9);
            disk.crashAt(1, SimulatedDisk.CrashMode.TEAR_LAST);
            assertThatThrownBy(() -> s.write(ByteBuffer.wrap(new byte[32]).put(0, (byte) 7).put(31, (byte) 7), 4))
                    .isInstanceOf(IOException.class);
            byte[] img = disk.crashImage();
            assertThat(img).startsWith(9, 9, 9);
            // A cut at 8, 16, 24 or 32 (file offsets), never inside an aligned 8-byte word.
            assertThat(img.length).isIn(3, 8, 16, 24, 32, 36);
        }
    }

    @Test
    void aFailedForceMakesNothingDurableButTheNextForceDoes() throws IOException {
        SimulatedDisk disk = new SimulatedDisk(new byte[2], 1, 1);
        Storage s = disk.storage("d");
        write(s, 0, 5);
        disk.failForceAt(1);
        assertThatThrownBy(s::force).hasMessageContaining("fsync");
        assertThat(disk.durableImage()).containsExactly(0, 0);
        s.force();
        assertThat(disk.durableImage()).containsExactly(5, 0);
    }

    @Test
    void aFullDiskWritesWhatFitsAndFailsWithEnospc() throws IOException {
        SimulatedDisk disk = new SimulatedDisk(new byte[4], 1, 1).limitSize(6);
        Storage s = disk.storage("d");
        write(s, 0, 1, 1, 1, 1);
        assertThatThrownBy(() -> write(s, 4, 2, 2, 2, 2)).hasMessage(SimulatedDisk.ENOSPC);
        assertThat(disk.currentImage()).containsExactly(1, 1, 1, 1, 2, 2);
    }

    @Test
    void keepingASubsetAppliesTheKeptWritesInOrder() throws IOException {
        boolean sawPartial = false;
        for (long seed = 0; seed < 40; seed++) {
            SimulatedDisk disk = new SimulatedDisk(new byte[1], seed, 1);
            Storage s = disk.storage("d");
            write(s, 0, 1);
            write(s, 0, 2);
            disk.crashNow(SimulatedDisk.CrashMode.KEEP_SUBSET);
            int b = disk.crashImage()[0];
            assertThat(b).isIn(0, 1, 2);
            sawPartial |= b == 1;
        }
        assertThat(sawPartial).isTrue();
    }
}
