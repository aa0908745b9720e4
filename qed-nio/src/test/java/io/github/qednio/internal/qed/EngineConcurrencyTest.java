package io.github.qednio.internal.qed;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.storage.RecordingStorage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Many threads writing and reading one image at once, with 4 KiB clusters and table_size 2 (one L2 maps
 * 2*4096/8 entries * 4 KiB = 4 MiB), so writers constantly race to allocate the same clusters and tables. The
 * result must equal a model, pass {@code qemu-img check}, and read the same through QEMU.
 */
class EngineConcurrencyTest {
    private static final int CS = 4096;
    private static final int TS = 2;
    private static final long BYTES_PER_L2 = (long) TS * CS / 8 * CS;
    private static final int WRITERS = 6;
    private static final int READERS = 2;

    @TempDir
    Path dir;

    /** A range owned by one writer thread. */
    record Slot(long offset, int length, int owner) {
    }

    /**
     * Disjoint ranges, dealt round-robin to the writers so neighbouring ranges (often in one cluster) belong to
     * different threads. Every write is read back at once by its writer; concurrent readers check that every byte
     * is zero or carries the tag of the range's owner.
     */
    @ParameterizedTest(name = "L2 cache of {0} tables")
    @ValueSource(ints = {50, 2})
    void disjointConcurrentWritesAndReadsMatchTheModel(int cacheTables) throws Exception {
        long size = 6 * BYTES_PER_L2 + 512;
        Path image = dir.resolve("c.qed");
        Random rnd = new Random(7 + cacheTables);
        List<Slot> slots = new ArrayList<>();
        int[] ownerOf = new int[(int) size];
        Arrays.fill(ownerOf, -1);
        int next = 0;
        for (long p = rnd.nextInt(3000); p < size; ) {
            int len = (int) Math.min(size - p, rnd.nextInt(10) == 0 ? 1 + rnd.nextInt(3 * CS) : 1 + rnd.nextInt(1500));
            if (rnd.nextInt(3) > 0 || p + len == size) {
                Slot s = new Slot(p, len, next++ % WRITERS);
                slots.add(s);
                Arrays.fill(ownerOf, (int) p, (int) p + len, s.owner());
            }
            p += len + (rnd.nextInt(4) == 0 ? rnd.nextInt(2 * CS) : 0);
        }
        // The final content of every slot: the last round's write, or zeros if that round zeroed it.
        byte[] model = new byte[(int) size];
        int rounds = 2 * Workload.SOAK;

        OpenOptions opts = OpenOptions.defaults().withL2CacheTables(cacheTables);
        try (QedImage img = QedImage.create(image, CreateOptions.ofSize(size).withClusterSize(CS).withTableSize(TS),
                opts)) {
            AtomicBoolean writing = new AtomicBoolean(true);
            List<Callable<Void>> tasks = new ArrayList<>();
            for (int t = 0; t < WRITERS; t++) {
                int me = t;
                List<Slot> mine = new ArrayList<>(slots.stream().filter(s -> s.owner() == me).toList());
                tasks.add(() -> {
                    Random r = new Random(1000 + me);
                    for (int round = 0; round < rounds; round++) {
                        Collections.shuffle(mine, r);
                        for (Slot s : mine) {
                            boolean zero = r.nextInt(8) == 0;
                            byte[] data = zero ? new byte[s.length()] : tagged(s, round);
                            if (zero) {
                                img.writeZeroes(s.offset(), s.length());
                            } else {
                                img.write(ByteBuffer.wrap(data), s.offset());
                            }
                            ByteBuffer back = ByteBuffer.allocate(s.length());
                            img.readFully(back, s.offset());
                            assertThat(back.array()).as("read-back of %s in round %d", s, round).isEqualTo(data);
                            if (round == rounds - 1) {
                                System.arraycopy(data, 0, model, (int) s.offset(), s.length());
                            }
                        }
                    }
                    return null;
                });
            }
            for (int t = 0; t < READERS; t++) {
                int me = t;
                tasks.add(() -> {
                    Random r = new Random(2000 + me);
                    while (writing.get()) {
                        long pos = r.nextLong(size);
                        int len = (int) Math.min(size - pos, 1 + r.nextInt(4 * CS));
                        ByteBuffer b = ByteBuffer.allocate(len);
                        img.readFully(b, pos);
                        for (int i = 0; i < len; i++) {
                            byte v = b.get(i);
                            int owner = ownerOf[(int) pos + i];
                            if (v != 0 && (owner < 0 || (v >>> 4 & 0xF) != owner + 1)) {
                                throw new AssertionError("byte at " + (pos + i) + " is 0x" + Integer.toHexString(v & 0xFF)
                                        + " but only owner " + owner + " writes there");
                            }
                        }
                    }
                    return null;
                });
            }
            // A flusher clears NEED_CHECK again and again while allocations go on, and a mapper walks the tables.
            tasks.add(() -> {
                while (writing.get()) {
                    img.flush();
                    Thread.sleep(20);
                }
                return null;
            });
            tasks.add(() -> {
                while (writing.get()) {
                    for (long p = 0; p < size; p = img.extentAt(p).end()) {
                        // every extent must be readable while tables change
                    }
                }
                return null;
            });
            runAll(tasks, WRITERS, writing);
            assertWholeImageEquals(img, model);
        }
        if (Qemu.crossChecks()) { // without QEMU only the cross-checks are skipped
            Path raw = dir.resolve("model.raw");
            Files.write(raw, model);
            Qemu.assertCheckClean(image);
            Qemu.assertIdentical(image, raw);
        }
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults().withL2CacheTables(cacheTables))) {
            assertWholeImageEquals(img, model);
        }
    }

    /**
     * Overlapping writes and zero writes from many threads around an L2 boundary: no write is atomic as a whole
     * with respect to another, but every byte must end up as the value of one of the operations that covered it
     * (or zero if none did), the engine and QEMU must read the same, and the image must check clean.
     */
    @ParameterizedTest(name = "L2 cache of {0} tables")
    @ValueSource(ints = {50, 2})
    void overlappingConcurrentWritesLeaveEveryByteFromOneOfItsWriters(int cacheTables) throws Exception {
        long size = 4 * BYTES_PER_L2;
        long hotStart = BYTES_PER_L2 - 256 * 1024;
        int hotLength = 512 * 1024;
        Path image = dir.resolve("o.qed");
        int ops = 150 * Workload.SOAK;
        // values[t] = fill byte of thread t's writes; covered[t] = bytes thread t wrote; zeroed = any zero write.
        BitSet[] written = new BitSet[WRITERS];
        BitSet zeroed = new BitSet();
        OpenOptions opts = OpenOptions.defaults().withL2CacheTables(cacheTables);
        try (QedImage img = QedImage.create(image, CreateOptions.ofSize(size).withClusterSize(CS).withTableSize(TS),
                opts)) {
            AtomicBoolean writing = new AtomicBoolean(true);
            List<Callable<Void>> tasks = new ArrayList<>();
            for (int t = 0; t < WRITERS; t++) {
                int me = t;
                written[t] = new BitSet();
                tasks.add(() -> {
                    Random r = new Random(3000 + me);
                    byte[] fill = new byte[4 * CS];
                    Arrays.fill(fill, fillOf(me));
                    for (int i = 0; i < ops; i++) {
                        int off = r.nextInt(hotLength);
                        int len = Math.min(hotLength - off, 1 + r.nextInt(r.nextBoolean() ? 600 : 4 * CS));
                        if (r.nextInt(6) == 0) {
                            img.writeZeroes(hotStart + off, len);
                            synchronized (zeroed) {
                                zeroed.set(off, off + len);
                            }
                        } else {
                            img.write(ByteBuffer.wrap(fill, 0, len), hotStart + off);
                            written[me].set(off, off + len);
                        }
                    }
                    return null;
                });
            }
            for (int t = 0; t < READERS; t++) {
                int me = t;
                tasks.add(() -> {
                    Random r = new Random(4000 + me);
                    while (writing.get()) {
                        int off = r.nextInt(hotLength);
                        ByteBuffer b = ByteBuffer.allocate(Math.min(hotLength - off, 1 + r.nextInt(4 * CS)));
                        img.readFully(b, hotStart + off);
                        for (int i = 0; i < b.capacity(); i++) {
                            byte v = b.get(i);
                            if (v != 0 && (v < fillOf(0) || v > fillOf(WRITERS - 1))) {
                                throw new AssertionError("byte at " + (hotStart + off + i) + " is 0x"
                                        + Integer.toHexString(v & 0xFF) + ", which no writer writes");
                            }
                        }
                    }
                    return null;
                });
            }
            runAll(tasks, WRITERS, writing);
        }
        byte[] qemuView = null;
        if (Qemu.crossChecks()) { // without QEMU only the cross-checks are skipped
            Qemu.assertCheckClean(image);
            Path raw = Qemu.convertToRaw(image, dir.resolve("o.raw"));
            qemuView = new byte[hotLength];
            try (FileChannel ch = FileChannel.open(raw)) {
                ch.read(ByteBuffer.wrap(qemuView), hotStart);
            }
        }
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults().withL2CacheTables(cacheTables))) {
            byte[] ours = new byte[hotLength];
            img.readFully(ByteBuffer.wrap(ours), hotStart);
            if (qemuView != null) {
                assertThat(Arrays.mismatch(ours, qemuView)).as("engine and QEMU read the same").isEqualTo(-1);
            }
            for (int k = 0; k < hotLength; k++) {
                int i = k;
                byte v = ours[i];
                boolean ok;
                if (v == 0) {
                    ok = zeroed.get(i) || Arrays.stream(written).noneMatch(w -> w.get(i));
                } else {
                    int t = v - fillOf(0);
                    ok = t >= 0 && t < WRITERS && written[t].get(i);
                }
                assertThat(ok).as("byte at %d is 0x%02x, not a value of any operation that covered it",
                        hotStart + i, v & 0xFF).isTrue();
            }
            // Outside the hot window nothing was written.
            assertThat(img.extentAt(0).kind()).isEqualTo(Extent.Kind.UNALLOCATED);
            assertThat(img.extentAt(hotStart + hotLength).kind()).isNotEqualTo(Extent.Kind.DATA);
        }
    }

    /**
     * While one thread is stuck in the middle of an allocating write (its data write is held at the storage),
     * reads of allocated and unallocated clusters, in the same L2 table and in others, and in-place writes all
     * complete: only allocations are serialised (notes §8.2).
     */
    @Test
    void readsAndInPlaceWritesDoNotWaitForAnAllocationInProgress() throws Exception {
        Path image = dir.resolve("w.qed");
        List<RecordingStorage> storages = new CopyOnWriteArrayList<>();
        long size = 4 * BYTES_PER_L2;
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (QedImage img = QedImage.create(image, CreateOptions.ofSize(size).withClusterSize(CS).withTableSize(TS),
                OpenOptions.defaults().withStorageFactory(RecordingStorage.factory(storages)))) {
            byte[] old = new byte[CS];
            Arrays.fill(old, (byte) 0x61);
            img.write(ByteBuffer.wrap(old), 0);
            img.write(ByteBuffer.wrap(old), BYTES_PER_L2);
            img.flush();
            long eof = img.nextAllocationOffset();
            CountDownLatch stuck = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            storages.get(0).beforeWrite(off -> {
                if (off >= eof && stuck.getCount() > 0) {
                    stuck.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            byte[] fresh = new byte[3 * CS];
            Arrays.fill(fresh, (byte) 0x62);
            Future<Integer> allocating = pool.submit(() -> img.write(ByteBuffer.wrap(fresh), 5L * CS));
            assertThat(stuck.await(1, TimeUnit.MINUTES)).as("the allocating write reached its data write").isTrue();

            Future<byte[]> others = pool.submit(() -> {
                byte[] got = new byte[4 * CS];
                img.readFully(ByteBuffer.wrap(got, 0, CS), 0);
                img.readFully(ByteBuffer.wrap(got, CS, CS), 20L * CS);
                img.readFully(ByteBuffer.wrap(got, 2 * CS, CS), BYTES_PER_L2);
                img.readFully(ByteBuffer.wrap(got, 3 * CS, CS), 3 * BYTES_PER_L2);
                img.write(ByteBuffer.wrap(new byte[] {0x63}), 100);
                img.extentAt(0);
                return got;
            });
            byte[] got;
            try {
                got = others.get(1, TimeUnit.MINUTES);
            } finally {
                release.countDown();
            }
            assertThat(Arrays.copyOfRange(got, 0, CS)).as("allocated cluster, same L2 table").isEqualTo(old);
            assertThat(Arrays.copyOfRange(got, CS, 2 * CS)).as("unallocated, same L2 table").containsOnly(0);
            assertThat(Arrays.copyOfRange(got, 2 * CS, 3 * CS)).as("allocated, another table").isEqualTo(old);
            assertThat(Arrays.copyOfRange(got, 3 * CS, 4 * CS)).as("no table at all").containsOnly(0);
            assertThat(allocating.get(1, TimeUnit.MINUTES)).isEqualTo(fresh.length);
            byte[] back = new byte[fresh.length];
            img.readFully(ByteBuffer.wrap(back), 5L * CS);
            assertThat(back).isEqualTo(fresh);
        } finally {
            pool.shutdownNow();
        }
        if (Qemu.crossChecks()) { // without QEMU only the cross-check is skipped
            Qemu.assertCheckClean(image);
        }
    }

    private static byte fillOf(int thread) {
        return (byte) (0x10 + thread);
    }

    /** Data for a slot: the owner's tag in the high nibble, position and round in the low one. */
    private static byte[] tagged(Slot s, int round) {
        byte[] b = new byte[s.length()];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) ((s.owner() + 1) << 4 | (int) ((s.offset() + i + round) & 0xF));
        }
        return b;
    }

    /** Runs all tasks; the first {@code writers} are writers, after which {@code writing} is cleared for readers. */
    private static void runAll(List<Callable<Void>> tasks, int writers, AtomicBoolean writing) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
        try {
            List<Future<Void>> futures = new ArrayList<>();
            for (Callable<Void> t : tasks) {
                futures.add(pool.submit(t));
            }
            try {
                for (int i = 0; i < writers; i++) {
                    await(futures.get(i));
                }
            } finally {
                writing.set(false);
            }
            for (Future<Void> f : futures) {
                await(f);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static void await(Future<Void> f) throws Exception {
        try {
            f.get(5, TimeUnit.MINUTES);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof AssertionError a) {
                throw a;
            }
            throw e;
        }
    }

    private static void assertWholeImageEquals(QedImage img, byte[] model) throws IOException {
        byte[] all = new byte[model.length];
        img.readFully(ByteBuffer.wrap(all), 0);
        int m = Arrays.mismatch(all, model);
        assertThat(m).as("first guest byte that differs from the model").isEqualTo(-1);
    }
}
