package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.internal.qed.EngineTestHooks;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * Positional reads and writes on other clusters proceed while a write is stuck inside the image file, on the same
 * channel and on others: neither the channel nor the engine serialises them.
 */
class PositionalIoDoesNotWaitTest {
    private static final int CLUSTER = 4096;

    @TempDir
    Path dir;

    /** Storage whose writes to one file offset block until released. */
    private static final class StallingStorage extends EngineTestHooks.Interceptor {
        volatile long stallAt = -1;
        final CountDownLatch stalled = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            if (position == stallAt) {
                stalled.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException(e);
                }
            }
            super.write(src, position);
        }
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a wait here would otherwise hang forever
    void readsAndWritesOnOtherClustersCompleteWhileAWriteIsStuck() throws Exception {
        Path image = dir.resolve("stall.qed");
        StallingStorage[] storage = new StallingStorage[1];
        OpenOptions options = EngineTestHooks.intercepting(OpenOptions.defaults(), (file, readOnly) -> {
            storage[0] = new StallingStorage();
            return storage[0];
        });
        try (QedFileSystem fs = QedFileSystems.create(image, CreateOptions.ofSize(1 << 20).withClusterSize(CLUSTER),
                options);
             FileChannel writer = FileChannel.open(fs.disk(), READ, WRITE);
             FileChannel other = FileChannel.open(fs.disk(), READ, WRITE)) {
            // Allocate clusters 0..3 so that later writes go straight to the file.
            writer.write(ByteBuffer.allocate(4 * CLUSTER), 0);
            // Find where guest cluster 0 lives in the file, and make a write there stall.
            var extent = fs.provider().registry().find(image).image().map(0, 1).get(0);
            storage[0].stallAt = extent.hostOffset();

            CompletableFuture<Integer> stuck = CompletableFuture.supplyAsync(() -> {
                try {
                    return writer.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            try {
                assertThat(storage[0].stalled.await(30, TimeUnit.SECONDS)).as("the write reached the file").isTrue();
                whileStuck(writer, other, stuck);
            } finally {
                storage[0].release.countDown();
            }
            assertThat(stuck.get(30, TimeUnit.SECONDS)).isEqualTo(3);
            ByteBuffer three = ByteBuffer.allocate(3);
            other.read(three, 0);
            assertThat(three.array()).containsExactly(1, 2, 3);
        }
    }

    private static void whileStuck(FileChannel writer, FileChannel other, CompletableFuture<Integer> stuck)
            throws IOException {
        // While it is stuck: positional I/O on other clusters, through the same channel and another one.
        assertThat(writer.write(ByteBuffer.wrap(new byte[] {4}), CLUSTER)).isEqualTo(1);
        assertThat(other.write(ByteBuffer.wrap(new byte[] {5}), 2 * CLUSTER)).isEqualTo(1);
        ByteBuffer b = ByteBuffer.allocate(1);
        assertThat(writer.read(b, CLUSTER)).isEqualTo(1);
        assertThat(b.get(0)).isEqualTo((byte) 4);
        assertThat(other.read(b.clear(), 2 * CLUSTER)).isEqualTo(1);
        assertThat(b.get(0)).isEqualTo((byte) 5);
        assertThat(stuck).isNotDone();
    }
}
