package io.github.qednio.internal.qed;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.ForwardingStorage;
import io.github.qednio.internal.storage.Storage;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A grow keeps the L1 entries already loaded, the mapping query merges runs that continue across L2 tables, and a
 * second close waits for the first (surviving mutants of {@code L1Table}, {@code ChainMapper} and
 * {@code InFlightGate}).
 */
class EngineGrowMapCloseTest {
    /** 4 KiB clusters, 2-cluster tables: each L2 table covers 4 MiB, the first L1 sector (64 entries) 256 MiB. */
    private static CreateOptions small(long size) {
        return CreateOptions.ofSize(size).withClusterSize(4096).withTableSize(2);
    }

    @TempDir
    Path dir;

    @Test
    void aGrowPastTheLoadedL1EntriesKeepsTheDataAlreadyWritten() throws IOException {
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, small(1L << 20))) {
            img.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 10);
            img.resize(512L << 20);
            ByteBuffer b = ByteBuffer.allocate(3);
            img.readFully(b, 10);
            assertThat(b.array()).containsExactly(1, 2, 3);
            img.write(ByteBuffer.wrap(new byte[] {4}), 300L << 20);
            img.readFully(b.clear(), 10);
            assertThat(b.array()).containsExactly(1, 2, 3);
        }
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            ByteBuffer b = ByteBuffer.allocate(3);
            img.readFully(b, 10);
            assertThat(b.array()).containsExactly(1, 2, 3);
            assertThat(img.check(Repair.NONE).isClean()).isTrue();
        }
    }

    @Test
    void runsThatContinueAcrossL2TablesMapAsOneExtentFromTheFirst() throws IOException {
        try (QedImage img = QedImage.create(dir.resolve("a.qed"), small(12L << 20))) {
            assertThat(img.map(0, 12L << 20)).containsExactly(
                    new MappedExtent(0, 12L << 20, MappedExtent.Type.UNALLOCATED, 0, null, -1));
            img.writeZeroes(0, 8L << 20);
            List<MappedExtent> m = img.map(0, 12L << 20);
            assertThat(m).containsExactly(
                    new MappedExtent(0, 8L << 20, MappedExtent.Type.ZERO, 0, null, -1),
                    new MappedExtent(8L << 20, 4L << 20, MappedExtent.Type.UNALLOCATED, 0, null, -1));
        }
    }

    /** Blocks the first force after being armed until released, and records when the file is closed. */
    private static final class HeldForce extends ForwardingStorage {
        final CountDownLatch held = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicBoolean closed = new AtomicBoolean();
        volatile boolean armed;

        HeldForce(Storage delegate) {
            super(delegate);
        }

        @Override
        public void force() throws IOException {
            if (armed) {
                armed = false;
                held.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
            super.force();
        }

        @Override
        public void close() throws IOException {
            super.close();
            closed.set(true);
        }
    }

    @Test
    void aSecondCloseReturnsOnlyAfterTheFirstHasClosedTheFile() throws Exception {
        Path file = dir.resolve("a.qed");
        QedImage.create(file, small(1L << 20)).close();
        HeldForce[] storage = new HeldForce[1];
        QedImage img = QedImage.open(file, OpenOptions.defaults().withStorageFactory((f, ro) -> {
            storage[0] = new HeldForce(Storage.open(f, ro));
            return storage[0];
        }));
        storage[0].armed = true;
        Thread first = new Thread(() -> {
            try {
                img.close();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        first.start();
        storage[0].held.await(); // the first close is flushing
        AtomicBoolean closedWhenSecondReturned = new AtomicBoolean();
        Thread second = new Thread(() -> {
            try {
                img.close();
                closedWhenSecondReturned.set(storage[0].closed.get());
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        second.start();
        // Until the second close either waits or has returned (a correct one can only wait).
        while (second.getState() != Thread.State.WAITING && second.getState() != Thread.State.TERMINATED) {
            Thread.onSpinWait();
        }
        storage[0].release.countDown();
        second.join();
        first.join();
        assertThat(closedWhenSecondReturned).as("the file was closed when the second close returned").isTrue();
    }

    @Test
    void operationsThatAnotherThreadFinishedNeverKeepCloseWaiting() throws Exception {
        Path file = dir.resolve("a.qed");
        QedImage img = QedImage.create(file, small(1L << 20));
        Thread worker = new Thread(() -> {
            try {
                img.write(ByteBuffer.wrap(new byte[] {1}), 0);
                img.read(ByteBuffer.allocate(1), 0);
                img.readFully(ByteBuffer.allocate(1), 0);
                img.extentAt(0);
                img.map(0, 1L << 20);
                img.allocatedBytes();
                img.check(Repair.NONE);
                img.writeZeroes(8192, 4096);
                img.resize(2L << 20);
                img.setBackingFileInHeader(null, null);
                img.flush();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        worker.start();
        worker.join();
        // Close from yet another thread, so that a count leaked by the worker cannot be mistaken for our own.
        java.util.concurrent.ExecutorService ex = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        try {
            ex.submit(() -> {
                img.close();
                return null;
            }).get(60, java.util.concurrent.TimeUnit.SECONDS);
        } finally {
            ex.shutdownNow();
        }
        assertThat(img.isOpen()).isFalse();
    }

    /** Holds the first write at or past {@code holdFrom} until released. */
    private static final class HeldWrite extends ForwardingStorage {
        final CountDownLatch held = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        volatile long holdFrom = Long.MAX_VALUE;

        HeldWrite(Storage delegate) {
            super(delegate);
        }

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            if (position >= holdFrom) {
                holdFrom = Long.MAX_VALUE;
                held.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
            super.write(src, position);
        }
    }

    @Test
    void closeWaitsForAnInPlaceWriteInProgressAndTheWriteIsKept() throws Exception {
        Path file = dir.resolve("a.qed");
        long host;
        try (QedImage img = QedImage.create(file, small(1L << 20))) {
            img.write(ByteBuffer.wrap(new byte[4096]), 0);
            host = img.extentAt(0).hostOffset();
        }
        HeldWrite[] storage = new HeldWrite[1];
        QedImage img = QedImage.open(file, OpenOptions.defaults().withStorageFactory((f, ro) -> {
            storage[0] = new HeldWrite(Storage.open(f, ro));
            return storage[0];
        }));
        storage[0].holdFrom = host; // the data cluster: an in-place write, no allocation lock taken
        java.util.concurrent.atomic.AtomicReference<Throwable> writeFailure =
                new java.util.concurrent.atomic.AtomicReference<>();
        Thread writer = new Thread(() -> {
            try {
                img.write(ByteBuffer.wrap(new byte[] {42}), 7);
            } catch (Throwable t) {
                writeFailure.set(t);
            }
        });
        writer.start();
        storage[0].held.await();
        Thread closer = new Thread(() -> {
            try {
                img.close();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        closer.start();
        while (closer.getState() != Thread.State.WAITING && closer.getState() != Thread.State.TERMINATED) {
            Thread.onSpinWait();
        }
        storage[0].release.countDown();
        writer.join();
        closer.join();
        assertThat(writeFailure.get()).as("the write in progress when close began").isNull();
        try (QedImage again = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            ByteBuffer b = ByteBuffer.allocate(1);
            again.readFully(b, 7);
            assertThat(b.get(0)).isEqualTo((byte) 42);
            assertThat(again.needsCheck()).isFalse();
        }
    }
}
