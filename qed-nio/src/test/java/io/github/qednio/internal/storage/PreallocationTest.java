package io.github.qednio.internal.storage;

import io.github.qednio.image.CacheMode;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.ImageLockedException;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qed.ChildJvm;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Java22;
import io.github.qednio.testing.Qemu;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Preallocation}: space reserved past the end of an image while a writer allocates clusters there, given back
 * when the last writer closes; never below the end of the file, never for a reader, never failing a write. The
 * reservation logic is tested with a recording {@link Preallocation.Space}; the native one (Java 22+) on real files,
 * whose allocated size {@code stat} reports.
 */
class PreallocationTest {
    private static final int MIB = 1 << 20;
    private static final int CLUSTER = 64 * 1024;
    @TempDir
    Path dir;

    /** Records the calls; answers {@code answer} (0 or -errno) to each reservation. */
    private static class RecordingSpace implements Preallocation.Space {
        final List<String> calls = new ArrayList<>();
        int answer;
        boolean closed;

        @Override
        public int reserve(long offset, long length) {
            calls.add("reserve " + offset + " " + length);
            return answer;
        }

        @Override
        public int cutTo(long length) {
            calls.add("cut " + length);
            return 0;
        }

        @Override
        public int startWriteback() {
            calls.add("writeback");
            return answer;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    private static Preallocation recording(RecordingSpace space, long fileLength) {
        return new Preallocation(Path.of("x.qed"), "key", fileLength, (file, key) -> space, Runnable::run);
    }

    private static long roundUpMib(long n) {
        return (n + MIB - 1) / MIB * MIB;
    }

    @Test
    void reservesAheadOfTheEndOnceAndAgainOnlyWhenTheWritesComeWithinHalfOfItsEnd() {
        RecordingSpace space = new RecordingSpace();
        Preallocation p = recording(space, 5 * CLUSTER);
        p.appending(5 * CLUSTER, 6 * CLUSTER);
        long firstEnd = roundUpMib(6 * CLUSTER + Preallocation.AHEAD);
        assertThat(space.calls).containsExactly("reserve " + 5 * CLUSTER + " " + (firstEnd - 5 * CLUSTER));
        // Writes ending up to half a reservation before its end need no call.
        long half = firstEnd - Preallocation.AHEAD / 2;
        for (long off = 6 * CLUSTER; off + CLUSTER <= half; off += CLUSTER) {
            p.appending(off, off + CLUSTER);
        }
        assertThat(space.calls).hasSize(1);
        p.appending(half, half + CLUSTER);
        long secondEnd = roundUpMib(half + CLUSTER + Preallocation.AHEAD);
        assertThat(space.calls).hasSize(2).last().isEqualTo("reserve " + firstEnd + " " + (secondEnd - firstEnd));
    }

    @Test
    void theWriterNeverWaitsForAReservationAndOnlyOneIsUnderWayPerFile() {
        List<Runnable> queued = new ArrayList<>();
        RecordingSpace space = new RecordingSpace();
        Preallocation p = new Preallocation(Path.of("x.qed"), "key", 0, (file, key) -> space, queued::add);
        p.appending(0, CLUSTER);
        p.appending(CLUSTER, 2 * CLUSTER);
        p.appending(100L * MIB, 100L * MIB + CLUSTER);
        assertThat(queued).as("one reservation asked for, none made on the writer's thread").hasSize(1);
        assertThat(space.calls).isEmpty();
        queued.get(0).run();
        assertThat(space.calls).containsExactly("reserve 0 " + roundUpMib(CLUSTER + Preallocation.AHEAD));
    }

    /** Runs {@code action} on another thread, lets it wait for the reservation under way, then lets that finish. */
    private static void whileAReservationIsUnderWay(Preallocation p, List<Runnable> queued, RecordingSpace space,
            Runnable action) throws InterruptedException {
        p.appending(0, CLUSTER);
        Thread t = new Thread(action);
        t.start();
        while (t.getState() != Thread.State.WAITING) {
            Thread.onSpinWait(); // until it waits for the reservation
        }
        assertThat(space.calls).isEmpty();
        queued.get(0).run();
        t.join();
    }

    @Test
    void trimWaitsForTheReservationUnderWaySoThatNothingStaysReservedPastTheEnd() throws Exception {
        List<Runnable> queued = new ArrayList<>();
        RecordingSpace space = new RecordingSpace();
        Preallocation p = new Preallocation(Path.of("x.qed"), "key", 0, (file, key) -> space, queued::add);
        whileAReservationIsUnderWay(p, queued, space, () -> p.trim(CLUSTER));
        assertThat(space.calls).containsExactly("reserve 0 " + roundUpMib(CLUSTER + Preallocation.AHEAD),
                "cut " + CLUSTER);
    }

    @Test
    void closeWaitsForTheReservationUnderWayBeforeItClosesTheDescriptor() throws Exception {
        List<Runnable> queued = new ArrayList<>();
        RecordingSpace space = new RecordingSpace() {
            @Override
            public int reserve(long offset, long length) {
                assertThat(closed).as("reserving on a closed descriptor").isFalse();
                return super.reserve(offset, length);
            }
        };
        Preallocation p = new Preallocation(Path.of("x.qed"), "key", 0, (file, key) -> space, queued::add);
        whileAReservationIsUnderWay(p, queued, space, () -> {
            try {
                p.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        assertThat(space.calls).hasSize(1);
        assertThat(space.closed).isTrue();
    }

    @Test
    void aCutWaitsForTheReservationUnderWaySoTheNextOneStartsAtTheNewEnd() throws Exception {
        List<Runnable> queued = new ArrayList<>();
        RecordingSpace space = new RecordingSpace();
        Preallocation p = new Preallocation(Path.of("x.qed"), "key", 0, (file, key) -> space, queued::add);
        whileAReservationIsUnderWay(p, queued, space, () -> p.truncated(0));
        p.appending(0, CLUSTER);
        assertThat(queued).hasSize(2);
        queued.get(1).run();
        assertThat(space.calls).hasSize(2).allMatch(c -> c.startsWith("reserve 0 "));
    }

    @Test
    void neverReservesBelowTheFirstAllocationPastTheEnd() {
        RecordingSpace space = new RecordingSpace();
        // A new image's header and L1 table were written directly (the file may have holes there): the allocator's
        // first cluster lies past them, and nothing below it is touched.
        Preallocation p = recording(space, 0);
        p.appending(10 * CLUSTER, 11 * CLUSTER);
        assertThat(space.calls).singleElement().asString().startsWith("reserve " + 10 * CLUSTER + " ");
    }

    @Test
    void aRefusedReservationTurnsPreallocationOffWithoutFailingAnything() {
        RecordingSpace space = new RecordingSpace();
        space.answer = -28; // ENOSPC
        Preallocation p = recording(space, CLUSTER);
        p.appending(CLUSTER, 2 * CLUSTER);
        p.appending(100L * MIB, 100L * MIB + CLUSTER);
        p.truncated(0); // would make a file that preallocates ask again
        p.appending(0, CLUSTER);
        assertThat(space.calls).as("asked once, then off").hasSize(1);
    }

    @Test
    void aReservationThatThrowsOrCannotBeScheduledTurnsPreallocationOff() {
        Preallocation.Space throwing = new RecordingSpace() {
            @Override
            public int reserve(long offset, long length) {
                calls.add("reserve");
                throw new IllegalStateException("descriptor gone");
            }
        };
        Preallocation p = new Preallocation(Path.of("x.qed"), "key", CLUSTER, (file, key) -> throwing,
                Runnable::run);
        p.appending(CLUSTER, 2 * CLUSTER);
        p.truncated(0);
        p.appending(0, CLUSTER);
        assertThat(((RecordingSpace) throwing).calls).containsExactly("reserve");

        RecordingSpace space = new RecordingSpace();
        int[] tries = {0};
        Preallocation rejected = new Preallocation(Path.of("x.qed"), "key", CLUSTER, (file, key) -> space, task -> {
            tries[0]++;
            throw new java.util.concurrent.RejectedExecutionException("no thread");
        });
        rejected.appending(CLUSTER, 2 * CLUSTER); // the writer is not failed
        rejected.truncated(0);
        rejected.appending(0, CLUSTER);
        assertThat(tries[0]).isEqualTo(1);
        assertThat(space.calls).isEmpty();
    }

    @Test
    void aReservationEndsOnAWholeMebibyteAheadOfTheWrite() {
        RecordingSpace space = new RecordingSpace();
        Preallocation p = recording(space, 0);
        p.appending(0, MIB);
        assertThat(space.calls).containsExactly("reserve 0 " + (MIB + Preallocation.AHEAD));
    }

    @Test
    void aFileSystemWithoutADescriptorLeavesPreallocationOff() {
        int[] opens = {0};
        Preallocation p = new Preallocation(Path.of("x.qed"), "key", 0, (file, key) -> {
            opens[0]++;
            return null;
        }, Runnable::run);
        p.appending(0, CLUSTER);
        p.appending(100L * MIB, 100L * MIB + CLUSTER);
        p.trim(100L * MIB);
        assertThat(opens[0]).isEqualTo(1);
    }

    @Test
    void aCutFileIsReservedAgainFromItsNewEnd() {
        RecordingSpace space = new RecordingSpace();
        Preallocation p = recording(space, 0);
        p.appending(0, CLUSTER);
        p.truncated(0);
        p.appending(0, CLUSTER);
        assertThat(space.calls).hasSize(2).allMatch(c -> c.startsWith("reserve 0 "));
    }

    @Test
    void trimCutsTheFileToItsLengthOnlyIfSomethingWasReservedAndClosingClosesTheDescriptor() throws IOException {
        RecordingSpace space = new RecordingSpace();
        Preallocation untouched = recording(space, 0);
        untouched.trim(4 * CLUSTER);
        assertThat(space.calls).as("a writer that never extended the file has nothing to give back").isEmpty();

        Preallocation p = recording(space, 0);
        p.appending(0, CLUSTER);
        p.trim(CLUSTER);
        assertThat(space.calls).last().isEqualTo("cut " + CLUSTER);
        p.close();
        assertThat(space.closed).isTrue();
        p.appending(100L * MIB, 100L * MIB + CLUSTER);
        assertThat(space.calls).as("nothing after close").hasSize(2);
    }

    @Test
    void thePropertyTurnsItOff() {
        RecordingSpace space = new RecordingSpace();
        String old = System.setProperty(Preallocation.ENABLE_PROPERTY, "false");
        try {
            Preallocation p = recording(space, 0);
            p.appending(0, CLUSTER);
        } finally {
            restore(old);
        }
        assertThat(space.calls).isEmpty();
    }

    @Test
    void writebackIsStartedEvenWithReservationsOffAndAFailureTurnsOnlyItOff() {
        RecordingSpace space = new RecordingSpace();
        String old = System.setProperty(Preallocation.ENABLE_PROPERTY, "false");
        Preallocation p;
        try {
            p = recording(space, 0);
        } finally {
            restore(old);
        }
        p.startWriteback();
        p.startWriteback();
        assertThat(space.calls).containsExactly("writeback", "writeback");
        space.answer = -22; // EINVAL
        p.startWriteback();
        p.startWriteback();
        assertThat(space.calls).as("asked once more, then off").hasSize(3);
    }

    /** Records what reaches the storage under {@link EarlyWriteback}. */
    private static final class RecordingStorage implements Storage {
        final List<String> calls = new ArrayList<>();

        @Override
        public int read(ByteBuffer dst, long position) {
            return -1;
        }

        @Override
        public void write(ByteBuffer src, long position) {
            calls.add("write " + src.remaining());
            src.position(src.limit());
        }

        @Override
        public long size() {
            return 0;
        }

        @Override
        public void truncate(long size) {
        }

        @Override
        public void force() {
            calls.add("force");
        }

        @Override
        public void startWriteback() {
            calls.add("writeback");
        }

        @Override
        public String name() {
            return "recording";
        }

        @Override
        public void close() {
        }
    }

    @Test
    void earlyWritebackStartsAfterEveryBytesPerSyncWrittenAndAFlushStartsTheCountAgain() throws IOException {
        RecordingStorage under = new RecordingStorage();
        Storage s = new EarlyWriteback(under, 3 * CLUSTER);
        for (int i = 0; i < 7; i++) {
            s.write(ByteBuffer.allocate(CLUSTER), (long) i * CLUSTER);
        }
        assertThat(under.calls).filteredOn("writeback"::equals).hasSize(2);
        assertThat(under.calls.subList(0, 4)).containsExactly("write 65536", "write 65536", "write 65536",
                "writeback");
        s.force(); // one cluster counted since the last write-back: forgotten
        assertThat(under.calls).last().isEqualTo("force");
        s.write(ByteBuffer.allocate(CLUSTER), 0);
        s.write(ByteBuffer.allocate(CLUSTER), 0);
        assertThat(under.calls).filteredOn("writeback"::equals).hasSize(2);
        s.write(ByteBuffer.allocate(CLUSTER), 0);
        assertThat(under.calls).last().isEqualTo("writeback");
    }

    @Test
    void bytesPerSyncAppliesOnlyToWritersWithWritebackCaching() throws IOException {
        assertThatThrownBy(() -> OpenOptions.defaults().withBytesPerSync(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("-1");
        assertThat(OpenOptions.defaults().bytesPerSync()).isZero();
        Path f = dir.resolve("plain.raw");
        Files.write(f, new byte[CLUSTER]);
        OpenOptions on = OpenOptions.defaults().withBytesPerSync(MIB);
        try (Storage s = on.openStorage(f, false)) {
            assertThat(s).isInstanceOf(EarlyWriteback.class);
        }
        try (Storage s = on.openStorage(f, true)) {
            assertThat(s).isNotInstanceOf(EarlyWriteback.class);
        }
        try (Storage s = on.withCacheMode(CacheMode.UNSAFE).openStorage(f, false)) {
            assertThat(s).isNotInstanceOf(EarlyWriteback.class);
        }
        try (Storage s = OpenOptions.defaults().openStorage(f, false)) {
            assertThat(s).isNotInstanceOf(EarlyWriteback.class);
        }
    }

    // ---- the native calls on real files (Java 22+) ----

    private static void assumeNative() {
        Java22.assume("preallocation");
        assertThat(Preallocation.available()).as("the multi-release class must load, with native access enabled")
                .isTrue();
    }

    @Test
    void aWriterFillingAnImageHasSpaceReservedPastTheEndWhichItsCloseGivesBack() throws IOException {
        assumeNative();
        Path image = dir.resolve("filled.qed");
        ByteBuffer data = pattern(CLUSTER, 3);
        try (QedImage img = QedImage.create(image, CreateOptions.ofSize(64L * MIB))) {
            for (long pos = 0; pos < 4 * MIB; pos += CLUSTER) {
                img.write(data.clear(), pos);
            }
            long size = Files.size(image);
            // The first cluster's reservation reached AHEAD past it; 4 MiB were written into it since.
            assertThat(allocatedBytes(image)).as("blocks reserved past the end (%d bytes) while writing", size)
                    .isGreaterThan(size + 4L * MIB);
        }
        assertThat(allocatedBytes(image)).as("nothing reserved past the end after close")
                .isLessThanOrEqualTo(roundUp(Files.size(image)));
        // Nor inside the file: the new image's L1 table (clusters 1-4, one entry used) and the rest of its header
        // cluster are holes, and stay holes (about 300 KiB).
        assertThat(allocatedBytes(image)).as("the sparse L1 table was not filled")
                .isLessThanOrEqualTo(Files.size(image) - 256 * 1024);
        assertQemuReadsPattern(image, 4 * MIB, 3);
    }

    @Test
    void anImageWrittenWithEarlyWritebackHasItsDataAndQemuFindsItClean() throws IOException {
        assumeNative();
        Path image = dir.resolve("early.qed");
        OpenOptions open = OpenOptions.defaults().withBytesPerSync(MIB);
        try (QedImage img = QedImage.create(image, CreateOptions.ofSize(64L * MIB), open)) {
            for (long pos = 0; pos < 8 * MIB; pos += CLUSTER) {
                img.write(pattern(CLUSTER, 11).clear(), pos);
            }
        }
        Qemu.assumeAvailable();
        Qemu.assertCheckClean(image);
        assertQemuReadsPattern(image, 8 * MIB, 11);
    }

    @Test
    void spaceLeftReservedByAWriterThatCrashedIsGivenBackByTheNextWriterThatExtendsTheFile() throws Exception {
        assumeNative();
        Path image = dir.resolve("crashed.qed");
        QedImage.create(image, CreateOptions.ofSize(64L * MIB)).close();
        long size = Files.size(image);
        // What a crash leaves: unwritten blocks past the end (fallocate(1) -n is FALLOC_FL_KEEP_SIZE).
        run("fallocate", "-n", "-o", Long.toString(size), "-l", Long.toString(8L * MIB), image.toString());
        assertThat(allocatedBytes(image)).isGreaterThan(size + 4L * MIB);
        try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
            img.write(pattern(CLUSTER, 9), 0);
        }
        assertThat(allocatedBytes(image)).isLessThanOrEqualTo(roundUp(Files.size(image)));
    }

    @Test
    void aReaderNeverReservesAndAReadOnlyOpenLeavesTheFileAsItWas() throws Exception {
        assumeNative();
        Path image = dir.resolve("read.qed");
        try (QedImage img = QedImage.create(image, CreateOptions.ofSize(8L * MIB))) {
            img.write(pattern(CLUSTER, 1), 0);
        }
        run("fallocate", "-n", "-o", Long.toString(Files.size(image)), "-l", Long.toString(MIB),
                image.toString());
        long before = allocatedBytes(image);
        try (QedImage img = QedImage.open(image, OpenOptions.defaults().withReadOnly(true))) {
            img.read(ByteBuffer.allocate(CLUSTER), 0);
        }
        assertThat(allocatedBytes(image)).as("a reader neither reserves nor gives back").isEqualTo(before);
    }

    @Test
    void aQemuWriterStaysRefusedWhileTheJavaWriterReservesSpace() throws IOException {
        assumeNative();
        Qemu.assumeAvailable();
        Path image = dir.resolve("held.qed");
        try (QedImage writer = QedImage.create(image, CreateOptions.ofSize(64L * MIB))) {
            for (long pos = 0; pos < 2 * Preallocation.AHEAD; pos += CLUSTER) {
                writer.write(pattern(CLUSTER, 5).clear(), pos);
            }
            Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
            assertThat(w.exitCode()).as("%s", w).isNotZero();
            assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");
        }
        Qemu.Result check = Qemu.img("check", image.toString());
        assertThat(check.exitCode()).as("%s", check).isZero();
        assertQemuReadsPattern(image, 2 * Preallocation.AHEAD, 5);
    }

    /**
     * Giving the reservation back cuts the file to the length its writer last saw: only safe while no other process
     * can write. A writer whose locks foreign code dropped and QEMU took meanwhile leaves the file alone at close:
     * not a byte, not a block changes (the space stays reserved, as after a crash).
     */
    @Test
    void aWriterWhoseLockQemuHoldsLeavesTheFileAndItsReservationAloneAtClose() throws Exception {
        assumeNative();
        Qemu.assumeAvailable();
        Path image = dir.resolve("taken.qed");
        QedImage w = QedImage.create(image, CreateOptions.ofSize(64L * MIB));
        Process qemu = null;
        try {
            for (long pos = 0; pos < 2 * MIB; pos += CLUSTER) {
                w.write(pattern(CLUSTER, 7).clear(), pos);
            }
            w.flush();
            HeldLocks.token(image); // skips where /proc/locks does not list the locks
            Files.readAllBytes(image); // the kernel drops the writer's locks
            qemu = new ProcessBuilder("qemu-io", "-f", "qed", image.toString()).redirectErrorStream(true).start();
            BufferedReader out = ChildJvm.stdout(qemu);
            OutputStream in = qemu.getOutputStream();
            in.write("write -P 0x44 32M 64k\n".getBytes(StandardCharsets.US_ASCII));
            in.flush();
            ChildJvm.awaitLine(out, "wrote 65536/65536 bytes"); // QEMU got in: it holds the image now

            long size = Files.size(image);
            long allocated = allocatedBytes(image);
            byte[] before = Files.readAllBytes(image);
            assertThatThrownBy(w::close).isInstanceOf(ImageLockedException.class);
            assertThat(Files.readAllBytes(image)).as("not a byte changed").isEqualTo(before);
            assertThat(allocatedBytes(image)).as("the file was not cut").isEqualTo(allocated)
                    .isGreaterThan(roundUp(size));

            in.write("quit\n".getBytes(StandardCharsets.US_ASCII));
            in.close();
            assertThat(qemu.waitFor(60, TimeUnit.SECONDS)).isTrue();
        } finally {
            if (qemu != null) {
                qemu.destroyForcibly();
            }
            w.close();
        }
        Qemu.Result r = Qemu.io("-r", "-f", "qed", "-c", "read -P 0x44 32M 64k", image.toString());
        assertThat(r.exitCode()).as("%s", r).isZero();
        assertThat(r.stdout()).doesNotContain("Pattern verification failed");
    }

    private static void assertQemuReadsPattern(Path image, long length, int seed) {
        Qemu.assumeAvailable();
        // Every cluster holds the same pattern: qemu-io compares the first and the last one with our bytes.
        ByteBuffer expected = pattern(CLUSTER, seed);
        for (long off : new long[] {0, length - CLUSTER}) {
            Qemu.Result r = Qemu.io("-f", "qed", "-r", "-c", "read -v " + off + " 16", image.toString());
            assertThat(r.exitCode()).as("%s", r).isZero();
            StringBuilder hex = new StringBuilder();
            for (int i = 0; i < 16; i++) {
                hex.append(String.format("%02x ", expected.get(i) & 0xff));
            }
            assertThat(r.stdout()).as("cluster at %d", off).contains(hex.toString().trim());
        }
    }

    private static ByteBuffer pattern(int n, int seed) {
        ByteBuffer b = ByteBuffer.allocate(n);
        for (int i = 0; i < n; i++) {
            b.put(i, (byte) (i * 31 + seed));
        }
        return b;
    }

    private static long roundUp(long n) {
        return (n + 4095) / 4096 * 4096;
    }

    /** The bytes the file system gave the file (blocks, past the end included), as {@code stat} reports. */
    private static long allocatedBytes(Path file) throws IOException {
        String[] out = run("stat", "-c", "%b %B", file.toString()).trim().split(" ");
        return Long.parseLong(out[0]) * Long.parseLong(out[1]);
    }

    private static String run(String... command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException(String.join(" ", command) + " failed: " + out);
            }
            return out;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UncheckedIOException(new IOException("interrupted", e));
        }
    }

    private static void restore(String old) {
        if (old == null) {
            System.clearProperty(Preallocation.ENABLE_PROPERTY);
        } else {
            System.setProperty(Preallocation.ENABLE_PROPERTY, old);
        }
    }
}
