package io.github.qednio.internal.storage;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.qed.EngineNeedCheckTest;
import io.github.qednio.internal.qed.QedLayout;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.jimfs.Configuration;
import com.google.common.jimfs.Jimfs;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.FileSystem;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JDK closes a FileChannel when a thread is interrupted during I/O on it. Threads interrupted over and over
 * mid-I/O must not take the image away from the other threads: they keep working with their data intact, the
 * image closes cleanly, and on the default file system the image locks the close dropped are taken again.
 *
 * <p>Whether an interrupt of a busy thread lands inside a channel call is up to the scheduler, so no assertion
 * depends on it: the channel is also closed by interrupts a fixed number of times on purpose (a call made on it
 * with the caller's interrupt status set closes it, always), and the assertions are about outcomes.
 */
class FileStorageInterruptTest {
    private static final int SIZE = 64 << 20;
    private static final int STEADY = 3;
    private static final int VICTIMS = 2;
    private static final int REGION = 4 << 20;
    private static final int BLOCK = 16 << 10;
    private static final long VICTIM_BASE = 32 << 20;
    /** Closes of the channel by an interrupt made on purpose while the other threads work. */
    private static final int CLOSES = 20;

    @TempDir
    Path dir;

    @Test
    void threadsInterruptedMidIoLeaveTheImageOpenLockedAndConsistentForTheOthers() throws Exception {
        Path image = dir.resolve("disk.qed");
        QedImage.create(image, CreateOptions.ofSize(SIZE)).close();
        byte[][] expected;
        AtomicReference<FileStorage> storage = new AtomicReference<>();
        try (QedImage img = QedImage.open(image, OpenOptions.defaults().withStorageFactory(recording(storage)))) {
            expected = hammer(img, storage.get());

            assertThat(img.isOpen()).isTrue();
            assertThat(ImageLock.openChannels(image)).isEqualTo(1);
            // The interrupted closes dropped this process's POSIX locks; they must have been taken again.
            if (Qemu.crossChecks()) { // without QEMU only the cross-checks are skipped
                Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
                assertThat(w.exitCode()).as("qemu-io write after interrupts: %s", w).isNotZero();
                assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");
            }

            img.write(ByteBuffer.wrap(new byte[] {0x11}), SIZE - 1);
            img.flush();
        }
        assertThat(ImageLock.openChannels(image)).isZero();
        assertThat(EngineNeedCheckTest.needCheckOnDisk(image)).as("NEED_CHECK after close").isFalse();
        if (Qemu.crossChecks()) {
            Qemu.assertCheckClean(image);
        }
        try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
            CheckResult check = img.check(Repair.NONE);
            assertThat(check.isClean()).as("%s", check).isTrue();
            assertRegionsHold(img, expected);
        }
    }

    /**
     * On jimfs, closing a channel also interrupts every other thread inside a call on it (and interrupting two of
     * them from two threads can deadlock inside jimfs), so here one thread closes the channel by an interrupt of its
     * own, the others overwrite their clusters in place and repeat a call jimfs interrupted.
     */
    @Test
    void aChannelClosedByAnInterruptOnJimfsIsReplacedAndTheImageStaysConsistent() throws Exception {
        try (FileSystem fs = Jimfs.newFileSystem(Configuration.unix())) {
            Path image = fs.getPath("/disk.qed");
            QedImage.create(image, CreateOptions.ofSize(SIZE)).close();
            byte[][] expected = new byte[STEADY][REGION];
            AtomicReference<FileStorage> storage = new AtomicReference<>();
            try (QedImage img = QedImage.open(image,
                    OpenOptions.defaults().withStorageFactory(recording(storage)))) {
                for (int t = 0; t < STEADY; t++) {
                    img.write(ByteBuffer.wrap(expected[t]).put(0, (byte) 1), (long) t * REGION);
                }
                img.flush();
                AtomicBoolean stop = new AtomicBoolean();
                Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
                List<Thread> steady = new ArrayList<>();
                for (int t = 0; t < STEADY; t++) {
                    int id = t;
                    steady.add(new Thread(() -> {
                        try {
                            steadyWork(img, id, expected[id], stop, true);
                        } catch (Throwable e) {
                            failures.add(e);
                        }
                    }, "steady-" + t));
                }
                steady.forEach(Thread::start);
                try {
                    closeByInterrupts(storage.get(), failures);
                } finally {
                    stop.set(true);
                    for (Thread t : steady) {
                        t.join();
                    }
                }
                assertThat(failures).as("failures of the steady threads").isEmpty();
                assertThat(storage.get().reopens()).as("channels replaced").isGreaterThanOrEqualTo(CLOSES);
                assertThat(img.isOpen()).isTrue();
                img.write(ByteBuffer.wrap(new byte[] {0x11}), SIZE - 1);
                img.flush();
            }
            assertThat(QedLayout.featuresOnDisk(image) & io.github.qednio.format.QedHeader.QED_F_NEED_CHECK)
                    .as("NEED_CHECK after close").isZero();
            try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
                CheckResult check = img.check(Repair.NONE);
                assertThat(check.isClean()).as("%s", check).isTrue();
                assertRegionsHold(img, expected);
            }
        }
    }

    /**
     * Closes the storage's channel by an interrupt {@link #CLOSES} times, each time once the channel closed before
     * has been replaced: a call on the channel made with this thread's interrupt status set always closes it
     * ({@code AbstractInterruptibleChannel.begin}), and a call through the storage then replaces it at once.
     */
    private static void closeByInterrupts(FileStorage storage, Queue<Throwable> failures) throws IOException {
        for (int i = 0; i < CLOSES && failures.isEmpty(); i++) {
            java.nio.channels.FileChannel ch = storage.channel();
            Thread.currentThread().interrupt();
            try {
                ch.read(ByteBuffer.allocate(1), 0);
            } catch (ClosedByInterruptException expected) {
                // the channel is closed, as intended
            } catch (java.nio.channels.ClosedChannelException e) {
                // another thread's interrupt closed it first (jimfs interrupts threads inside its calls too)
            } finally {
                Thread.interrupted();
            }
            assertThat(ch.isOpen()).as("channel after a call with the interrupt status set").isFalse();
            storage.read(ByteBuffer.allocate(1), 0); // replaces the closed channel, if no other thread did
            assertThat(storage.channel()).as("the closed channel was replaced").isNotSameAs(ch);
        }
    }

    private static StorageFactory recording(AtomicReference<FileStorage> into) {
        return (file, readOnly) -> {
            FileStorage s = FileStorage.open(file, readOnly);
            into.set(s);
            return s;
        };
    }

    /**
     * Steady threads write, overwrite and read back their own regions while victim threads do the same elsewhere
     * and are interrupted over and over, until this thread has closed the channel by an interrupt
     * {@link #CLOSES} times. Whether the victims' interrupts land inside a call is left to chance and not asserted.
     *
     * @return what each steady region must hold
     */
    private static byte[][] hammer(QedImage img, FileStorage storage) throws Exception {
        // The victims' clusters exist beforehand: their writes are in place. An allocating write that fails while
        // others allocate too can leave a leaked cluster behind (harmless, but qemu-img check reports it).
        byte[] victimData = new byte[VICTIMS * REGION];
        Arrays.fill(victimData, (byte) 0x5a);
        img.write(ByteBuffer.wrap(victimData), VICTIM_BASE);
        img.flush();
        AtomicBoolean stop = new AtomicBoolean();
        Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
        AtomicInteger interruptedCalls = new AtomicInteger();
        byte[][] expected = new byte[STEADY][REGION];
        List<Thread> steady = new ArrayList<>();
        for (int t = 0; t < STEADY; t++) {
            int id = t;
            steady.add(new Thread(() -> {
                try {
                    steadyWork(img, id, expected[id], stop, false);
                } catch (Throwable e) {
                    failures.add(e);
                }
            }, "steady-" + t));
        }
        List<Thread> victims = new ArrayList<>();
        for (int t = 0; t < VICTIMS; t++) {
            int id = t;
            victims.add(new Thread(() -> {
                try {
                    victimWork(img, id, stop, interruptedCalls);
                } catch (Throwable e) {
                    failures.add(e);
                }
            }, "victim-" + t));
        }
        Thread interrupter = new Thread(() -> {
            while (!stop.get()) {
                victims.forEach(Thread::interrupt);
                LockSupport.parkNanos(200_000);
            }
        }, "interrupter");
        steady.forEach(Thread::start);
        victims.forEach(Thread::start);
        interrupter.start();
        try {
            closeByInterrupts(storage, failures);
        } finally {
            stop.set(true);
            interrupter.join();
            for (Thread t : victims) {
                t.join();
            }
            for (Thread t : steady) {
                t.join();
            }
        }
        assertThat(failures).as("failures of threads nobody interrupted (or unexpected errors)").isEmpty();
        assertThat(storage.reopens()).as("channels closed by an interrupt and replaced")
                .isGreaterThanOrEqualTo(CLOSES);
        System.out.println("FileStorageInterruptTest: " + interruptedCalls.get()
                + " victim calls failed with ClosedByInterruptException");
        return expected;
    }

    /**
     * Fills the region block by block (allocating writes unless done before), then keeps overwriting it; checks
     * every block read. With {@code repeatInterrupted}, a call that failed with ClosedByInterruptException is made
     * again (on jimfs, which interrupts threads inside calls on a channel that is closed).
     */
    private static void steadyWork(QedImage img, int id, byte[] model, AtomicBoolean stop, boolean repeatInterrupted)
            throws IOException {
        long base = (long) id * REGION;
        int blocks = REGION / BLOCK;
        for (int round = 1; !stop.get() || round == 1; round++) {
            for (int b = 0; b < blocks && (!stop.get() || round == 1); b++) {
                byte fill = (byte) (id * 50 + round * 7 + b);
                Arrays.fill(model, b * BLOCK, (b + 1) * BLOCK, fill);
                long pos = base + (long) b * BLOCK;
                int off = b * BLOCK;
                ByteBuffer back = ByteBuffer.allocate(BLOCK);
                repeat(repeatInterrupted, () -> img.write(ByteBuffer.wrap(model, off, BLOCK), pos));
                repeat(repeatInterrupted, () -> img.readFully(back.clear(), pos));
                assertThat(back.array()).as("steady-%d block %d round %d", id, b, round).containsOnly(fill);
            }
        }
    }

    private interface Call {
        void run() throws IOException;
    }

    private static void repeat(boolean repeatInterrupted, Call call) throws IOException {
        while (true) {
            try {
                call.run();
                return;
            } catch (ClosedByInterruptException e) {
                if (!repeatInterrupted) {
                    throw e;
                }
                Thread.interrupted();
            }
        }
    }

    /** Overwrites and reads its own region; its calls may fail when interrupted, and then it carries on. */
    private static void victimWork(QedImage img, int id, AtomicBoolean stop, AtomicInteger interruptedCalls)
            throws IOException {
        long base = VICTIM_BASE + (long) id * REGION;
        ByteBuffer buf = ByteBuffer.allocate(BLOCK);
        Arrays.fill(buf.array(), (byte) (0x60 + id));
        for (int i = 0; !stop.get(); i++) {
            long pos = base + (long) (i % (REGION / BLOCK)) * BLOCK;
            try {
                if (i % 2 == 0) {
                    img.write(buf.clear(), pos);
                } else {
                    img.readFully(buf.clear(), pos);
                }
            } catch (ClosedByInterruptException e) {
                assertThat(Thread.currentThread().isInterrupted()).as("interrupt status kept").isTrue();
                interruptedCalls.incrementAndGet();
            }
            Thread.interrupted();
        }
    }

    private static void assertRegionsHold(QedImage img, byte[][] expected) throws IOException {
        for (int t = 0; t < expected.length; t++) {
            ByteBuffer back = ByteBuffer.allocate(REGION);
            img.readFully(back, (long) t * REGION);
            assertThat(Arrays.equals(back.array(), expected[t])).as("region of steady-%d", t).isTrue();
        }
    }
}
