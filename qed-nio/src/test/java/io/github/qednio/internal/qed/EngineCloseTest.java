package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.ForwardingStorage;
import io.github.qednio.internal.storage.Storage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link QedImage#close()} drains: it returns only after every operation in progress has finished or failed, no
 * byte reaches the file after it returns, and a clean close leaves {@code QED_F_NEED_CHECK} clear whatever races
 * it. Interleavings are forced with latches in a storage wrapper, never with sleeps.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES) // a safety net against a deadlock, not a timing assertion
class EngineCloseTest {
    private static final int CS = 65536;

    @TempDir
    Path dir;

    /** A storage that records writes and closes, and can hold one write at a given offset until released. */
    private static final class GatedStorage extends ForwardingStorage {
        final List<String> events = new CopyOnWriteArrayList<>();
        volatile long holdAt = -1;
        final CountDownLatch held = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        volatile Runnable onWrite = () -> { };

        GatedStorage(Storage delegate) {
            super(delegate);
        }

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            onWrite.run();
            if (position == holdAt) {
                holdAt = -1;
                held.countDown();
                awaitUninterruptibly(release);
            }
            super.write(src, position);
            events.add("write@" + position);
        }

        @Override
        public void close() throws IOException {
            events.add("close");
            super.close();
        }
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        boolean done = false;
        while (!done) {
            try {
                latch.await();
                done = true;
            } catch (InterruptedException e) {
                // keep waiting: the test releases it
            }
        }
    }

    private QedImage openGated(Path file, List<GatedStorage> sink) throws IOException {
        return QedImage.open(file, OpenOptions.defaults().withStorageFactory((f, ro) -> {
            GatedStorage s = new GatedStorage(Storage.open(f, ro));
            sink.add(s);
            return s;
        }));
    }

    /** A fresh image whose first cluster is allocated; returns the cluster's file offset. */
    private long imageWithOneCluster(Path file) throws IOException {
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(8L << 20))) {
            img.write(ByteBuffer.wrap(new byte[CS]), 0);
            return img.extentAt(0).hostOffset();
        }
    }

    @Test
    void closeReturnsOnlyAfterAWriteBlockedInStorageHasCompletedAndTheFileNeverChangesAfterIt() throws Exception {
        Path file = dir.resolve("a.qed");
        long host = imageWithOneCluster(file);
        List<GatedStorage> storages = new CopyOnWriteArrayList<>();
        QedImage img = openGated(file, storages);
        GatedStorage s = storages.get(0);
        s.holdAt = host;
        byte[] data = new byte[4096];
        Arrays.fill(data, (byte) 0xAB);

        AtomicReference<Throwable> writeFailure = new AtomicReference<>();
        Thread writer = new Thread(() -> {
            try {
                img.write(ByteBuffer.wrap(data), 0);
            } catch (Throwable t) {
                writeFailure.set(t);
            }
        });
        writer.start();
        awaitUninterruptibly(s.held);

        AtomicReference<byte[]> fileWhenCloseReturned = new AtomicReference<>();
        AtomicReference<Throwable> closeFailure = new AtomicReference<>();
        Thread closer = new Thread(() -> {
            try {
                img.close();
                fileWhenCloseReturned.set(Files.readAllBytes(file));
            } catch (Throwable t) {
                closeFailure.set(t);
            }
        });
        closer.start();
        while (img.isOpen()) { // close has begun once the image says it is no longer open
            Thread.onSpinWait();
        }
        assertThatThrownBy(() -> img.read(ByteBuffer.allocate(1), 0))
                .as("an operation issued once close has begun").isInstanceOf(ClosedChannelException.class);
        s.release.countDown();
        closer.join();
        writer.join();

        assertThat(closeFailure.get()).isNull();
        assertThat(writeFailure.get()).as("the write in progress when close was called").isNull();
        assertThat(s.events).as("storage calls").contains("write@" + host);
        assertThat(s.events.indexOf("write@" + host)).as("the blocked write completes before the file closes: %s",
                s.events).isLessThan(s.events.indexOf("close"));
        byte[] after = Files.readAllBytes(file);
        assertThat(fileWhenCloseReturned.get()).as("file bytes after close returned, then later")
                .isEqualTo(after);
        assertThat(Arrays.copyOfRange(after, (int) host, (int) host + data.length)).isEqualTo(data);
        assertThat(EngineNeedCheckTest.needCheckOnDisk(file)).isFalse();
    }

    @Test
    void allocatingWritesRacingCloseNeverLeaveNeedCheckSetAndEveryCompletedWriteIsKept() throws Exception {
        int threads = 8;
        for (int round = 0; round < 10; round++) {
            Path file = dir.resolve("race" + round + ".qed");
            QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20).withClusterSize(4096));
            int clusters = (int) (img.size() / 4096);
            CountDownLatch someWritten = new CountDownLatch(threads * 4);
            CyclicBarrier start = new CyclicBarrier(threads + 1);
            List<List<Integer>> done = new ArrayList<>();
            List<Thread> workers = new ArrayList<>();
            List<Throwable> unexpected = new CopyOnWriteArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                List<Integer> mine = new ArrayList<>();
                done.add(mine);
                Thread w = new Thread(() -> {
                    try {
                        start.await();
                        for (int c = id; c < clusters; c += threads) {
                            byte[] b = new byte[512];
                            Arrays.fill(b, (byte) (c % 251 + 1));
                            img.write(ByteBuffer.wrap(b), (long) c * 4096 + 1024);
                            mine.add(c);
                            someWritten.countDown();
                        }
                    } catch (ClosedChannelException expected) {
                        // close won the race for this thread
                    } catch (Throwable e) {
                        unexpected.add(e);
                    }
                });
                w.start();
                workers.add(w);
            }
            start.await();
            someWritten.await();
            img.close();
            byte[] whenClosed = Files.readAllBytes(file);
            for (Thread w : workers) {
                w.join();
            }
            assertThat(unexpected).isEmpty();
            assertThat(Files.readAllBytes(file)).as("round %d: file bytes after close", round)
                    .isEqualTo(whenClosed);
            assertThat(EngineNeedCheckTest.needCheckOnDisk(file)).as("round %d: NEED_CHECK after close", round)
                    .isFalse();
            try (QedImage again = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
                assertThat(again.check(Repair.NONE).isClean()).isTrue();
                for (List<Integer> mine : done) {
                    for (int c : mine) {
                        ByteBuffer b = ByteBuffer.allocate(1);
                        again.readFully(b, (long) c * 4096 + 1024);
                        assertThat(b.get(0)).as("round %d cluster %d", round, c).isEqualTo((byte) (c % 251 + 1));
                    }
                }
            }
            if (round == 0 && Qemu.crossChecks()) {
                Qemu.assertCheckClean(file);
            }
        }
    }

    @Test
    void closeCalledFromInsideAnOperationClosesWithoutWaitingForItselfAndTheOperationFails() throws Exception {
        Path file = dir.resolve("a.qed");
        long host = imageWithOneCluster(file);
        List<GatedStorage> storages = new CopyOnWriteArrayList<>();
        QedImage img = openGated(file, storages);
        GatedStorage s = storages.get(0);
        byte[] before = Files.readAllBytes(file);
        List<Throwable> closeFailure = new CopyOnWriteArrayList<>();
        s.onWrite = () -> {
            s.onWrite = () -> { };
            try {
                img.close();
            } catch (Throwable t) {
                closeFailure.add(t);
            }
        };

        assertThatThrownBy(() -> img.write(ByteBuffer.wrap(new byte[] {9}), 0))
                .isInstanceOf(ClosedChannelException.class);

        assertThat(closeFailure).isEmpty();
        assertThat(img.isOpen()).isFalse();
        assertThat(s.events).containsExactly("close");
        assertThat(Files.readAllBytes(file)).isEqualTo(before);
        assertThat(host).isPositive();
    }

    @Test
    void everyOperationAfterCloseFailsWithClosedChannelException() throws IOException {
        Path file = dir.resolve("a.qed");
        imageWithOneCluster(file);
        QedImage img = QedImage.open(file, OpenOptions.defaults());
        img.close();
        img.close(); // idempotent

        List<ThrowingOp> ops = List.of(
                () -> img.read(ByteBuffer.allocate(1), 0),
                () -> img.readFully(ByteBuffer.allocate(1), 0),
                () -> img.write(ByteBuffer.allocate(1), 0),
                () -> img.writeZeroes(0, CS),
                img::flush,
                () -> img.check(Repair.NONE),
                () -> img.check(Repair.ERRORS),
                () -> img.resize(16L << 20),
                () -> img.setBackingFileInHeader("x.raw", ImageFormat.RAW),
                () -> img.extentAt(0),
                img::allocatedBytes);
        for (int i = 0; i < ops.size(); i++) {
            ThrowingOp op = ops.get(i);
            assertThatThrownBy(op::run).as("operation %d", i).isInstanceOf(ClosedChannelException.class);
        }
    }

    @FunctionalInterface
    private interface ThrowingOp {
        void run() throws IOException;
    }
}
