package io.github.qednio.internal.storage;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.chain.ChainFixtures;
import io.github.qednio.internal.chain.SharedBackings;
import static io.github.qednio.internal.storage.HeldLocks.await;
import static io.github.qednio.internal.storage.HeldLocks.holdsWriterBytes;
import static io.github.qednio.internal.storage.HeldLocks.token;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JVM-wide lock manager ({@link ImageLock}) and the backing-file registry ({@link SharedBackings}): the file
 * I/O of one image never waits for another's, and this process's POSIX locks, as the kernel lists them in
 * {@code /proc/locks}, survive the library's own probes and are taken again when foreign code drops them. Pure
 * Java (the QEMU cross-checks are in {@code LocksSurviveProviderEntryPointsTest}).
 */
class LockManagerTest {
    @TempDir
    Path dir;
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void cleanUp() {
        pool.shutdownNow();
    }

    private Path image(String name) throws IOException {
        Path p = dir.resolve(name);
        QedImage.create(p, CreateOptions.ofSize(1 << 20)).close();
        return p;
    }

    @Test
    void openingImageBCompletesWhileImageAsOpenIsBlockedInIo() throws Exception {
        Path a = image("a.qed");
        Path b = image("b.qed");
        CountDownLatch aInIo = new CountDownLatch(1);
        CountDownLatch releaseA = new CountDownLatch(1);
        LockTable locks = new LockTable(file -> {
            if (file.getFileName().toString().equals("a.qed")) {
                aInIo.countDown();
                await(releaseA);
            }
        });
        Future<FileStorage> openA = pool.submit(() -> FileStorage.open(a, false, false, locks, null));
        aInIo.await();
        // B's open, write, flush and close all go through the manager while A's thread is inside it.
        Future<Void> useB = pool.submit(() -> {
            try (FileStorage s = FileStorage.open(b, false, false, locks, null)) {
                s.write(ByteBuffer.wrap(new byte[] {1}), s.size());
                s.force();
            }
            assertThat(FormatProbe.probe(b, locks)).isEqualTo("qed");
            return null;
        });
        useB.get(60, TimeUnit.SECONDS); // a guard against a hang, not a timing assertion
        assertThat(openA.isDone()).as("A is still blocked in its I/O").isFalse();
        releaseA.countDown();
        openA.get().close();
        assertThat(locks.tracks(a) || locks.tracks(b)).as("every entry retired").isFalse();
    }

    /**
     * Opens of a file whose last user is closing wait for the close and then succeed, every one of them: each looks
     * the file up again after finding the entry retired, and none stays blocked behind another that found it first.
     */
    @Test
    void opensWhileTheLastUserOfTheSameFileIsClosingWaitForTheCloseAndAllSucceed() throws Exception {
        Path a = image("a.qed");
        CountDownLatch closing = new CountDownLatch(1);
        CountDownLatch releaseClose = new CountDownLatch(1);
        LockTable locks = new LockTable(file -> {
            if (Thread.currentThread().getName().equals("closer")) {
                closing.countDown();
                await(releaseClose);
            }
        });
        LockHandle last = locks.open(a, false);
        Thread closer = new Thread(() -> {
            try {
                last.close();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, "closer");
        closer.start();
        closing.await(); // the closer is about to close the file's last channels, holding its entry
        // A new user of the same file must not make a second entry meanwhile: the JVM would refuse its locks as
        // overlapping the closing entry's, which are still in its lock table.
        Future<LockHandle> reopen = pool.submit(() -> locks.open(a, true));
        Future<LockHandle> reader = pool.submit(() -> locks.open(a, false));
        while (!(reopen.isDone() && reader.isDone()) && locks.waiters(a) < 2) {
            Thread.onSpinWait(); // until both openers have either failed or queued for the closing entry
        }
        releaseClose.countDown();
        closer.join();
        LockHandle writer = reopen.get(60, TimeUnit.SECONDS); // hang guards, not timing assertions
        LockHandle second = reader.get(60, TimeUnit.SECONDS);
        assertThat(writer.channel().isOpen()).isTrue();
        assertThat(second.channel().isOpen()).isTrue();
        assertThat(locks.openChannels(a)).isEqualTo(2);
        writer.close();
        second.close();
        assertThat(locks.openChannels(a)).isZero();
        assertThat(locks.tracks(a)).isFalse();
    }

    @Test
    void openingAnOverlayOverBaseBCompletesWhileBaseAIsBeingOpened() throws Exception {
        Path baseA = ChainFixtures.writeFile(dir.resolve("a.raw"), new byte[4096]);
        ChainFixtures.writeFile(dir.resolve("b.raw"), new byte[4096]);
        Path overA = dir.resolve("over-a.qed");
        Path overB = dir.resolve("over-b.qed");
        QedImage.create(overA, CreateOptions.overlay("a.raw", ImageFormat.RAW).withSize(4096)).close();
        QedImage.create(overB, CreateOptions.overlay("b.raw", ImageFormat.RAW).withSize(4096)).close();
        CountDownLatch aInIo = new CountDownLatch(1);
        CountDownLatch releaseA = new CountDownLatch(1);
        StorageFactory blockingA = (file, readOnly) -> {
            if (file.getFileName().toString().equals("a.raw")) {
                aInIo.countDown();
                await(releaseA);
            }
            return Storage.open(file, readOnly);
        };
        OpenOptions options = OpenOptions.readOnlyDefaults().withStorageFactory(blockingA);
        Future<QedImage> openA = pool.submit(() -> QedImage.open(overA, options));
        aInIo.await();
        Future<QedImage> openB = pool.submit(() -> QedImage.open(overB, options));
        try (QedImage img = openB.get(60, TimeUnit.SECONDS)) { // a hang guard, not a timing assertion
            assertThat(img.backingFile().getFileName().toString()).isEqualTo("b.raw");
        }
        assertThat(openA.isDone()).as("A's base is still blocked in its open").isFalse();
        releaseA.countDown();
        try (QedImage img = openA.get()) {
            assertThat(img.backingFile()).isEqualTo(dir.resolve("a.raw"));
        }
        assertThat(SharedBackings.jvm().references(baseA.toRealPath())).isZero();
    }

    @Test
    void twoFirstOpensOfOneBaseAtOnceEndWithOneSharedCopyAndNoDescriptorLeft() throws Exception {
        Path base = ChainFixtures.writeFile(dir.resolve("a.raw"), ChainFixtures.pattern(4096, 7));
        Path over1 = dir.resolve("over1.qed");
        Path over2 = dir.resolve("over2.qed");
        QedImage.create(over1, CreateOptions.overlay("a.raw", ImageFormat.RAW).withSize(4096)).close();
        QedImage.create(over2, CreateOptions.overlay("a.raw", ImageFormat.RAW).withSize(4096)).close();
        CountDownLatch firstInIo = new CountDownLatch(1);
        CountDownLatch releaseFirst = new CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger baseOpens = new java.util.concurrent.atomic.AtomicInteger();
        StorageFactory firstBlocks = (file, readOnly) -> {
            if (file.getFileName().toString().equals("a.raw") && baseOpens.incrementAndGet() == 1) {
                firstInIo.countDown();
                await(releaseFirst);
            }
            return Storage.open(file, readOnly);
        };
        OpenOptions options = OpenOptions.readOnlyDefaults().withStorageFactory(firstBlocks);
        Future<QedImage> first = pool.submit(() -> QedImage.open(over1, options));
        firstInIo.await();
        try (QedImage second = pool.submit(() -> QedImage.open(over2, options)).get(60, TimeUnit.SECONDS)) {
            assertThat(SharedBackings.jvm().references(base.toRealPath())).isEqualTo(1);
            releaseFirst.countDown();
            try (QedImage img = first.get()) {
                // The first opener found the second's entry published: it dropped its own copy and shares.
                assertThat(SharedBackings.jvm().references(base.toRealPath())).isEqualTo(2);
                assertThat(ChainFixtures.readAll(img)).isEqualTo(ChainFixtures.readAll(second));
                // The dropped copy's descriptor is kept idle, not closed, while the shared copy holds a lock.
                assertThat(ImageLock.openChannels(base)).isEqualTo(2);
            }
        }
        assertThat(SharedBackings.jvm().references(base.toRealPath())).isZero();
        assertThat(ImageLock.openChannels(base)).isZero();
        assertThat(baseOpens.get()).isEqualTo(2);
    }

    @Test
    void theLibrarysOwnProbesAndTimeChangesKeepTheWritersLocks() throws IOException {
        Path p = image("held.qed");
        try (QedImage w = QedImage.open(p, OpenOptions.defaults())) {
            w.write(ByteBuffer.wrap(new byte[] {5}), 0);
            w.flush();
            String token = token(p);
            assertThat(holdsWriterBytes(token)).isTrue();

            assertThat(LockSafeFiles.probeFormat(p)).isEqualTo("qed");
            assertThat(LockSafeFiles.isQed(p)).isTrue();
            assertThat(holdsWriterBytes(token)).as("after probes").isTrue();

            LockSafeFiles.setTimes(p, FileTime.fromMillis(1_500_000_000_000L), null, null);
            assertThat(Files.getLastModifiedTime(p)).isEqualTo(FileTime.fromMillis(1_500_000_000_000L));
            assertThat(holdsWriterBytes(token)).as("after setTimes").isTrue();

            try (QedImage reader = QedImage.open(p, OpenOptions.readOnlyDefaults())) {
                assertThat(reader.size()).isEqualTo(1 << 20);
            }
            assertThat(holdsWriterBytes(token)).as("after a reader closed").isTrue();
        }
    }

    @Test
    void locksDroppedByForeignCodeAreTakenAgainBeforeTheNextEpochsFirstWrite() throws IOException {
        Path p = image("held.qed");
        String token;
        try (QedImage w = QedImage.open(p, OpenOptions.defaults())) {
            w.write(ByteBuffer.wrap(new byte[] {5}), 0);
            w.flush();
            token = token(p);

            Files.readAllBytes(p); // the JDK opens and closes a descriptor: the kernel drops every lock
            assertThat(holdsWriterBytes(token)).as("the kernel rule").isFalse();
            w.write(ByteBuffer.wrap(new byte[] {6}), 4096);
            assertThat(holdsWriterBytes(token)).as("retaken before the write").isTrue();

            Files.readAllBytes(p);
            w.flush();
            assertThat(holdsWriterBytes(token)).as("retaken before the flush").isTrue();
        }
        assertThat(ProcLocks.ranges(token)).as("all released at close").isEmpty();
    }

    @Test
    void withinAnEpochLostLocksAreTakenAgainAfterAtMostWritesPerCheckWrites() throws IOException {
        Path p = image("held.qed");
        try (QedImage w = QedImage.open(p, OpenOptions.defaults())) {
            w.write(ByteBuffer.wrap(new byte[] {5}), 0); // the epoch's first write checks
            String token = token(p);
            Files.readAllBytes(p);
            for (int i = 0; i < LockHealing.WRITES_PER_CHECK; i++) {
                w.write(ByteBuffer.wrap(new byte[] {7}), 512L * (i % 8));
            }
            assertThat(holdsWriterBytes(token)).isTrue();
        }
    }
}
