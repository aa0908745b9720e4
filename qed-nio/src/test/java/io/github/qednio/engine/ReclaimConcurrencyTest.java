package io.github.qednio.engine;

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
        Path file = dir.resolve("race.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(16L << 20).withClusterSize(CS)
                .withTableSize(2))) {
            // Churn first, so that the clusters the writers own lie at the end of the file and compaction moves them.
            for (int k = 0; k < 256; k++) {
                img.write(stamp(1000 + k, 0), (4L << 20) + (long) k * CS);
            }
            for (int k = 0; k < OWN; k++) {
                img.write(stamp(k, 0), (long) k * CS);
            }
            AtomicBoolean stop = new AtomicBoolean();
            ExecutorService pool = Executors.newFixedThreadPool(3);
            try {
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
                Future<?> churn = pool.submit(() -> {
                    for (int round = 0; round < 30; round++) {
                        img.discard(4L << 20, 256L * CS);
                        img.flush();
                        img.compact((d, t) -> { });
                        for (int k = 0; k < 256; k += 2) {
                            img.write(stamp(1000 + k, round), (4L << 20) + (long) k * CS);
                        }
                        img.flush();
                    }
                    return null;
                });
                churn.get();
                stop.set(true);
                int last = writer.get();
                for (int k = 0; k < OWN; k++) {
                    ByteBuffer got = ByteBuffer.allocate(CS);
                    img.readFully(got, (long) k * CS);
                    assertThat(got.flip()).as("cluster %d at the end", k).isEqualTo(stamp(k, last));
                }
                assertThat(img.check(Repair.NONE).isConsistent()).isTrue();
            } finally {
                stop.set(true);
                pool.shutdownNow();
            }
        }
    }
}
