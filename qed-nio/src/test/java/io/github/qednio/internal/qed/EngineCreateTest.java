package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link QedImage#create} against {@code qemu-img create -f qed}: same bytes, same refusals. */
class EngineCreateTest {
    @TempDir
    Path dir;

    static Stream<Arguments> twins() {
        return Stream.of(
                Arguments.of("default 1G", 1L << 30, 0L, 0L),
                Arguments.of("4 KiB clusters", 1L << 30, 4096L, 0L),
                Arguments.of("table_size 8", 1L << 30, 0L, 8L),
                Arguments.of("4 KiB clusters, table_size 16", 64L << 20, 4096L, 16L),
                Arguments.of("2 MiB clusters", 1L << 30, 2L << 20, 0L),
                Arguments.of("size 1234 rounds up to 1536", 1234L, 0L, 0L),
                Arguments.of("size 1 rounds up to 512", 1L, 0L, 0L),
                Arguments.of("size 0", 0L, 0L, 0L),
                Arguments.of("largest default size, 64 TiB", 64L << 40, 0L, 0L));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("twins")
    void createdFileEqualsQemuImgCreateByteForByte(String name, long size, long clusterSize, long tableSize)
            throws IOException {
        Qemu.assumeAvailable();
        Path ours = dir.resolve("ours.qed");
        Path theirs = dir.resolve("theirs.qed");
        CreateOptions o = CreateOptions.ofSize(size);
        List<String> opts = new ArrayList<>();
        if (clusterSize != 0) {
            o = o.withClusterSize(clusterSize);
            opts.add("cluster_size=" + clusterSize);
        }
        if (tableSize != 0) {
            o = o.withTableSize(tableSize);
            opts.add("table_size=" + tableSize);
        }
        QedImage.create(ours, o).close();
        List<String> args = new ArrayList<>(List.of("create", "-f", "qed"));
        if (!opts.isEmpty()) {
            args.add("-o");
            args.add(String.join(",", opts));
        }
        args.add(theirs.toString());
        args.add(Long.toString(size));
        Qemu.img(args.toArray(String[]::new)).assertSuccess();

        assertSameFile(ours, theirs);
        try (QedImage img = QedImage.open(ours, OpenOptions.readOnlyDefaults())) {
            assertThat(img.size()).isEqualTo((size + 511) / 512 * 512);
        }
        Qemu.assertCheckClean(ours);
    }

    @Test
    void createdOverlayEqualsQemuImgCreateWithRawBacking() throws IOException {
        Qemu.assumeAvailable();
        Files.write(dir.resolve("base.raw"), new byte[1 << 20]);
        Path ours = dir.resolve("ours.qed");
        Path theirs = dir.resolve("theirs.qed");
        QedImage.create(ours, CreateOptions.ofSize(4L << 20).withBackingFile("base.raw", ImageFormat.RAW)).close();
        Qemu.img("create", "-f", "qed", "-b", "base.raw", "-F", "raw", theirs.toString(), "4M").assertSuccess();

        assertSameFile(ours, theirs);
        ByteBuffer h = header(ours);
        assertThat(h.getLong(0x10)).as("features: BACKING_FILE | NO_PROBE").isEqualTo(0x5);
        assertThat(h.getInt(0x38)).as("backing_filename_offset").isEqualTo(64);
        assertThat(h.getInt(0x3C)).as("backing_filename_size").isEqualTo("base.raw".length());
        byte[] file = Files.readAllBytes(ours);
        assertThat(Arrays.copyOfRange(file, 64, 64 + 9)).as("name at offset 64, no terminator")
                .isEqualTo("base.raw\0".getBytes(StandardCharsets.US_ASCII));
        Qemu.assertCheckClean(ours);
    }

    @ParameterizedTest(name = "backing file of {0} bytes")
    @ValueSource(ints = {3 << 20, 1000100})
    void overlayWithoutSizeTakesTheBackingFileSizeRoundedUpTo512(int baseSize) throws IOException {
        Qemu.assumeAvailable();
        Files.write(dir.resolve("base.raw"), new byte[baseSize]);
        Path ours = dir.resolve("ours.qed");
        Path theirs = dir.resolve("theirs.qed");
        QedImage.create(ours, CreateOptions.overlay("base.raw", ImageFormat.RAW)).close();
        Qemu.img("create", "-f", "qed", "-b", "base.raw", "-F", "raw", theirs.toString()).assertSuccess();
        assertSameFile(ours, theirs);
    }

    static Stream<Arguments> qemuIncompatible() {
        return Stream.of(
                Arguments.of("table_size 1 (QEMU's table-offset guard, notes 14.1)", 64L << 10, 1L),
                Arguments.of("4 MiB clusters, table_size 4 (N^2*cs wraps, notes 14.2)", 4L << 20, 4L),
                Arguments.of("8 MiB clusters, table_size 2", 8L << 20, 2L),
                Arguments.of("2 MiB clusters, table_size 16", 2L << 20, 16L));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("qemuIncompatible")
    void geometriesQemuCannotOpenAreRefusedUnlessAllowed(String name, long clusterSize, long tableSize)
            throws IOException {
        Qemu.assumeAvailable();
        Path refused = dir.resolve("refused.qed");
        CreateOptions o = CreateOptions.ofSize(1L << 30).withClusterSize(clusterSize).withTableSize(tableSize);
        assertThatThrownBy(() -> QedImage.create(refused, o))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("QEMU")
                .hasMessageContaining("withAllowQemuIncompatible");
        assertThat(refused).doesNotExist();

        Path allowed = dir.resolve("allowed.qed");
        try (QedImage img = QedImage.create(allowed, o.withAllowQemuIncompatible(true))) {
            img.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 5);
        }
        try (QedImage img = QedImage.open(allowed, OpenOptions.readOnlyDefaults())) {
            ByteBuffer b = ByteBuffer.allocate(3);
            img.readFully(b, 5);
            assertThat(b.array()).containsExactly(1, 2, 3);
        }
        // The refusal is justified: QEMU itself cannot open this image.
        Qemu.Result info = Qemu.img("info", "-f", "qed", allowed.toString());
        assertThat(info.exitCode()).as("qemu-img info %s: %s", allowed, info.stdout()).isNotZero();
    }

    static Stream<Arguments> badOptions() {
        return Stream.of(
                Arguments.of("clusterSize", (UnaryOperator<CreateOptions>) o -> o.withClusterSize(3000)),
                Arguments.of("clusterSize", (UnaryOperator<CreateOptions>) o -> o.withClusterSize(2048)),
                Arguments.of("clusterSize", (UnaryOperator<CreateOptions>) o -> o.withClusterSize(128L << 20)),
                Arguments.of("clusterSize", (UnaryOperator<CreateOptions>) o -> o.withClusterSize(-65536)),
                Arguments.of("tableSize", (UnaryOperator<CreateOptions>) o -> o.withTableSize(3)),
                Arguments.of("tableSize", (UnaryOperator<CreateOptions>) o -> o.withTableSize(0)),
                Arguments.of("tableSize", (UnaryOperator<CreateOptions>) o -> o.withTableSize(32)),
                Arguments.of("size", (UnaryOperator<CreateOptions>) o -> o.withSize((64L << 40) + 512)),
                Arguments.of("size", (UnaryOperator<CreateOptions>) o -> o.withSize(Long.MAX_VALUE)),
                Arguments.of("size", (UnaryOperator<CreateOptions>) o -> o.withSize(-1)),
                Arguments.of("backing", (UnaryOperator<CreateOptions>) o -> o.withBackingFile("", ImageFormat.RAW)),
                Arguments.of("backingFile", (UnaryOperator<CreateOptions>) o ->
                        o.withBackingFile("x".repeat(4096), ImageFormat.RAW)));
    }

    @ParameterizedTest(name = "{0} #{index}")
    @MethodSource("badOptions")
    void badOptionsGiveIllegalArgumentExceptionNamingTheOption(String option, UnaryOperator<CreateOptions> bad) {
        Path file = dir.resolve("bad.qed");
        assertThatThrownBy(() -> QedImage.create(file, bad.apply(CreateOptions.ofSize(1L << 20))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(option);
        assertThat(file).doesNotExist();
    }

    @Test
    void sizesQemuRefusesAreRefusedToo() {
        Qemu.assumeAvailable();
        // One step above the default maximum (64 TiB): qemu-img refuses, so must we.
        Qemu.Result r = Qemu.img("create", "-f", "qed", dir.resolve("q.qed").toString(),
                Long.toString((64L << 40) + 512));
        assertThat(r.exitCode()).isNotZero();
        assertThatThrownBy(() -> QedImage.create(dir.resolve("e.qed"), CreateOptions.ofSize((64L << 40) + 512)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("size");
    }

    @Test
    void existingFileIsNeverOverwritten() throws IOException {
        Path file = dir.resolve("exists.qed");
        Files.write(file, new byte[] {42});
        assertThatThrownBy(() -> QedImage.create(file, CreateOptions.ofSize(1L << 20)))
                .isInstanceOf(FileAlreadyExistsException.class);
        assertThat(Files.readAllBytes(file)).containsExactly(42);
    }

    private static void assertSameFile(Path ours, Path theirs) throws IOException {
        assertThat(Files.size(ours)).as("file size").isEqualTo(Files.size(theirs));
        long mismatch = Files.mismatch(ours, theirs);
        assertThat(mismatch).as("first differing byte of %s and %s", ours, theirs).isEqualTo(-1L);
    }

    private static ByteBuffer header(Path file) throws IOException {
        byte[] all = new byte[64];
        try (var in = Files.newInputStream(file)) {
            assertThat(in.readNBytes(all, 0, 64)).isEqualTo(64);
        }
        return ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
    }
}
