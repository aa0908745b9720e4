package io.github.qednio.internal.storage;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link LockSafeFiles#newReadChannel}: reads an image file beside its writer without dropping the writer's locks. */
class LockSafeReadChannelTest {
    private static final int[] WRITER_BYTES = {100, 101, 103, 201, 203};

    @TempDir
    Path dir;

    @Test
    void closingAReadChannelOnAHeldImageKeepsTheWritersLocks() throws IOException {
        Path p = dir.resolve("held.qed");
        try (QedImage w = QedImage.create(p, CreateOptions.ofSize(1 << 20))) {
            w.write(ByteBuffer.wrap(new byte[] {7}), 0);
            w.flush();
            String token = ProcLocks.tokenOf(p, 101);
            assumeTrue(token != null, "/proc/locks does not list this process's locks here");
            assertThat(holdsWriterLocks(token)).isTrue();

            ByteBuffer head = ByteBuffer.allocate(QedHeader.HEADER_LENGTH);
            try (SeekableByteChannel ch = LockSafeFiles.newReadChannel(p)) {
                assertThat(ch.size()).isEqualTo(java.nio.file.Files.size(p));
                Buffers.fill((dst, pos) -> ch.position(pos).read(dst), head, 0);
                assertThat(ch.position()).isEqualTo(QedHeader.HEADER_LENGTH);
                assertThatThrownBy(() -> ch.write(ByteBuffer.allocate(1))).isInstanceOf(
                        NonWritableChannelException.class);
                assertThatThrownBy(() -> ch.truncate(0)).isInstanceOf(NonWritableChannelException.class);
            }
            assertThat(QedHeader.hasMagic(head.flip())).isTrue();
            assertThat(holdsWriterLocks(token)).as("the writer's locks after the reader closed").isTrue();
            w.write(ByteBuffer.wrap(new byte[] {8}), 1); // and the writer carries on
        }
    }

    @Test
    void aClosedReadChannelRefusesReads() throws IOException {
        Path p = dir.resolve("r.qed");
        QedImage.create(p, CreateOptions.ofSize(1 << 20)).close();
        SeekableByteChannel ch = LockSafeFiles.newReadChannel(p);
        ch.close();
        ch.close(); // idempotent
        assertThat(ch.isOpen()).isFalse();
        assertThatThrownBy(() -> ch.read(ByteBuffer.allocate(1))).isInstanceOf(ClosedChannelException.class);
        assertThat(ImageLock.openChannels(p)).isZero();
    }

    private static boolean holdsWriterLocks(String token) throws IOException {
        var ranges = ProcLocks.ranges(token);
        for (int b : WRITER_BYTES) {
            if (!ProcLocks.covers(ranges, b)) {
                return false;
            }
        }
        return true;
    }
}
