package io.github.qednio.nio;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.ClosedFileSystemException;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many threads opening and closing implicit read and write channels, and explicit file systems, on one image: every
 * open either works or gives a documented refusal (an explicit file system while the image is open; a closed file
 * system or channel when the path resolved to an explicit file system another thread closed), writes are
 * never lost, readers never see a torn image, and the image ends clean.
 */
class ConcurrentOpenCloseTest {
    private static final int THREADS = 4;
    private static final int ROUNDS = 150;

    @TempDir
    Path dir;

    @Test
    void opensClosesUpgradesAndExplicitFileSystemsRaceWithoutErrorsOrLostWrites() throws Exception {
        Path image = dir.resolve("race.qed");
        QedFileSystems.create(image, CreateOptions.ofSize(1 << 20).withClusterSize(4096)).close();
        URI uri = URI.create("qed:" + image.toUri());
        CyclicBarrier start = new CyclicBarrier(THREADS);
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            List<Future<Integer>> results = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int id = t;
                results.add(pool.submit(() -> {
                    start.await();
                    int refusals = 0;
                    for (int i = 0; i < ROUNDS; i++) {
                        long slot = (long) (id * ROUNDS + i) * 8;
                        switch (i % 3) {
                            case 0 -> viaPathOf(() -> {
                                try (FileChannel w = FileChannel.open(Path.of(uri), READ, WRITE)) {
                                    w.write(ByteBuffer.allocate(8).putLong(0, slot + 1), slot);
                                }
                            });
                            case 1 -> viaPathOf(() -> {
                                try (FileChannel r = FileChannel.open(Path.of(uri))) {
                                    ByteBuffer b = ByteBuffer.allocate(8);
                                    r.read(b, slot - 8);
                                    assertThat(b.getLong(0)).isEqualTo(slot - 8 + 1);
                                }
                            });
                            default -> {
                                try (FileSystem fs = FileSystems.newFileSystem(uri, Map.of());
                                     FileChannel w = FileChannel.open(fs.getPath("/disk"), WRITE)) {
                                    w.write(ByteBuffer.allocate(8).putLong(0, slot + 1), slot);
                                } catch (FileSystemAlreadyExistsException e) {
                                    refusals++;
                                    viaPathOf(() -> {
                                        try (FileChannel w = FileChannel.open(Path.of(uri), WRITE)) {
                                            w.write(ByteBuffer.allocate(8).putLong(0, slot + 1), slot);
                                        }
                                    });
                                }
                            }
                        }
                    }
                    return refusals;
                }));
            }
            for (Future<Integer> f : results) {
                f.get(5, TimeUnit.MINUTES); // a guard against a deadlock, not a timing assertion
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(QedFileSystemProvider.instance().registry().find(image)).as("nothing left open").isNull();
        assertThat(DiskChannelContractTest.featuresOnDisk(image) & 2).as("NEED_CHECK").isZero();
        try (FileChannel r = FileChannel.open(Path.of(uri))) {
            for (int s = 0; s < THREADS * ROUNDS; s++) {
                ByteBuffer b = ByteBuffer.allocate(8);
                r.read(b, s * 8L);
                long expected = s % ROUNDS % 3 == 1 ? 0 : s * 8L + 1; // rounds 1, 4, ... only read
                assertThat(b.getLong(0)).as("slot %d", s).isEqualTo(expected);
            }
        }
        if (Qemu.crossChecks()) { // without QEMU only the cross-check is skipped
            Qemu.assertCheckClean(image);
        }
        assertThat(Files.exists(image)).isTrue();
    }

    /** An I/O step on a {@code Path.of(uri)} path. */
    private interface Step {
        void run() throws IOException;
    }

    /**
     * Runs {@code step}, again if the path it resolved belonged to an explicit file system that another thread
     * closed meanwhile: {@code Path.of(uri)} returns the explicit file system's disk while one is open, and closing
     * that file system closes its channels, as the JDK's zip file system does. Such a refusal is not a lost write:
     * the caller is told, and the step is repeated.
     */
    private static void viaPathOf(Step step) throws IOException {
        while (true) {
            try {
                step.run();
                return;
            } catch (ClosedFileSystemException | ClosedChannelException e) {
                // the explicit file system the path resolved to was closed by another thread: resolve again
            }
        }
    }
}
