package io.github.qednio.internal.qed;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.CacheBudget;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.storage.ForwardingStorage;
import io.github.qednio.internal.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images sharing a cache budget do not wait for each other: a cache miss in one image completes while another
 * image's write-back is stuck in its storage, and holds the whole budget meanwhile.
 */
class CacheIsolationTest {
    /** Default geometry: 64 KiB clusters, 4-cluster L2 tables. */
    private static final int CS = 65536;
    private static final long TABLE_BYTES = 4L * CS;

    @TempDir
    Path dir;

    /** Blocks the next write once armed, until released; the write then goes through. */
    static final class BlockingStorage extends ForwardingStorage {
        volatile CountDownLatch writing;
        final CountDownLatch release = new CountDownLatch(1);

        BlockingStorage(Storage delegate) {
            super(delegate);
        }

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            CountDownLatch w = writing;
            if (w != null) {
                writing = null;
                w.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while blocked (test)", e);
                }
            }
            super.write(src, position);
        }
    }

    @Test
    void aMissInOneImageCompletesWhileAnotherImagesWriteBackIsBlocked() throws Exception {
        Path a = dir.resolve("a.qed");
        Path b = dir.resolve("b.qed");
        byte[] pattern = new byte[4096];
        Arrays.fill(pattern, (byte) 0x5a);
        try (QedImage img = QedImage.create(a, CreateOptions.ofSize(1L << 30), OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(pattern), 300L << 20);
        }
        QedImage.create(b, CreateOptions.ofSize(1L << 30), OpenOptions.defaults()).close();

        CacheBudget budget = CacheBudget.ofBytes(TABLE_BYTES); // one table for both images
        BlockingStorage[] bStorage = new BlockingStorage[1];
        OpenOptions bOptions = OpenOptions.defaults().withCacheBudget(budget).withStorageFactory((file, ro) ->
                bStorage[0] = new BlockingStorage(Storage.open(file, ro)));
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (QedImage imgB = QedImage.open(b, bOptions);
                QedImage imgA = QedImage.open(a, OpenOptions.readOnlyDefaults().withCacheBudget(budget))) {
            imgB.write(ByteBuffer.wrap(new byte[4096]), 0);   // a new L2 table: B holds the whole budget
            imgB.write(ByteBuffer.wrap(new byte[4096]), CS);  // an entry of that table, written back at flush
            assertThat(budget.used()).isEqualTo(TABLE_BYTES);
            CountDownLatch writing = new CountDownLatch(1);
            bStorage[0].writing = writing;
            Future<?> flush = pool.submit(() -> {
                imgB.flush();                                  // stuck in B's storage, inside B's write-back
                return null;
            });
            writing.await();
            ByteBuffer got = ByteBuffer.allocate(4096);
            imgA.readFully(got, 300L << 20);                   // A misses on its L2 table
            assertThat(got.array()).as("A's read, B's write blocked").isEqualTo(pattern);
            bStorage[0].release.countDown();
            flush.get();
        } finally {
            bStorage[0].release.countDown();
            pool.shutdown();
        }
        assertThat(budget.used()).isZero();
    }
}
