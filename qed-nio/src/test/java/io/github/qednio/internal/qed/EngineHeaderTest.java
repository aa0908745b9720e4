package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.BackingPolicy;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.ForwardingStorage;
import io.github.qednio.internal.storage.Storage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Header changes are atomic: validated and applied under one lock, and a failed header write leaves the header in
 * memory equal to the one in the file.
 */
class EngineHeaderTest {
    private static final int CS = 65536;

    @TempDir
    Path dir;

    @Test
    void concurrentGrowsAlwaysEndAtTheLargestSizeInMemoryAndOnDisk() throws Exception {
        int threads = 16;
        for (int round = 0; round < 20; round++) {
            Path file = dir.resolve("grow" + round + ".qed");
            long base = 1L << 20;
            List<Long> sizes = new ArrayList<>();
            for (int i = 1; i <= threads; i++) {
                sizes.add(base + i * 4096L);
            }
            Collections.shuffle(sizes, new Random(round));
            try (QedImage img = QedImage.create(file, CreateOptions.ofSize(base))) {
                CyclicBarrier start = new CyclicBarrier(threads);
                List<Throwable> unexpected = new CopyOnWriteArrayList<>();
                List<Thread> workers = new ArrayList<>();
                for (long size : sizes) {
                    Thread t = new Thread(() -> {
                        try {
                            start.await();
                            img.resize(size);
                        } catch (IllegalArgumentException refused) {
                            // a larger grow came first: shrinking is refused
                        } catch (Throwable e) {
                            unexpected.add(e);
                        }
                    });
                    t.start();
                    workers.add(t);
                }
                for (Thread t : workers) {
                    t.join();
                }
                assertThat(unexpected).isEmpty();
                assertThat(img.size()).as("round %d", round).isEqualTo(base + threads * 4096L);
                assertThat(headerOnDisk(file).imageSize()).as("round %d on disk", round)
                        .isEqualTo(base + threads * 4096L);
            }
            try (QedImage again = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
                assertThat(again.size()).isEqualTo(base + threads * 4096L);
            }
        }
    }

    @Test
    void aGrowBelowTheCurrentSizeIsRefusedAndChangesNothing() throws IOException {
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(1L << 20))) {
            img.resize(2L << 20);
            byte[] before = Files.readAllBytes(file);
            assertThatThrownBy(() -> img.resize(1L << 20)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("must be a multiple of 512 in").hasMessageContaining(file.toString());
            assertThatThrownBy(() -> img.resize((2L << 20) + 100)).isInstanceOf(IllegalArgumentException.class);
            assertThat(img.size()).isEqualTo(2L << 20);
            assertThat(Files.readAllBytes(file)).isEqualTo(before);
        }
    }

    @Test
    void aGrowToTheSameSizeOrToExactlyTheMaximumIsAccepted() throws IOException {
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(1L << 20))) {
            img.resize(1L << 20);
            assertThat(img.size()).isEqualTo(1L << 20);
            long max = img.geometry().maxImageSize();
            img.resize(max);
            assertThat(img.size()).isEqualTo(max);
            assertThatThrownBy(() -> img.resize(max + 512)).isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(headerOnDisk(file).imageSize()).isEqualTo(64L << 40);
    }

    @Test
    void aBackingFileIsRefusedBesideUnknownCompatFeaturesButCanStillBeRemoved() throws IOException {
        Path file = dir.resolve("a.qed");
        Files.write(dir.resolve("base.raw"), new byte[4096]);
        QedImage.create(file, CreateOptions.ofSize(1L << 20).withBackingFile("base.raw", ImageFormat.RAW)).close();
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file,
                java.nio.file.StandardOpenOption.WRITE)) {
            // compat_features (offset 24): a bit this implementation does not know
            ch.write(ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40).rewind(),
                    24);
        }
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            assertThatThrownBy(() -> img.setBackingFileInHeader("other.raw", ImageFormat.RAW))
                    .isInstanceOf(io.github.qednio.format.QedFormatException.class)
                    .hasMessageContaining("compat");
            img.setBackingFileInHeader(null, null);
            assertThat(img.header().backingFilenameSize()).isZero();
        }
        assertThat(headerOnDisk(file).hasFeature(QedHeader.QED_F_BACKING_FILE)).isFalse();
    }

    /** Runs {@code action} in another thread; fails (rather than hang the suite) if it has not ended in a minute. */
    private static void inAnotherThread(IoRunnable action) throws Exception {
        java.util.concurrent.ExecutorService ex = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            ex.submit(() -> {
                action.run();
                return null;
            }).get(60, java.util.concurrent.TimeUnit.SECONDS);
        } finally {
            ex.shutdownNow();
        }
    }

    @FunctionalInterface
    private interface IoRunnable {
        void run() throws IOException;
    }

    @Test
    void afterEachHeaderChangeAnotherThreadCanStillAllocateAndResize() throws Exception {
        Path file = dir.resolve("a.qed");
        QedImage.create(file, CreateOptions.ofSize(1L << 20)).close();
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file,
                java.nio.file.StandardOpenOption.WRITE)) {
            // autoclear_features (offset 32): an unknown bit, which a read-write open clears
            ch.write(ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40).rewind(),
                    32);
        }
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            assertThat(img.header().autoclearFeatures()).isZero();
            inAnotherThread(() -> img.write(ByteBuffer.wrap(new byte[] {1}), 0));
            img.setBackingFileInHeader("base.raw", ImageFormat.RAW);
            inAnotherThread(() -> img.write(ByteBuffer.wrap(new byte[] {2}), CS));
            img.resize(2L << 20);
            inAnotherThread(() -> img.resize(4L << 20));
            assertThat(img.size()).isEqualTo(4L << 20);
        }
    }

    @Test
    void whenTheHeaderCannotBeReadBackAfterAFailedWriteBothErrorsAreReportedAndMemoryKeepsTheOldHeader()
            throws IOException {
        Path file = dir.resolve("a.qed");
        QedImage.create(file, CreateOptions.ofSize(1L << 20)).close();
        java.util.concurrent.atomic.AtomicBoolean broken = new java.util.concurrent.atomic.AtomicBoolean();
        try (QedImage img = QedImage.open(file, OpenOptions.defaults().withStorageFactory((f, ro) ->
                new ForwardingStorage(Storage.open(f, ro)) {
                    @Override
                    public void write(ByteBuffer src, long position) throws IOException {
                        if (position == 0 && broken.get()) {
                            throw new IOException("injected: header write failed");
                        }
                        super.write(src, position);
                    }

                    @Override
                    public int read(ByteBuffer dst, long position) throws IOException {
                        if (position == 0 && broken.get()) {
                            throw new IOException("injected: header unreadable");
                        }
                        return super.read(dst, position);
                    }
                }))) {
            QedHeader before = img.header();
            broken.set(true);
            assertThatThrownBy(() -> img.resize(2L << 20)).hasMessageContaining("header write failed")
                    .satisfies(e -> assertThat(e.getSuppressed()).extracting(Throwable::getMessage)
                            .anySatisfy(m -> assertThat(m).contains("header unreadable")));
            assertThat(img.header()).isEqualTo(before);
            assertThat(img.size()).isEqualTo(1L << 20);
            broken.set(false);
        }
        assertThat(headerOnDisk(file).imageSize()).isEqualTo(1L << 20);
    }

    /** How the next header write fails. */
    enum Fault {
        /** Nothing reaches the file. */
        BEFORE_WRITE,
        /** The first 20 bytes reach the file. */
        TORN,
        /** The write reaches the file, then an error is reported. */
        AFTER_WRITE,
        /** The write succeeds, the force after it fails. */
        FORCE
    }

    /** A header change made by the public API. */
    enum Change {
        RESIZE,
        SET_BACKING_FILE,
        REMOVE_BACKING_FILE,
        NEED_CHECK_SET_BY_ALLOCATION,
        NEED_CHECK_CLEARED_BY_FLUSH
    }

    static Stream<Arguments> faultsAndChanges() {
        List<Arguments> all = new ArrayList<>();
        for (Change c : Change.values()) {
            for (Fault f : Fault.values()) {
                all.add(Arguments.of(c, f));
            }
        }
        return all.stream();
    }

    private static final class FaultyHeaderStorage extends ForwardingStorage {
        volatile Fault fault;
        private volatile boolean failNextForce;

        FaultyHeaderStorage(Storage delegate) {
            super(delegate);
        }

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            Fault f = fault;
            if (position == 0 && f != null) {
                fault = null;
                switch (f) {
                    case BEFORE_WRITE -> throw new IOException("injected: header write failed");
                    case TORN -> {
                        super.write(src.duplicate().limit(src.position() + 20), 0);
                        throw new IOException("injected: header write torn");
                    }
                    case AFTER_WRITE -> {
                        super.write(src, 0);
                        throw new IOException("injected: header write reported failure");
                    }
                    case FORCE -> failNextForce = true;
                }
            }
            super.write(src, position);
        }

        @Override
        public void force() throws IOException {
            if (failNextForce) {
                failNextForce = false;
                throw new IOException("injected: force failed");
            }
            super.force();
        }
    }

    @ParameterizedTest(name = "{0} with {1}")
    @MethodSource("faultsAndChanges")
    void aFailedHeaderWriteLeavesTheHeaderInMemoryEqualToTheFile(Change change, Fault fault) throws IOException {
        Path file = dir.resolve("a.qed");
        Files.write(dir.resolve("base.raw"), new byte[4096]);
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(1L << 20)
                .withBackingFile("base.raw", ImageFormat.RAW))) {
            if (change == Change.NEED_CHECK_CLEARED_BY_FLUSH) {
                img.write(ByteBuffer.wrap(new byte[] {1}), 0);
            }
        }
        List<FaultyHeaderStorage> storages = new CopyOnWriteArrayList<>();
        try (QedImage img = QedImage.open(file, OpenOptions.defaults().withStorageFactory((f, ro) -> {
            FaultyHeaderStorage s = new FaultyHeaderStorage(Storage.open(f, ro));
            storages.add(s);
            return s;
        }))) {
            FaultyHeaderStorage s = storages.get(0);
            if (change == Change.NEED_CHECK_CLEARED_BY_FLUSH) {
                img.write(ByteBuffer.wrap(new byte[] {2}), CS);
            }
            QedHeader before = img.header();
            s.fault = fault;
            assertThatThrownBy(() -> {
                switch (change) {
                    case RESIZE -> img.resize(2L << 20);
                    case SET_BACKING_FILE -> img.setBackingFileInHeader("other-name.raw", ImageFormat.RAW);
                    case REMOVE_BACKING_FILE -> img.setBackingFileInHeader(null, null);
                    case NEED_CHECK_SET_BY_ALLOCATION -> img.write(ByteBuffer.wrap(new byte[] {3}), 2L * CS);
                    case NEED_CHECK_CLEARED_BY_FLUSH -> img.flush();
                }
            }).isInstanceOf(IOException.class).hasMessageContaining("injected");

            QedHeader onDisk = headerOnDisk(file);
            assertThat(img.header()).as("header in memory vs file after %s", fault).isEqualTo(onDisk);
            if (fault == Fault.BEFORE_WRITE) {
                assertThat(onDisk).as("nothing was written").isEqualTo(before);
            }
            if (fault == Fault.AFTER_WRITE || fault == Fault.FORCE) {
                assertThat(onDisk).as("a write that reached the file whole is kept, not undone").isNotEqualTo(before);
            }
            if (fault == Fault.TORN && change == Change.RESIZE) {
                assertThat(onDisk).as("the torn write (which missed image_size) was undone").isEqualTo(before);
            }
            assertThat(img.size()).isEqualTo(onDisk.imageSize());
        }
        try (QedImage again = QedImage.open(file, OpenOptions.defaults().withBackingPolicy(BackingPolicy.FOLLOW))) {
            assertThat(again.check(Repair.NONE).isConsistent()).isTrue();
        } catch (java.nio.file.NoSuchFileException e) {
            // the header now names a backing file that does not exist: the header itself was read fine
            assertThat(change).isEqualTo(Change.SET_BACKING_FILE);
        }
    }

    static QedHeader headerOnDisk(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        return QedHeader.decode(ByteBuffer.wrap(b, 0, QedHeader.HEADER_LENGTH), file.toString());
    }
}
