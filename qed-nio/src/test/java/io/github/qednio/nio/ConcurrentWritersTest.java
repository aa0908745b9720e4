package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.testing.Qemu;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * Many threads writing through many channels on one disk, checked against a model and by {@code qemu-img check}.
 */
class ConcurrentWritersTest {
    private static final int THREADS = 8;
    private static final int CLUSTER = 4096;

    @TempDir
    Path dir;

    private static void runAll(List<Callable<Void>> tasks) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
        try {
            List<Future<Void>> fs = new ArrayList<>();
            for (Callable<Void> t : tasks) {
                fs.add(pool.submit(t));
            }
            for (Future<Void> f : fs) {
                f.get(2, TimeUnit.MINUTES);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Each thread owns a region (regions cut through clusters and L2 tables) and writes random ranges of it, by
     * positional writes on a shared channel, relative writes and transfers on its own channels, and reads its own
     * writes back while the others write.
     */
    @Test
    void disjointWritersThroughManyChannelsMatchTheModel() throws Exception {
        Path image = dir.resolve("disjoint.qed");
        int size = 24 << 20;
        int region = size / THREADS;
        byte[] model = new byte[size];
        try (FileSystem fs = FileSystems.newFileSystem(URI.create("qed:" + image.toUri()),
                Map.of("create", "true", "size", size, "clusterSize", CLUSTER));
             FileChannel shared = FileChannel.open(fs.getPath("/disk"), READ, WRITE)) {
            Path disk = fs.getPath("/disk");
            CyclicBarrier start = new CyclicBarrier(THREADS);
            List<Callable<Void>> tasks = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int id = t;
                tasks.add(() -> {
                    Random rnd = new Random(100 + id);
                    int base = id * region + (id == 0 ? 0 : 1234); // misaligned region starts
                    int end = (id + 1) * region;
                    try (FileChannel own = FileChannel.open(disk, READ, WRITE)) {
                        start.await();
                        for (int i = 0; i < 150; i++) {
                            int len = 1 + rnd.nextInt(i % 10 == 0 ? 300_000 : 9000);
                            int pos = base + rnd.nextInt(end - base - len);
                            byte[] d = new byte[len];
                            rnd.nextBytes(d);
                            switch (i % 3) {
                                case 0 -> shared.write(ByteBuffer.wrap(d), pos);
                                case 1 -> own.position(pos).write(ByteBuffer.wrap(d));
                                default -> own.transferFrom(
                                        Channels.newChannel(new java.io.ByteArrayInputStream(d)), pos, len);
                            }
                            System.arraycopy(d, 0, model, pos, len);
                            if (i % 5 == 0) {
                                int rlen = 1 + rnd.nextInt(20_000);
                                int rpos = base + rnd.nextInt(end - base - rlen);
                                ByteBuffer b = ByteBuffer.allocate(rlen);
                                shared.read(b, rpos);
                                assertThat(b.array()).isEqualTo(Arrays.copyOfRange(model, rpos, rpos + rlen));
                            }
                        }
                    }
                    return null;
                });
            }
            runAll(tasks);
            assertThat(Files.readAllBytes(disk)).isEqualTo(model);
        }
        if (Qemu.crossChecks()) { // without QEMU only the cross-checks are skipped
            Qemu.assertCheckClean(image);
            Qemu.assertIdentical(image, Files.write(dir.resolve("model.raw"), model));
        }
    }

    /**
     * All threads write whole 1 KiB blocks (each inside one cluster) anywhere in a small disk, so they collide on
     * blocks, clusters and tables; each block must end up holding exactly one of the payloads written to it (the
     * writes are not torn), the image must pass qemu-img check, and QEMU must read what we read.
     */
    @Test
    void overlappingWritersLeaveEachBlockWithOneWrittenPayload() throws Exception {
        boolean qemu = Qemu.crossChecks(); // without QEMU only the cross-checks are skipped
        Path image = dir.resolve("overlap.qed");
        int block = 1024;
        int size = 16 << 20;
        int blocks = size / block;
        Map<Integer, Set<String>> written = new ConcurrentHashMap<>();
        Path disk = Path.of(URI.create("qed:" + image.toUri()));
        // Small tables (the smallest QEMU 7.2 opens, notes §14.1): an L2 table covers 4 MiB.
        if (qemu) {
            Qemu.img("create", "-f", "qed", "-o", "cluster_size=" + CLUSTER + ",table_size=2",
                    image.toString(), String.valueOf(size)).assertSuccess();
        } else {
            QedFileSystems.create(image, CreateOptions.ofSize(size).withClusterSize(CLUSTER).withTableSize(2))
                    .close();
        }
        int perTable = (CLUSTER * 2 / 8) * CLUSTER / block;
        FileChannel keeper = FileChannel.open(disk, READ); // keeps the implicit image open throughout
        try {
            CyclicBarrier start = new CyclicBarrier(THREADS);
            List<Callable<Void>> tasks = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int id = t;
                tasks.add(() -> {
                    Random rnd = new Random(200 + id);
                    try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
                        start.await();
                        for (int i = 0; i < 400; i++) {
                            // Hot spots make collisions likely: half the writes go to the first 16 blocks of
                            // an L2 table's range, so threads also race to allocate the same tables.
                            int b = rnd.nextBoolean() ? rnd.nextInt(size / block / perTable) * perTable
                                    + rnd.nextInt(16) : rnd.nextInt(blocks);
                            byte[] payload = new byte[block];
                            rnd.nextBytes(payload);
                            written.computeIfAbsent(b, k -> ConcurrentHashMap.newKeySet())
                                    .add(Arrays.toString(payload));
                            ch.write(ByteBuffer.wrap(payload), (long) b * block);
                            if (i % 50 == 0) {
                                ch.force(false);
                            }
                        }
                    }
                    return null;
                });
            }
            runAll(tasks);
            byte[] all = new byte[size];
            ByteBuffer buf = ByteBuffer.wrap(all);
            while (buf.hasRemaining()) {
                keeper.read(buf, buf.position());
            }
            Set<Integer> seen = new HashSet<>();
            for (int b = 0; b < blocks; b++) {
                byte[] got = Arrays.copyOfRange(all, b * block, (b + 1) * block);
                Set<String> candidates = written.get(b);
                if (candidates == null) {
                    assertThat(got).as("block %d was never written", b).containsOnly(0);
                } else {
                    assertThat(candidates).as("block %d holds one written payload", b)
                            .contains(Arrays.toString(got));
                    seen.add(b);
                }
            }
            assertThat(seen).hasSizeGreaterThan(64);
            Files.write(dir.resolve("read.raw"), all);
        } finally {
            keeper.close();
        }
        if (qemu) {
            Qemu.assertCheckClean(image);
            Qemu.assertIdentical(image, dir.resolve("read.raw"));
        }
    }
}
