package io.github.qednio.internal.qed;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Writes that do not fit in the virtual disk fail with a clear IOException and change no byte of the file. */
class EngineWriteBoundsTest {
    /** Not a multiple of the cluster size, so the last cluster is partial. */
    private static final long SIZE = (4L << 20) + 1536;

    @TempDir
    Path dir;

    interface BadWrite {
        void apply(QedImage img) throws IOException;
    }

    static Stream<Arguments> badWrites() {
        return Stream.of(
                Arguments.of("write crossing the end", SIZE - 10, (BadWrite) img -> img.write(buf(20), SIZE - 10)),
                Arguments.of("write at the end", SIZE, (BadWrite) img -> img.write(buf(1), SIZE)),
                Arguments.of("write one cluster past the end", SIZE + 65536,
                        (BadWrite) img -> img.write(buf(512), SIZE + 65536)),
                Arguments.of("write at Long.MAX_VALUE", Long.MAX_VALUE,
                        (BadWrite) img -> img.write(buf(2), Long.MAX_VALUE)),
                Arguments.of("write at a negative offset", -1L, (BadWrite) img -> img.write(buf(512), -1)),
                Arguments.of("write at Long.MIN_VALUE", Long.MIN_VALUE,
                        (BadWrite) img -> img.write(buf(4096), Long.MIN_VALUE)),
                Arguments.of("zero write crossing the end", SIZE - 512,
                        (BadWrite) img -> img.writeZeroes(SIZE - 512, 1024)),
                Arguments.of("zero write of whole clusters past the end", SIZE + 65536,
                        (BadWrite) img -> img.writeZeroes(SIZE + 65536, 131072)),
                Arguments.of("zero write at a negative offset", -65536L,
                        (BadWrite) img -> img.writeZeroes(-65536, 131072)),
                Arguments.of("zero write whose end overflows", SIZE - 1,
                        (BadWrite) img -> img.writeZeroes(SIZE - 1, Long.MAX_VALUE)),
                Arguments.of("zero write of negative length", 0L, (BadWrite) img -> img.writeZeroes(0, -1)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badWrites")
    void writeOutsideTheDiskFailsClearlyAndChangesNothing(String name, long offset, BadWrite bad) throws IOException {
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(SIZE))) {
            img.write(buf(70000), SIZE - 70000);
        }
        byte[] before = Files.readAllBytes(file);
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            assertThatThrownBy(() -> bad.apply(img))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining(file.toString())
                    .hasMessageContaining(Long.toString(offset))
                    .hasMessageContaining(Long.toString(SIZE));
            assertThat(img.needsCheck()).as("a refused write allocates nothing").isFalse();
            assertThat(Files.readAllBytes(file)).as("file while still open").isEqualTo(before);
        }
        byte[] after = Files.readAllBytes(file);
        assertThat(after.length).isEqualTo(before.length);
        assertThat(Arrays.mismatch(before, after)).as("first changed byte").isEqualTo(-1);
    }

    @Test
    void writesEndingExactlyAtTheEndSucceedLikeQemu() throws IOException {
        Qemu.assumeAvailable();
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(SIZE))) {
            assertThat(img.write(buf(0), SIZE)).as("an empty write at the end").isZero();
            assertThat(img.write(buf(1536), SIZE - 1536)).isEqualTo(1536);
            img.writeZeroes(SIZE - 100, 100);
            img.writeZeroes(SIZE, 0);
        }
        Path raw = dir.resolve("a.raw");
        byte[] expected = new byte[(int) SIZE];
        Arrays.fill(expected, (int) SIZE - 1536, (int) SIZE - 100, (byte) 0x3c);
        Files.write(raw, expected);
        Qemu.assertCheckClean(file);
        Qemu.assertIdentical(file, raw);
    }

    @Test
    void qemuRefusesTheSameWritesPastTheEnd() throws IOException {
        Qemu.assumeAvailable();
        Path file = dir.resolve("q.qed");
        Qemu.img("create", "-f", "qed", file.toString(), Long.toString(SIZE)).assertSuccess();
        byte[] before = Files.readAllBytes(file);
        assertThat(Qemu.io("-f", "qed", "-c", "write " + (SIZE - 10) + " 20", file.toString()).stdout())
                .contains("failed");
        assertThat(Qemu.io("-f", "qed", "-c", "write -z " + SIZE + " 512", file.toString()).stdout())
                .contains("failed");
        assertThat(Files.readAllBytes(file)).isEqualTo(before);
    }

    private static ByteBuffer buf(int n) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) 0x3c);
        return ByteBuffer.wrap(b);
    }
}
