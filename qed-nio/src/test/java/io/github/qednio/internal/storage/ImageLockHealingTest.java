package io.github.qednio.internal.storage;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.ImageLockedException;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qed.ChildJvm;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static io.github.qednio.internal.storage.HeldLocks.await;
import static io.github.qednio.internal.storage.HeldLocks.holds;
import static io.github.qednio.internal.storage.HeldLocks.holdsWriterBytes;
import static io.github.qednio.internal.storage.HeldLocks.token;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.common.jimfs.Configuration;
import com.google.common.jimfs.Jimfs;
import io.github.qednio.testing.Qemu;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How the lock manager ({@link ImageLock}) heals locks the kernel dropped, and what it refuses when it cannot: the
 * kernel drops every POSIX lock of this process on a file when any descriptor of it is closed, by foreign code
 * ({@code Files.readAllBytes}) or by the JDK when a thread is interrupted inside a channel call. Each test produces
 * the loss for real (no mock): a descriptor opened and closed in this JVM, or a channel call made with the
 * caller's interrupt status set, which always closes the channel. The outcomes are read from {@code /proc/locks}
 * (as QEMU sees them) and, where QEMU is installed, checked with {@code qemu-io}.
 */
class ImageLockHealingTest {
    @TempDir
    Path dir;
    Path image;
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @BeforeEach
    void createImage() throws IOException {
        image = dir.resolve("disk.qed");
        QedImage.create(image, CreateOptions.ofSize(1 << 20)).close();
    }

    @AfterEach
    void cleanUp() {
        Thread.interrupted();
        pool.shutdownNow();
    }

    private static boolean qemuCanWrite(Path image) {
        return Qemu.io("-f", "qed", "-c", "write 0 512", image.toString()).exitCode() == 0;
    }

    /** Closes {@code ch} the way an interrupted task does: a call made with the interrupt status set closes it. */
    private static void closeByInterrupt(FileChannel ch) throws IOException {
        Thread.currentThread().interrupt();
        try {
            ch.read(ByteBuffer.allocate(1), 0);
        } catch (ClosedByInterruptException expected) {
            // the JDK closed the descriptor, and the kernel dropped every lock of the process on the file
        } finally {
            Thread.interrupted();
        }
        assertThat(ch.isOpen()).isFalse();
    }

    private static String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }

    @Test
    void aReaderOpeningAfterForeignCodeDroppedTheWritersLocksTakesThemAgainBeforeAnyWrite() throws IOException {
        LockHandle writer = ImageLock.open(image, true);
        try {
            String token = token(image);
            Files.readAllBytes(image); // a descriptor opened and closed outside the library: the kernel drops all
            assertThat(holdsWriterBytes(token)).as("the kernel rule").isFalse();

            LockHandle reader = ImageLock.open(image, false);
            assertThat(holdsWriterBytes(token)).as("healed by the reader's open").isTrue();
            if (Qemu.crossChecks()) {
                assertThat(qemuCanWrite(image)).isFalse();
            }
            reader.close();
            assertThat(holdsWriterBytes(token)).as("kept when the reader leaves").isTrue();
        } finally {
            writer.close();
        }
    }

    @Test
    void repeatedlyRefusedSecondWritersReuseOneDescriptorAndLeaveTheFirstLocked() throws IOException {
        LockHandle writer = ImageLock.open(image, true);
        try {
            String token = token(image);
            for (int i = 0; i < 3; i++) {
                assertThatThrownBy(() -> ImageLock.open(image, true)).isInstanceOf(ImageLockedException.class)
                        .hasMessageContaining("already open for writing in this JVM");
            }
            // The refused opens' descriptor is kept idle for reuse, not closed (that would drop the writer's locks)
            // and not opened anew each time.
            assertThat(ImageLock.openChannels(image)).isEqualTo(2);
            assertThat(holdsWriterBytes(token)).isTrue();
        } finally {
            writer.close();
        }
        assertThat(ImageLock.openChannels(image)).isZero();
    }

    @Test
    void aReaderOpeningTheImageThroughAHardLinkSharesTheWritersEntry() throws IOException {
        Path link = dir.resolve("link.qed");
        try {
            Files.createLink(link, image);
        } catch (UnsupportedOperationException | IOException e) {
            assumeTrue(false, "no hard links here: " + e);
        }
        LockHandle writer = ImageLock.open(image, true);
        try {
            String token = token(image);
            // Another name, one inode: one entry (the JVM would refuse a second entry's locks as overlapping).
            LockHandle reader = ImageLock.open(link, false);
            assertThat(ImageLock.openChannels(image)).isEqualTo(2);
            reader.close();
            assertThat(holdsWriterBytes(token)).isTrue();
            assertThatThrownBy(() -> ImageLock.open(link, true)).isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining("already open for writing in this JVM");
        } finally {
            writer.close();
        }
        assertThat(ImageLock.openChannels(link)).isZero();
    }

    /**
     * An interrupt closes the writer's only channel while a reader is open: the reader's byte 100 is taken again
     * at the next library operation on the file (here the JDK's {@code setTimes}, which closes a descriptor of its
     * own), on the reader's read-only channel; the writer's locks wait for its own reopen, which takes them on a
     * fresh read-write channel that a later writer reuses.
     */
    @Test
    void afterAnInterruptClosedTheWritersChannelSetTimesRelocksTheReaderAndReopenTheWriter() throws IOException {
        LockHandle writer = ImageLock.open(image, true);
        LockHandle reader = ImageLock.open(image, false);
        String token = token(image);
        FileChannel old = writer.channel();
        closeByInterrupt(old);
        assertThat(holds(token, 100)).as("the kernel rule").isFalse();

        LockSafeFiles.setTimes(image, FileTime.fromMillis(1_600_000_000_000L), null, null);
        assertThat(Files.getLastModifiedTime(image)).isEqualTo(FileTime.fromMillis(1_600_000_000_000L));
        assertReaderLockOnlyThenWriterReopens(writer, reader, token, old);
    }

    /** The same, when the interrupt lands inside a library read of the file ({@link ImageLock#read}). */
    @Test
    void anInterruptInsideALibraryReadRelocksTheReaderAtOnceAndTheWriterAtItsReopen() throws Exception {
        LockHandle writer = ImageLock.open(image, true);
        LockHandle reader = ImageLock.open(image, false);
        String token = token(image);
        FileChannel old = writer.channel();
        // On a thread of its own, as a cancelled task would be: the entry must be free for this thread afterwards.
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        AtomicReference<Boolean> interruptKept = new AtomicReference<>();
        Thread task = new Thread(() -> {
            try {
                ImageLock.read(image, ch -> {
                    Thread.currentThread().interrupt(); // as if interrupted during the read
                    return ch.read(ByteBuffer.allocate(8), 0);
                });
            } catch (Throwable t) {
                thrown.set(t);
            }
            interruptKept.set(Thread.currentThread().isInterrupted());
        }, "task");
        task.start();
        task.join();
        assertThat(thrown.get()).isInstanceOf(ClosedByInterruptException.class);
        assertThat(interruptKept.get()).as("the interrupt is the caller's to see").isTrue();
        assertThat(old.isOpen()).isFalse();
        assertReaderLockOnlyThenWriterReopens(writer, reader, token, old);
    }

    /** A probe of a file nobody uses retires the file's entry; an open that queued for that entry meanwhile goes on. */
    @Test
    void anOpenQueuedBehindAProbeOfAnUnusedFileSucceeds() throws Exception {
        CountDownLatch probing = new CountDownLatch(1);
        CountDownLatch releaseProbe = new CountDownLatch(1);
        LockTable locks = new LockTable(file -> {
            if (Thread.currentThread().getName().equals("prober")) {
                probing.countDown();
                await(releaseProbe);
            }
        });
        AtomicReference<Object> probed = new AtomicReference<>();
        Thread prober = new Thread(() -> {
            try {
                probed.set(FormatProbe.probe(image, locks));
            } catch (Throwable t) {
                probed.set(t);
            }
        }, "prober");
        prober.start();
        probing.await(); // the prober holds the file's entry
        Future<LockHandle> open = pool.submit(() -> locks.open(image, true));
        while (locks.waiters(image) == 0 && !open.isDone()) {
            Thread.onSpinWait(); // until the opener queued for the prober's entry (or failed)
        }
        releaseProbe.countDown();
        prober.join();
        assertThat(probed.get()).isEqualTo("qed");
        LockHandle writer = open.get(60, TimeUnit.SECONDS); // a hang guard, not a timing assertion
        assertThat(writer.channel().isOpen()).isTrue();
        writer.close();
        assertThat(locks.tracks(image)).isFalse();
    }

    private void assertReaderLockOnlyThenWriterReopens(LockHandle writer, LockHandle reader,
            String token, FileChannel old) throws IOException {
        assertThat(holds(token, 100)).as("the reader's lock, taken again at once").isTrue();
        assertThat(holds(token, 101)).as("the writer's, not yet: its channel is closed").isFalse();
        assertThat(reader.channel().isOpen()).isTrue();

        FileChannel fresh = writer.reopen();
        assertThat(fresh).isNotSameAs(old);
        assertThat(fresh.isOpen()).isTrue();
        assertThat(writer.reopen()).as("an open channel is kept").isSameAs(fresh);
        assertThat(holdsWriterBytes(token)).isTrue();
        if (Qemu.crossChecks()) {
            assertThat(qemuCanWrite(image)).isFalse();
        }
        ByteBuffer first = ByteBuffer.allocate(1);
        fresh.read(first, 0);
        fresh.write(first.flip(), 0); // read-write, as a writer's channel must be (the byte is written unchanged)

        writer.close();
        LockHandle next = ImageLock.open(image, true);
        assertThat(next.channel()).as("the reopened channel is reused by the next writer").isSameAs(fresh);
        assertThat(ImageLock.openChannels(image)).isEqualTo(2);
        next.close();
        reader.close();
        assertThat(ImageLock.openChannels(image)).isZero();
    }

    @Test
    void aClosedHandleCannotBeReopened() throws IOException {
        LockHandle writer = ImageLock.open(image, true);
        LockHandle keep = ImageLock.open(image, false);
        FileChannel ch = writer.channel();
        writer.close();
        assertThatThrownBy(writer::reopen).isInstanceOf(ClosedChannelException.class);
        assertThat(ImageLock.openChannels(image)).as("no channel added for the closed handle").isEqualTo(2);
        keep.close();
        assertThat(ch.isOpen()).isFalse();
    }

    @Test
    void aLibraryReadWithAPendingInterruptLeavesTheSharedChannelOpenAndTheInterruptSet() throws IOException {
        LockHandle writer = ImageLock.open(image, true);
        try {
            String token = token(image);
            Thread.currentThread().interrupt();
            String format;
            try {
                format = LockSafeFiles.probeFormat(image);
            } finally {
                assertThat(Thread.interrupted()).as("the pending interrupt is kept for the caller").isTrue();
            }
            assertThat(format).isEqualTo("qed");
            assertThat(writer.channel().isOpen()).isTrue();
            assertThat(holdsWriterBytes(token)).isTrue();

            assertThat(LockSafeFiles.probeFormat(image)).isEqualTo("qed");
            assertThat(Thread.currentThread().isInterrupted()).as("no interrupt made up").isFalse();
        } finally {
            writer.close();
        }
    }

    @Test
    void probesAndTimeChangesOfFilesOnOtherFileSystemsWorkWithoutTheManager() throws IOException {
        try (FileSystem fs = Jimfs.newFileSystem(Configuration.unix())) {
            Path img = fs.getPath("/disk.qed");
            QedImage.create(img, CreateOptions.ofSize(1 << 20)).close();
            assertThat(LockSafeFiles.probeFormat(img)).isEqualTo("qed");
            LockSafeFiles.setTimes(img, FileTime.fromMillis(1_500_000_000_000L), null, null);
            assertThat(Files.getLastModifiedTime(img)).isEqualTo(FileTime.fromMillis(1_500_000_000_000L));
        }
    }

    @Test
    void probesAndTimeChangesOfAFileNobodyUsesLeaveNoEntryBehind() throws IOException {
        assertThat(LockSafeFiles.probeFormat(image)).isEqualTo("qed");
        assertThat(LockTable.jvm().tracks(image)).as("after a probe").isFalse();
        assertThat(Thread.currentThread().isInterrupted()).as("no interrupt made up").isFalse();
        LockSafeFiles.setTimes(image, FileTime.fromMillis(1_500_000_000_000L), null, null);
        assertThat(LockTable.jvm().tracks(image)).as("after setTimes").isFalse();
        LockHandle reader = ImageLock.open(image, false);
        assertThat(LockTable.jvm().tracks(image)).as("while open").isTrue();
        reader.close();
        assertThat(LockTable.jvm().tracks(image)).as("after an open and close").isFalse();
    }

    @Test
    void aProbeOfAFileNobodyUsesWithAPendingInterruptSucceedsAndKeepsTheInterrupt() throws IOException {
        Thread.currentThread().interrupt();
        String format;
        try {
            format = LockSafeFiles.probeFormat(image);
        } finally {
            assertThat(Thread.interrupted()).as("the pending interrupt is kept for the caller").isTrue();
        }
        assertThat(format).isEqualTo("qed");
    }

    @Test
    void probesAndTimeChangesFromOtherThreadsLeaveTheWritersEntryFreeForItsOwnThread() throws Exception {
        LockHandle writer = ImageLock.open(image, true);
        String token = token(image);
        // A thread of its own, which the writer's thread below can never be.
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread prober = new Thread(() -> {
            try {
                assertThat(LockSafeFiles.probeFormat(image)).isEqualTo("qed");
                LockSafeFiles.setTimes(image, FileTime.fromMillis(1_500_000_000_000L), null, null);
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "prober");
        prober.start();
        prober.join();
        assertThat(failure.get()).isNull();
        assertThat(holdsWriterBytes(token)).isTrue();
        pool.submit(() -> {
            writer.beforeFlush();
            writer.close();
            return null;
        }).get(60, TimeUnit.SECONDS);
        assertThat(ImageLock.openChannels(image)).isZero();
    }

    /**
     * The lost lock that cannot be healed: foreign code dropped the writer's locks and QEMU opened the image for
     * writing meanwhile. The writer's next write fails with {@link ImageLockedException} naming the image, no byte
     * of the file changes, and every later write and flush fails too, even after QEMU has gone.
     */
    @Test
    void aWriterWhoseLockQemuTookWhileItWasLostWritesNothingMore() throws Exception {
        Qemu.assumeAvailable();
        QedImage w = QedImage.open(image, OpenOptions.defaults());
        try {
            w.write(ByteBuffer.wrap(new byte[512]).put(0, (byte) 0x11), 0); // allocated now: QEMU overwrites in place
            w.flush();
            token(image);
            Files.readAllBytes(image); // the kernel drops the writer's locks

            Process qemu = new ProcessBuilder("qemu-io", "-f", "qed", image.toString()).redirectErrorStream(true)
                    .start();
            try {
                BufferedReader out = ChildJvm.stdout(qemu);
                OutputStream in = qemu.getOutputStream();
                in.write("write -P 0x44 0 512\n".getBytes(StandardCharsets.US_ASCII));
                in.flush();
                ChildJvm.awaitLine(out, "wrote 512/512 bytes"); // QEMU got in: it holds the image now
                String before = sha256(image);

                assertThatThrownBy(() -> w.write(ByteBuffer.wrap(new byte[] {0x55}), 4096))
                        .isInstanceOf(ImageLockedException.class).hasMessageContaining(image.toString())
                        .hasMessageContaining("another process took the image");
                assertThat(sha256(image)).as("no byte written").isEqualTo(before);

                in.write("quit\n".getBytes(StandardCharsets.US_ASCII));
                in.close();
                assertThat(qemu.waitFor(60, TimeUnit.SECONDS)).isTrue();
            } finally {
                qemu.destroyForcibly();
            }
            String afterQemu = sha256(image);
            assertThatThrownBy(() -> w.write(ByteBuffer.wrap(new byte[] {0x66}), 0))
                    .isInstanceOf(ImageLockedException.class);
            assertThatThrownBy(w::flush).isInstanceOf(ImageLockedException.class);
            assertThat(sha256(image)).as("still nothing written").isEqualTo(afterQemu);
        } finally {
            // close flushes first, and that flush is refused too; the image is closed all the same
            assertThatThrownBy(w::close).isInstanceOf(ImageLockedException.class);
        }
        assertThat(w.isOpen()).isFalse();
        assertThat(ImageLock.openChannels(image)).isZero();
        Qemu.Result r = Qemu.io("-r", "-f", "qed", "-c", "read -P 0x44 0 512", image.toString());
        assertThat(r.exitCode()).as("%s", r).isZero();
        assertThat(r.stdout()).doesNotContain("Pattern verification failed");
    }
}
