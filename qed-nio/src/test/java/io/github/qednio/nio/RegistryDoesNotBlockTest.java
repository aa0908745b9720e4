package io.github.qednio.nio;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemNotFoundException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The registry of open images never holds a lock across I/O: an image stuck in its open does not hold up other
 * images, {@code Path.of(uri)} or {@code getFileSystem}; a reopen right after a close waits for that close instead of
 * being refused; and an interrupt that closes the last channel does not make the interrupting thread wait for the
 * image's flush.
 */
class RegistryDoesNotBlockTest {
    private static final int CLUSTER = 4096;

    @TempDir
    Path dir;

    private static URI uri(Path image) {
        return URI.create("qed:" + image.toUri());
    }

    private static Path image(Path dir, String name) throws IOException {
        Path image = dir.resolve(name);
        QedFileSystems.create(image, CreateOptions.ofSize(1 << 20).withClusterSize(CLUSTER)).close();
        return image;
    }

    @Test
    void anImageStuckInItsOpenHoldsUpNeitherOtherImagesNorPathLookups() throws Exception {
        Path a = image(dir, "a.qed");
        Path b = image(dir, "b.qed");
        HookedStorage.Hook headerRead = new HookedStorage.Hook().arm();
        HookedStorage[] s = new HookedStorage[1];
        // A thread per task: on a 2-CPU machine JDK 25 runs async tasks in a common pool of one thread, where the
        // second task would wait behind the first, stopped one.
        java.util.concurrent.Executor threads = r -> new Thread(r).start();
        CompletableFuture<QedFileSystem> openA = CompletableFuture.supplyAsync(() -> {
            try {
                return QedFileSystems.open(a, HookedStorage.options(OpenOptions.defaults(), s, headerRead));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, threads);
        headerRead.awaitReached();
        try {
            // All of this while the open of a is stopped in its first read.
            CompletableFuture<Void> others = CompletableFuture.runAsync(() -> {
                try (FileSystem fsB = FileSystems.newFileSystem(uri(b), Map.of())) {
                    assertThat(FileSystems.getFileSystem(uri(b))).isSameAs(fsB);
                    assertThat(Path.of(uri(a)).getFileSystem().isOpen()).isTrue();
                    assertThatThrownBy(() -> FileSystems.getFileSystem(uri(a)))
                            .isInstanceOf(FileSystemNotFoundException.class);
                    try (FileChannel ch = FileChannel.open(fsB.getPath("/disk"), READ, WRITE)) {
                        ch.write(ByteBuffer.wrap(new byte[] {1}), 0);
                        ch.force(true);
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, threads);
            others.get(60, TimeUnit.SECONDS); // a guard against a hang on failure, not a timing assertion
            assertThat(openA).isNotDone();
        } finally {
            headerRead.release();
        }
        try (QedFileSystem fsA = openA.get(60, TimeUnit.SECONDS)) {
            assertThat(FileSystems.getFileSystem(uri(a))).isSameAs(fsA);
        }
    }

    @Test
    void aReopenDuringACloseWaitsForItAndSucceeds() throws Exception {
        Path image = image(dir, "reopen.qed");
        HookedStorage[] s = new HookedStorage[1];
        QedFileSystem first = QedFileSystems.open(image, HookedStorage.options(OpenOptions.defaults(), s, null));
        try (FileChannel ch = FileChannel.open(first.disk(), WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {4, 5}), 0);
        }
        s[0].force.arm();
        Thread closer = CloseDrainsTest.start(first::close);
        s[0].force.awaitReached(); // the close is flushing
        Path other = image(dir, "other.qed"); // meanwhile, other images open and lookups answer
        try (FileSystem fs = FileSystems.newFileSystem(uri(other), Map.of())) {
            assertThat(FileSystems.getFileSystem(uri(other))).isSameAs(fs);
            assertThat(Path.of(uri(image))).isNotNull();
        }
        CompletableFuture<FileSystem> reopen = new CompletableFuture<>();
        Thread opener = CloseDrainsTest.start(() -> {
            try {
                reopen.complete(FileSystems.newFileSystem(uri(image), Map.of()));
            } catch (IOException | RuntimeException e) {
                reopen.completeExceptionally(e);
            }
        });
        CloseDrainsTest.awaitParked(opener);
        assertThat(reopen).as("the reopen waits for the close").isNotDone();
        s[0].force.release();
        closer.join();
        try (FileSystem second = reopen.get(60, TimeUnit.SECONDS);
             FileChannel ch = FileChannel.open(second.getPath("/disk"))) {
            ByteBuffer b = ByteBuffer.allocate(2);
            ch.read(b, 0);
            assertThat(b.array()).containsExactly(4, 5);
        }
        // And a reopen right after a close that has returned, many times over.
        for (int i = 0; i < 20; i++) {
            FileSystems.newFileSystem(uri(image), Map.of()).close();
        }
    }

    @Test
    void anInterruptClosingTheLastChannelReturnsWhileTheImageCloseWaitsAndFlushes() throws Exception {
        Path image = image(dir, "interrupt.qed");
        HookedStorage[] s = new HookedStorage[1];
        // A provider of the test's own, whose implicit file systems open their images with the hook.
        ImageRegistry registry = new ImageRegistry(HookedStorage.options(OpenOptions.defaults(), s, null));
        Path disk = new QedFileSystemProvider(registry).getPath(uri(image));
        FileChannel ch = FileChannel.open(disk, READ, WRITE);
        ch.write(ByteBuffer.allocate(CLUSTER), 0);
        ch.force(true);
        OpenImage entry = registry.find(image);
        s[0].writeAt = entry.image().map(0, 1).get(0).hostOffset();
        s[0].write.arm();
        s[0].force.arm();
        CompletableFuture<Throwable> victimOutcome = new CompletableFuture<>();
        Thread victim = new Thread(() -> {
            try {
                ch.write(ByteBuffer.wrap(new byte[] {6, 6}), 0);
                victimOutcome.complete(null);
            } catch (IOException e) {
                victimOutcome.complete(e);
            }
        });
        victim.start();
        s[0].write.awaitReached();

        Thread interrupter = new Thread(victim::interrupt);
        interrupter.start();
        interrupter.join(TimeUnit.SECONDS.toMillis(60)); // a guard against a hang on failure
        assertThat(interrupter.isAlive()).as("the interrupter returned").isFalse();
        assertThat(ch.isOpen()).isFalse();
        assertThat(entry.closedFuture()).as("the image close waits for the write in progress").isNotDone();

        s[0].write.release();
        assertThat(victimOutcome.get(60, TimeUnit.SECONDS)).isInstanceOf(ClosedByInterruptException.class);
        s[0].force.awaitReached();
        assertThat(entry.closedFuture()).as("the close is flushing").isNotDone();
        assertThat(Thread.currentThread().isInterrupted()).isFalse();
        s[0].force.release();
        entry.closedFuture().get(60, TimeUnit.SECONDS);

        assertThat(DiskChannelContractTest.featuresOnDisk(image) & 2).as("NEED_CHECK").isZero();
        try (FileChannel again = FileChannel.open(Path.of(uri(image)))) {
            ByteBuffer b = ByteBuffer.allocate(2);
            again.read(b, 0);
            assertThat(b.array()).containsExactly(6, 6);
        }
        assertThat(Files.exists(image)).isTrue();
    }
}
