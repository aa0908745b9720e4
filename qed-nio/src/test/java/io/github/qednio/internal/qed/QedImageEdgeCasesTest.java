package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.ForwardingStorage;
import io.github.qednio.internal.storage.ImageLock;
import io.github.qednio.internal.storage.Storage;
import io.github.qednio.internal.storage.StorageFactory;
import static io.github.qednio.internal.storage.HeldLocks.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link QedImage} at the edges of its API: the exact bounds of {@code map}, {@code extentAt} and the header's room
 * for a backing file name, a refused open that leaves nothing behind, refused writes on a read-only image that do
 * not hold up its close, and a close that another thread waits for.
 */
class QedImageEdgeCasesTest {
    private static final long SIZE = 1 << 20;

    @TempDir
    Path dir;
    Path image;
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @BeforeEach
    void createImage() throws IOException {
        image = dir.resolve("disk.qed");
        QedImage.create(image, CreateOptions.ofSize(SIZE)).close();
    }

    @AfterEach
    void cleanUp() {
        Thread.interrupted();
        pool.shutdownNow();
    }

    @Test
    void anOpenRefusedAfterTheFileWasOpenedReleasesItAndItsLock() throws IOException {
        OpenOptions tooSmall = OpenOptions.defaults().withMaxTableBytes(4096);
        assertThatThrownBy(() -> QedImage.open(image, tooSmall)).isInstanceOf(QedFormatException.class)
                .hasMessageContaining("OpenOptions.withMaxTableBytes");
        assertThat(ImageLock.openChannels(image)).isZero();
        OpenOptions options = OpenOptions.defaults();
        try (QedImage img = QedImage.open(image, options)) { // not refused as "already open for writing"
            assertThat(img.path()).isEqualTo(image);
            assertThat(img.options()).isSameAs(options);
        }
    }

    @Test
    void mapTakesEmptyAndClippedRangesAndRefusesNegativeOnes() throws IOException {
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            assertThat(img.map(0, 0)).isEmpty();
            assertThat(img.map(SIZE, 4096)).as("from the end").isEmpty();
            assertThat(img.map(SIZE - 512, 4096)).singleElement()
                    .satisfies(e -> assertThat(e.end()).as("clipped at the end").isEqualTo(SIZE));
            assertThatThrownBy(() -> img.map(-1, 1)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> img.map(0, -1)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void extentAtAnswersForEveryPositionInsideTheDiskAndNoneOutside() throws IOException {
        try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(new byte[] {1}), 0);
            assertThat(img.extentAt(0).kind()).isEqualTo(Extent.Kind.DATA);
            assertThat(img.extentAt(SIZE - 1).kind()).isEqualTo(Extent.Kind.UNALLOCATED);
            assertThatThrownBy(() -> img.extentAt(SIZE)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> img.extentAt(-1)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void aBackingFileNameMayFillTheHeaderClusterExactlyAndNotOneByteMore() throws Exception {
        Path small = dir.resolve("small.qed");
        QedImage.create(small, CreateOptions.ofSize(SIZE).withClusterSize(4096)).close();
        int room = 4096 - QedHeader.HEADER_LENGTH; // one header cluster, less the header itself
        char[] longest = new char[room];
        Arrays.fill(longest, 'b');
        try (QedImage img = QedImage.open(small, OpenOptions.defaults())) {
            assertThat(img.geometry().headerBytes()).isEqualTo(4096);
            byte[] before = Files.readAllBytes(small);
            String tooLong = new String(longest) + "b";
            assertThatThrownBy(() -> img.setBackingFileInHeader(tooLong, ImageFormat.RAW))
                    .isInstanceOf(IOException.class).hasMessageContaining("no space left in the file header")
                    .hasMessageContaining((room + 1) + " bytes");
            assertThat(Files.readAllBytes(small)).as("nothing written").isEqualTo(before);

            img.setBackingFileInHeader(new String(longest), ImageFormat.RAW);
            assertThat(img.header().backingFilenameSize()).isEqualTo(room);
        }
        byte[] file = Files.readAllBytes(small);
        QedHeader h = QedHeader.decode(ByteBuffer.wrap(file, 0, QedHeader.HEADER_LENGTH), small.toString());
        assertThat(h.backingFilenameSize()).isEqualTo(room);
        assertThat(new String(file, (int) h.backingFilenameOffset(), room, java.nio.charset.StandardCharsets.UTF_8))
                .isEqualTo(new String(longest));
    }

    @Test
    void writesRefusedOnAReadOnlyImageDoNotHoldUpItsCloseFromAnotherThread() throws Exception {
        QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults());
        assertThatThrownBy(() -> img.write(ByteBuffer.wrap(new byte[] {1}), 0))
                .isInstanceOf(AccessDeniedException.class);
        assertThatThrownBy(() -> img.writeZeroes(0, 512)).isInstanceOf(AccessDeniedException.class);
        assertThatThrownBy(() -> img.resize(2 * SIZE)).isInstanceOf(AccessDeniedException.class);
        assertThatThrownBy(() -> img.check(Repair.ERRORS)).isInstanceOf(AccessDeniedException.class);
        pool.submit(() -> {
            img.close();
            return null;
        }).get(60, TimeUnit.SECONDS); // a hang guard, not a timing assertion
        assertThat(img.isOpen()).isFalse();
    }

    /**
     * A second {@code close} while the first is still flushing returns only once the image is closed, keeps an
     * interrupt it got while waiting, and makes up none: closing is idempotent.
     */
    @Test
    void aCloseWhileAnotherIsFlushingWaitsForItAndKeepsItsInterrupt() throws Exception {
        closeWhileAnotherIsFlushing(false);
    }

    /** The same when the first close's flush fails: the waiting close still returns once the image is closed. */
    @Test
    void aCloseWhileAnotherIsFailingToFlushWaitsForItToo() throws Exception {
        closeWhileAnotherIsFlushing(true);
    }

    private void closeWhileAnotherIsFlushing(boolean flushFails) throws Exception {
        CountDownLatch inFlush = new CountDownLatch(1);
        CountDownLatch releaseFlush = new CountDownLatch(1);
        AtomicBoolean block = new AtomicBoolean();
        StorageFactory blockingFlush = (file, readOnly) -> new ForwardingStorage(Storage.open(file, readOnly)) {
            @Override
            public void force() throws IOException {
                if (block.getAndSet(false)) {
                    inFlush.countDown();
                    await(releaseFlush);
                    if (flushFails) {
                        throw new IOException("injected: flush failed");
                    }
                }
                super.force();
            }
        };
        QedImage img = QedImage.open(image, OpenOptions.defaults().withStorageFactory(blockingFlush));
        img.write(ByteBuffer.wrap(new byte[] {1}), 0);
        block.set(true);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicReference<Throwable> firstFailure = new AtomicReference<>();
        Thread first = new Thread(() -> {
            try {
                img.close();
            } catch (Throwable t) {
                firstFailure.set(t);
            }
        }, "first-closer");
        first.start();
        inFlush.await(); // the first close is flushing

        AtomicInteger channelsWhenReturned = new AtomicInteger(-1);
        AtomicBoolean interruptKept = new AtomicBoolean();
        Thread second = new Thread(() -> {
            try {
                img.close();
                channelsWhenReturned.set(ImageLock.openChannels(image));
            } catch (Throwable t) {
                failure.set(t);
            }
            interruptKept.set(Thread.currentThread().isInterrupted());
        }, "second-closer");
        second.start();
        while (second.getState() != Thread.State.WAITING && second.isAlive()) {
            Thread.onSpinWait(); // until it waits for the first close
        }
        second.interrupt();
        releaseFlush.countDown();
        first.join();
        second.join();
        assertThat(failure.get()).isNull();
        if (flushFails) {
            assertThat(firstFailure.get()).hasMessageContaining("injected: flush failed");
        } else {
            assertThat(firstFailure.get()).isNull();
        }
        assertThat(channelsWhenReturned.get()).as("returned only after the image was closed").isZero();
        assertThat(interruptKept.get()).isTrue();

        img.close();
        assertThat(Thread.currentThread().isInterrupted()).as("no interrupt made up").isFalse();
        try (QedImage again = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            assertThat(again.needsCheck()).as("NEED_CHECK left set only by the failed flush").isEqualTo(flushFails);
        }
    }
}
