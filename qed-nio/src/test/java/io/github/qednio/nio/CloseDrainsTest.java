package io.github.qednio.nio;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.ClosedFileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Closing a file system, or the last channel of an implicitly opened image, waits for the channel operations in
 * progress: no byte reaches the image file after the close returns, and nothing new can start meanwhile.
 */
class CloseDrainsTest {
    private static final int CLUSTER = 4096;

    @TempDir
    Path dir;

    @Test
    void fileSystemCloseReturnsOnlyAfterTheWriteInProgressAndRefusesNewChannelsMeanwhile() throws Exception {
        Path image = dir.resolve("drain.qed");
        HookedStorage[] s = new HookedStorage[1];
        QedFileSystem fs = QedFileSystems.create(image, CreateOptions.ofSize(1 << 20).withClusterSize(CLUSTER),
                HookedStorage.options(OpenOptions.defaults(), s, null));
        FileChannel ch = FileChannel.open(fs.disk(), READ, WRITE);
        long host = allocateClusterZero(ch, image);

        CompletableFuture<Integer> write = stopWriteAt(s[0], host, ch);
        Thread closer = start(() -> fs.close());
        awaitClosed(ch);
        awaitParked(closer);

        assertThat(closer.isAlive()).as("close waits for the write in progress").isTrue();
        assertThatThrownBy(() -> FileChannel.open(fs.disk(), READ)).isInstanceOf(ClosedFileSystemException.class);
        assertThatThrownBy(() -> Files.newInputStream(fs.disk())).isInstanceOf(ClosedFileSystemException.class);
        assertThatThrownBy(() -> ch.read(ByteBuffer.allocate(1), 0)).isInstanceOf(ClosedChannelException.class);
        s[0].write.release();
        assertThat(write.get(30, TimeUnit.SECONDS)).isEqualTo(3);
        closer.join();

        assertNothingAfterTheStoppedWrite(s[0].events(), host);
        assertReadsBack(image, new byte[] {1, 2, 3});
        assertThat(DiskChannelContractTest.featuresOnDisk(image) & 2).as("NEED_CHECK").isZero();
        assertThatThrownBy(() -> Files.readAttributes(fs.disk(), BasicFileAttributes.class))
                .isInstanceOf(ClosedFileSystemException.class);
        assertThatThrownBy(() -> fs.getFileStores()).isInstanceOf(ClosedFileSystemException.class);
    }

    @Test
    void closingTheLastChannelOfAnImplicitImageReturnsOnlyAfterTheWriteInProgress() throws Exception {
        Path image = dir.resolve("implicit drain.qed");
        QedFileSystems.create(image, CreateOptions.ofSize(1 << 20).withClusterSize(CLUSTER)).close();
        HookedStorage[] s = new HookedStorage[1];
        // A provider of the test's own, whose implicit file systems open their images with the hook.
        ImageRegistry registry = new ImageRegistry(HookedStorage.options(OpenOptions.defaults(), s, null));
        Path disk = new QedFileSystemProvider(registry).getPath(uri(image));
        FileChannel ch = FileChannel.open(disk, READ, WRITE);
        long host = allocateClusterZero(ch, image, registry);

        CompletableFuture<Integer> write = stopWriteAt(s[0], host, ch);
        Thread closer = start(ch::close);
        awaitClosed(ch);
        awaitParked(closer);

        assertThat(closer.isAlive()).as("the last close waits for the write in progress").isTrue();
        s[0].write.release();
        assertThat(write.get(30, TimeUnit.SECONDS)).isEqualTo(3);
        closer.join();

        assertNothingAfterTheStoppedWrite(s[0].events(), host);
        assertThat(DiskChannelContractTest.featuresOnDisk(image) & 2).as("NEED_CHECK").isZero();
        assertReadsBack(image, new byte[] {1, 2, 3});
    }

    @Test
    void implicitFileSystemCloseWaitsForWorkOnAnImageThatStaysOpen() throws Exception {
        Path image = dir.resolve("shared.qed");
        QedFileSystems.create(image, CreateOptions.ofSize(1 << 20).withClusterSize(CLUSTER)).close();
        Path implicitDisk = Path.of(uri(image)); // made while no file system is open: an implicit one
        HookedStorage[] s = new HookedStorage[1];
        try (QedFileSystem explicit = QedFileSystems.open(image, HookedStorage.options(OpenOptions.defaults(), s,
                null))) {
            FileChannel ch = FileChannel.open(implicitDisk, READ, WRITE);
            assertThat(implicitDisk.getFileSystem()).isNotSameAs(explicit);
            long host = allocateClusterZero(ch, image);
            CompletableFuture<Integer> write = stopWriteAt(s[0], host, ch);
            Thread closer = start(() -> implicitDisk.getFileSystem().close());
            awaitClosed(ch);
            awaitParked(closer);
            assertThat(closer.isAlive()).isTrue();
            s[0].write.release();
            assertThat(write.get(30, TimeUnit.SECONDS)).isEqualTo(3);
            closer.join();
            assertThat(ch.isOpen()).isFalse();
            assertThat(explicit.isOpen()).isTrue();
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    static URI uri(Path image) {
        return URI.create("qed:" + image.toUri());
    }

    /** Writes cluster 0 (so later writes there go straight to the file) and returns its offset in the file. */
    private static long allocateClusterZero(FileChannel ch, Path image) throws IOException {
        return allocateClusterZero(ch, image, QedFileSystemProvider.instance().registry());
    }

    /** As above, for an image open in {@code registry}. */
    private static long allocateClusterZero(FileChannel ch, Path image, ImageRegistry registry) throws IOException {
        ch.write(ByteBuffer.allocate(CLUSTER), 0);
        ch.force(true);
        return registry.find(image).image().map(0, 1).get(0).hostOffset();
    }

    /** Starts a write of 1, 2, 3 at 0 that stops inside the file write at {@code host}, and waits until it does. */
    private static CompletableFuture<Integer> stopWriteAt(HookedStorage s, long host, FileChannel ch)
            throws InterruptedException {
        s.writeAt = host;
        s.write.arm();
        CompletableFuture<Integer> write = new CompletableFuture<>();
        start(() -> {
            try {
                write.complete(ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0));
            } catch (IOException | RuntimeException e) {
                write.completeExceptionally(e);
            }
        });
        s.write.awaitReached();
        return write;
    }

    public interface IoAction {
        void run() throws IOException;
    }

    static Thread start(IoAction action) {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                action.run();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Waits until the close has marked {@code ch} closed (it then goes on to close the image). */
    static void awaitClosed(FileChannel ch) {
        while (ch.isOpen()) {
            Thread.onSpinWait();
        }
    }

    /** Waits until {@code t} parks (or ends): the close has reached the point where it waits. */
    static void awaitParked(Thread t) {
        while (t.isAlive() && t.getState() != Thread.State.WAITING) {
            Thread.onSpinWait();
        }
    }

    /** The stopped write reached the file before any flush of the close, and nothing was written after close. */
    private static void assertNothingAfterTheStoppedWrite(List<String> events, long host) {
        int written = events.lastIndexOf("write " + host);
        int closed = events.indexOf("close");
        assertThat(written).as("the stopped write completed: %s", events).isNotNegative();
        assertThat(closed).as("the storage was closed after it: %s", events).isGreaterThan(written);
        assertThat(events.subList(written, closed)).as("the close flushed after the write: %s", events)
                .contains("force");
        assertThat(events.subList(closed, events.size())).as("nothing after close: %s", events)
                .containsExactly("close");
    }

    private static void assertReadsBack(Path image, byte[] expected) throws IOException {
        try (FileChannel ch = FileChannel.open(Path.of(uri(image)))) {
            ByteBuffer b = ByteBuffer.allocate(expected.length);
            ch.read(b, 0);
            assertThat(b.array()).isEqualTo(expected);
        }
    }
}
