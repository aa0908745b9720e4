package io.github.qednio.internal.qed;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.RecordingStorage;
import static io.github.qednio.format.QedHeader.QED_F_NEED_CHECK;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The {@code QED_F_NEED_CHECK} lifecycle (notes §10), observed the only reliable way: byte 0x10 of the file. And
 * a read-only open never changes a byte.
 */
public class EngineNeedCheckTest {
    private static final int CS = 65536;

    @TempDir
    Path dir;

    @Test
    void needCheckIsOnDiskAndFlushedBeforeTheFirstAllocatingWrite() throws IOException {
        Path file = dir.resolve("a.qed");
        List<RecordingStorage> storages = new CopyOnWriteArrayList<>();
        long firstDataOffset = 5L * CS; // header cluster + 4-cluster L1
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(8L << 20),
                OpenOptions.defaults().withStorageFactory(RecordingStorage.factory(storages)))) {
            RecordingStorage s = storages.get(0);
            assertThat(needCheckOnDisk(file)).as("after create").isFalse();
            List<Boolean> bitAtFirstDataWrite = new ArrayList<>();
            s.beforeWrite(off -> {
                if (off >= firstDataOffset && bitAtFirstDataWrite.isEmpty()) {
                    bitAtFirstDataWrite.add(needCheckOnDisk(file));
                }
            });

            img.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 1000);

            assertThat(bitAtFirstDataWrite).as("NEED_CHECK on disk when the first data write is issued")
                    .containsExactly(true);
            List<RecordingStorage.Event> ev = s.writesAndForces();
            int header = indexOf(ev, e -> e.isWrite() && e.offset() == 0);
            int firstData = indexOf(ev, e -> e.isWrite() && e.offset() >= firstDataOffset);
            int force = indexOf(ev, e -> e.isForce());
            assertThat(header).as("header write in %s", ev).isGreaterThanOrEqualTo(0);
            assertThat(force).as("a force between the header and the data in %s", ev)
                    .isGreaterThan(header).isLessThan(firstData);
            assertThat(needCheckOnDisk(file)).as("after the first allocating write").isTrue();
            assertThat(img.needsCheck()).isTrue();
        }
        assertThat(needCheckOnDisk(file)).as("after close").isFalse();
    }

    @Test
    void flushAndCloseClearNeedCheckAndOnlyAllocationSetsItAgain() throws IOException {
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(8L << 20))) {
            img.write(ByteBuffer.wrap(new byte[4096]), 0);
            assertThat(needCheckOnDisk(file)).isTrue();

            img.flush();
            assertThat(needCheckOnDisk(file)).as("after flush").isFalse();
            assertThat(img.needsCheck()).isFalse();

            img.write(ByteBuffer.wrap(new byte[] {9}), 100);
            img.writeZeroes(0, CS);
            assertThat(needCheckOnDisk(file)).as("after in-place writes and in-place zeroing").isFalse();

            img.writeZeroes(2L * CS, CS);
            assertThat(needCheckOnDisk(file)).as("after a zero write that sets an L2 entry to 1").isTrue();
            img.flush();
            img.writeZeroes(2L * CS, CS);
            assertThat(needCheckOnDisk(file)).as("after a zero write over a zero cluster (nothing changes)")
                    .isFalse();

            img.write(ByteBuffer.wrap(new byte[] {7}), 5L << 20);
            assertThat(needCheckOnDisk(file)).as("after the next allocating write").isTrue();
        }
        assertThat(needCheckOnDisk(file)).as("after close").isFalse();
        if (Qemu.crossChecks()) { // without QEMU only the cross-check is skipped
            Qemu.assertCheckClean(file);
        }
    }

    /**
     * QEMU's NEED_CHECK after a crash in the middle of a session ({@code qemu-io ... -c abort}) equals the engine's
     * on-disk bit after the same writes with the image still open.
     */
    static Stream<Arguments> crashScenarios() {
        return Stream.of(
                Arguments.of("allocating write", List.of(), List.of("write 0 4k")),
                Arguments.of("zero write on unallocated clusters", List.of(), List.of("write -z 0 128k")),
                Arguments.of("partial zero write allocates", List.of(), List.of("write -z 4k 4k")),
                Arguments.of("in-place write", List.of("write 0 64k"), List.of("write -P 0x11 4k 4k")),
                Arguments.of("zeroing an allocated cluster in place", List.of("write 0 64k"),
                        List.of("write -z 0 64k")),
                Arguments.of("zero write over zero clusters", List.of("write -z 0 64k"), List.of("write -z 0 64k")),
                Arguments.of("reads only", List.of("write 0 64k"), List.of("read 0 64k")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("crashScenarios")
    void needCheckAfterWritesMatchesQemuCrashedMidSession(String name, List<String> setup, List<String> commands)
            throws IOException, InterruptedException {
        Qemu.assumeAvailable();
        Path qemu = dir.resolve("qemu.qed");
        Path engine = dir.resolve("engine.qed");
        for (Path p : List.of(qemu, engine)) {
            Qemu.img("create", "-f", "qed", p.toString(), "8M").assertSuccess();
            if (!setup.isEmpty()) {
                List<String> args = new ArrayList<>(List.of("-f", "qed"));
                setup.forEach(c -> {
                    args.add("-c");
                    args.add(c);
                });
                args.add(p.toString());
                Qemu.io(args.toArray(String[]::new)).assertSuccess();
            }
        }
        assertThat(needCheckOnDisk(qemu)).isFalse();
        List<String> crash = new ArrayList<>(commands);
        crash.add("abort");
        runQemuIoExpectingAbort(qemu, crash);
        boolean qemuBit = needCheckOnDisk(qemu);

        try (QedImage img = QedImage.open(engine, OpenOptions.defaults())) {
            for (String c : commands) {
                if (c.startsWith("read")) {
                    img.readFully(ByteBuffer.allocate(CS), 0);
                } else {
                    EnginePlacementTest.apply(img, c);
                }
            }
            assertThat(needCheckOnDisk(engine)).as("NEED_CHECK on disk after %s (QEMU: %s)", commands, qemuBit)
                    .isEqualTo(qemuBit);
        }
    }

    /** Damage done to a clean default image (data at 0x50000 and 0xa0000, L2 at 0x60000) before opening it. */
    static Stream<Arguments> dirtyImages() {
        return Stream.of(
                Arguments.of("consistent", new long[0]),
                Arguments.of("L2 entry past the end of the file", new long[] {0x60000 + 16 * 8, 0x400000}),
                Arguments.of("misaligned L2 entry", new long[] {0x60000 + 16 * 8, 0xa0800}),
                Arguments.of("L1 entry past the end of the file", new long[] {0x10000 + 8, 0x800000}),
                Arguments.of("two L2 entries sharing a cluster (not repairable)",
                        new long[] {0x60000 + 16 * 8, 0x50000}));
    }

    /** A read-write open of an image left with NEED_CHECK set repairs and clears it exactly as QEMU does. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dirtyImages")
    void readWriteOpenOfADirtyImageRepairsLikeQemu(String name, long[] pokes) throws IOException {
        Qemu.assumeAvailable();
        Path qemu = dir.resolve("qemu.qed");
        Path engine = dir.resolve("engine.qed");
        Qemu.img("create", "-f", "qed", qemu.toString(), "4G").assertSuccess();
        Qemu.io("-f", "qed", "-c", "write -P 0x11 0 64k", "-c", "write -P 0x22 1M 64k", qemu.toString())
                .assertSuccess();
        try (FileChannel ch = FileChannel.open(qemu, StandardOpenOption.WRITE)) {
            for (int i = 0; i < pokes.length; i += 2) {
                ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, pokes[i + 1]), pokes[i]);
            }
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, QED_F_NEED_CHECK), 0x10);
        }
        Files.copy(qemu, engine);

        Qemu.io("-f", "qed", "-c", "read 0 512", qemu.toString()).assertSuccess();
        QedImage.open(engine, OpenOptions.defaults()).close();

        assertThat(needCheckOnDisk(engine)).isFalse();
        assertThat(QedLayout.read(engine)).isEqualTo(QedLayout.read(qemu));
        assertThat(Files.mismatch(engine, qemu)).as("first differing byte").isEqualTo(-1L);
    }

    @Test
    void readWriteOpenClearsUnknownAutoclearBitsLikeQemu() throws IOException {
        Qemu.assumeAvailable();
        Path qemu = dir.resolve("qemu.qed");
        Path engine = dir.resolve("engine.qed");
        Qemu.img("create", "-f", "qed", qemu.toString(), "4M").assertSuccess();
        try (FileChannel ch = FileChannel.open(qemu, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 0x8000000000000001L), 0x20);
        }
        Files.copy(qemu, engine);
        Qemu.io("-f", "qed", "-c", "read 0 512", qemu.toString()).assertSuccess();
        QedImage.open(engine, OpenOptions.defaults()).close();
        assertThat(Files.mismatch(engine, qemu)).as("first differing byte").isEqualTo(-1L);
        ByteBuffer h = ByteBuffer.wrap(Files.readAllBytes(engine), 0x20, 8).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(h.getLong()).as("autoclear_features").isZero();
    }

    @Test
    void readOnlyOpenNeverChangesAByteEvenWithNeedCheckAndUnknownAutoclearBits() throws Exception {
        Qemu.assumeAvailable();
        Path file = dir.resolve("dirty.qed");
        Qemu.img("create", "-f", "qed", "-o", "cluster_size=4096", file.toString(), "16M").assertSuccess();
        runQemuIoExpectingAbort(file, List.of("write -P 0x5a 1000 70000", "write -z 1M 64k", "abort"));
        assertThat(needCheckOnDisk(file)).as("qemu-io crashed with NEED_CHECK set").isTrue();
        // An unknown autoclear bit: a read-write open would clear it, a read-only one must not.
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40), 0x20);
        }
        assertReadOnlySessionLeavesFileUntouched(file);

        Path clean = dir.resolve("clean.qed");
        Qemu.img("create", "-f", "qed", clean.toString(), "4M").assertSuccess();
        Qemu.io("-f", "qed", "-c", "write -P 0x11 0 100k", clean.toString()).assertSuccess();
        assertReadOnlySessionLeavesFileUntouched(clean);
    }

    private void assertReadOnlySessionLeavesFileUntouched(Path file) throws IOException {
        byte[] before = Files.readAllBytes(file);
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            ByteBuffer all = ByteBuffer.allocate((int) img.size());
            img.readFully(all, 0);
            for (long p = 0; p < img.size(); p = img.extentAt(p).end()) {
                // every L2 table is read; none may be written back
            }
            img.check(Repair.NONE);
            img.flush();
            assertThatThrownBy(() -> img.write(ByteBuffer.wrap(new byte[1]), 0))
                    .isInstanceOf(AccessDeniedException.class);
            assertThatThrownBy(() -> img.writeZeroes(0, 4096)).isInstanceOf(AccessDeniedException.class);
            assertThatThrownBy(() -> img.check(Repair.ERRORS)).isInstanceOf(AccessDeniedException.class);
            assertThatThrownBy(() -> img.resize(img.size() + 512)).isInstanceOf(AccessDeniedException.class);
        }
        byte[] after = Files.readAllBytes(file);
        assertThat(after.length).as("file length").isEqualTo(before.length);
        assertThat(Arrays.mismatch(before, after)).as("first changed byte of %s", file).isEqualTo(-1);
    }

    /** Runs qemu-io ending in {@code abort} (a simulated crash) without leaving a core file. */
    private void runQemuIoExpectingAbort(Path image, List<String> commands) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("sh", "-c", "ulimit -c 0; exec qemu-io \"$@\"", "qemu-io",
                "-f", "qed", "-t", "writeback"));
        commands.forEach(c -> {
            cmd.add("-c");
            cmd.add(c);
        });
        cmd.add(image.toString());
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("%s finished", cmd).isTrue();
        assertThat(p.exitValue()).as("%s aborted (SIGABRT)", cmd).isEqualTo(128 + 6);
    }

    public static boolean needCheckOnDisk(Path file) {
        try {
            return (QedLayout.featuresOnDisk(file) & QED_F_NEED_CHECK) != 0;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int indexOf(List<RecordingStorage.Event> ev, Predicate<RecordingStorage.Event> p) {
        for (int i = 0; i < ev.size(); i++) {
            if (p.test(ev.get(i))) {
                return i;
            }
        }
        return -1;
    }
}
