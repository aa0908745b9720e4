package io.github.qednio.internal.qed;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.Progress;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Discard, reuse and compaction free and move clusters while other threads read and write allocated clusters
 * without the allocation lock: no write may be lost (written into a cluster after it was copied away) and no read
 * may return another position's data (read from a cluster handed to another position).
 */
class ReclaimConcurrencyTest {
    private static final int CS = 4096;
    private static final int OWN = 64;

    @TempDir
    Path dir;

    /** Cluster {@code k} of version {@code v}: every 8-byte word holds (k, v), so any misplaced read shows. */
    private static ByteBuffer stamp(int k, int v) {
        ByteBuffer b = ByteBuffer.allocate(CS);
        while (b.hasRemaining()) {
            b.putInt(k).putInt(v);
        }
        return b.flip();
    }

    @Test
    void inPlaceWritesAndReadsRacingDiscardReuseAndCompactionLoseNothingAndSeeNothingForeign() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            for (int round = 0; round < 12; round++) {
                runRound(pool, dir.resolve("race" + round + ".qed"));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Own clusters interleaved with churn clusters in the file; while a writer rewrites and rereads its own
     * clusters in place, the churn is discarded (its clusters reused by new churn writes) and the image compacted,
     * which moves the upper half of the own clusters down into the holes.
     */
    private static void runRound(ExecutorService pool, Path file) throws Exception {
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(16L << 20).withClusterSize(CS)
                .withTableSize(2))) {
            for (int k = 0; k < OWN; k++) {
                img.write(stamp(k, 0), (long) k * CS);
                img.write(stamp(1000 + k, 0), (4L << 20) + (long) k * CS);
            }
            img.flush();
            AtomicBoolean stop = new AtomicBoolean();
            Future<Integer> writer = pool.submit(() -> {
                int v = 0;
                while (!stop.get()) {
                    v++;
                    for (int k = 0; k < OWN; k++) {
                        img.write(stamp(k, v), (long) k * CS);
                        ByteBuffer got = ByteBuffer.allocate(CS);
                        img.readFully(got, (long) k * CS);
                        assertThat(got.flip()).as("cluster %d right after writing version %d", k, v)
                                .isEqualTo(stamp(k, v));
                    }
                }
                return v;
            });
            try {
                img.discard(4L << 20, (long) OWN * CS);
                img.flush();
                for (int k = 0; k < OWN / 2; k++) {
                    img.write(stamp(2000 + k, 0), (8L << 20) + (long) k * CS); // reuses the churn's clusters
                }
                img.compact(Progress.NONE);
            } finally {
                stop.set(true);
            }
            int last = writer.get();
            for (int k = 0; k < OWN; k++) {
                ByteBuffer got = ByteBuffer.allocate(CS);
                img.readFully(got, (long) k * CS);
                assertThat(got.flip()).as("cluster %d at the end", k).isEqualTo(stamp(k, last));
            }
            for (int k = 0; k < OWN / 2; k++) {
                ByteBuffer got = ByteBuffer.allocate(CS);
                img.readFully(got, (8L << 20) + (long) k * CS);
                assertThat(got.flip()).as("new churn cluster %d", k).isEqualTo(stamp(2000 + k, 0));
            }
            assertThat(img.check(Repair.NONE).isClean()).isTrue();
        }
    }
}
