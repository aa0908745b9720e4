package io.github.qednio.internal.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The buffer helpers every read path relies on: zero-filling and the one read-fully loop. */
class BuffersTest {
    @Test
    void putZerosClearsExactlyNBytesOfAHeapSliceAtItsPosition() {
        byte[] backing = new byte[64];
        Arrays.fill(backing, (byte) 0x5a);
        // A slice has a non-zero array offset: the zeros must land relative to it.
        ByteBuffer b = ByteBuffer.wrap(backing, 8, 40).slice();
        b.position(4);
        Buffers.putZeros(b, 10);
        assertThat(b.position()).isEqualTo(14);
        for (int i = 0; i < backing.length; i++) {
            assertThat(backing[i]).as("byte %d", i).isEqualTo(i >= 12 && i < 22 ? (byte) 0 : (byte) 0x5a);
        }
    }

    @Test
    void putZerosFillsADirectBufferLargerThanItsZeroBlock() {
        int n = 200 * 1024 + 17; // more than three 64 KiB blocks and a remainder
        ByteBuffer b = ByteBuffer.allocateDirect(n + 9);
        while (b.hasRemaining()) {
            b.put((byte) 0x77);
        }
        b.position(5);
        Buffers.putZeros(b, n);
        assertThat(b.position()).isEqualTo(5 + n);
        for (int i = 0; i < b.capacity(); i++) {
            assertThat(b.get(i)).as("byte %d", i).isEqualTo(i >= 5 && i < 5 + n ? (byte) 0 : (byte) 0x77);
        }
    }

    @Test
    void fillReadsAcrossShortReadsUntilFullAndCountsOnlyWhatTheFileHad(@TempDir Path tmp) throws IOException {
        byte[] content = new byte[1000];
        for (int i = 0; i < content.length; i++) {
            content[i] = (byte) (i * 7);
        }
        Path f = Files.write(tmp.resolve("f"), content);
        try (Storage s = Storage.open(f, true)) {
            // A source that hands out at most 3 bytes per call, as a pipe or a slow file system may.
            Buffers.PositionalRead trickle = (dst, pos) -> {
                ByteBuffer part = dst.slice(dst.position(), Math.min(3, dst.remaining()));
                int n = s.read(part, pos);
                if (n > 0) {
                    dst.position(dst.position() + n);
                }
                return n;
            };
            ByteBuffer dst = ByteBuffer.allocate(100);
            assertThat(Buffers.fill(trickle, dst, 10)).isEqualTo(100);
            assertThat(dst.array()).isEqualTo(Arrays.copyOfRange(content, 10, 110));
            ByteBuffer tail = ByteBuffer.allocate(100);
            assertThat(Buffers.fill(trickle, tail, 950)).as("only 50 bytes left").isEqualTo(50);
            assertThat(Arrays.copyOf(tail.array(), 50)).isEqualTo(Arrays.copyOfRange(content, 950, 1000));
            assertThat(Buffers.fill(trickle, ByteBuffer.allocate(10), 5000)).as("past the end").isZero();
        }
    }

    @Test
    void sliceIsAViewOfTheNextBytesAndLeavesTheBufferWhereItWas() {
        ByteBuffer b = ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5, 6});
        b.position(2);
        ByteBuffer s = Buffers.slice(b, 3);
        assertThat(s.position()).isZero();
        assertThat(s.remaining()).isEqualTo(3);
        assertThat(s.get(0)).isEqualTo((byte) 3);
        s.put(2, (byte) 9);
        assertThat(b.get(4)).isEqualTo((byte) 9);
        assertThat(b.position()).isEqualTo(2);
    }
}
