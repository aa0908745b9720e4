package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Commit of data and zero runs longer than its 1 MiB copy chunk: exactly those ranges change in the base, and the
 * count returned is their length.
 */
class CommitLargeRunsTest {
    private static final int M = 1 << 20;

    @TempDir
    Path dir;

    private static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + seed + (i >> 12));
        }
        return b;
    }

    private static byte[] read(QedImage img, long pos, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        img.readFully(b, pos);
        return b.array();
    }

    private Path overlayWithLargeRuns(String base, ImageFormat format) throws IOException {
        Path ov = dir.resolve("ov.qed");
        try (QedImage img = QedImage.create(ov, CreateOptions.overlay(base, format).withSize(8L * M))) {
            img.write(ByteBuffer.wrap(pattern(3 * M + 4096, 7)), M / 2); // a data run of 3 MiB + 4 KiB
            img.writeZeroes(5L * M, 2L * M + 65536); // a zero run of 2 MiB + one cluster
        }
        return ov;
    }

    @Test
    void commitIntoARawBaseChangesExactlyTheOverlaysRuns() throws IOException {
        byte[] base = pattern(8 * M, 1);
        Files.write(dir.resolve("base.raw"), base);
        Path ov = overlayWithLargeRuns("base.raw", ImageFormat.RAW);
        byte[] expected;
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            expected = read(img, 0, 8 * M);
        }
        long written = BackingOperations.commit(ov, OpenOptions.defaults());
        // Data clusters [512 KiB, 3.5 MiB + 64 KiB) and zero clusters [5 MiB, 7 MiB + 64 KiB).
        assertThat(written).isEqualTo((3L * M + 65536) + (2L * M + 65536));
        byte[] after = Files.readAllBytes(dir.resolve("base.raw"));
        assertThat(after.length).isEqualTo(8 * M);
        assertThat(Arrays.equals(after, expected)).as("base equals what the overlay showed").isTrue();
        assertThat(Arrays.copyOfRange(after, 5 * M, 7 * M + 65536)).isEqualTo(new byte[2 * M + 65536]);
        assertThat(Arrays.copyOfRange(after, 7 * M + 65536, 8 * M))
                .isEqualTo(Arrays.copyOfRange(base, 7 * M + 65536, 8 * M));
    }

    @Test
    void commitIntoAQedBaseChangesExactlyTheOverlaysRuns() throws IOException {
        Path basePath = dir.resolve("base.qed");
        try (QedImage b = QedImage.create(basePath, CreateOptions.ofSize(8L * M))) {
            b.write(ByteBuffer.wrap(pattern(8 * M, 2)), 0);
        }
        Path ov = overlayWithLargeRuns("base.qed", ImageFormat.QED);
        byte[] expected;
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            expected = read(img, 0, 8 * M);
        }
        assertThat(BackingOperations.commit(ov, OpenOptions.defaults()))
                .isEqualTo((3L * M + 65536) + (2L * M + 65536));
        try (QedImage b = QedImage.open(basePath, OpenOptions.readOnlyDefaults())) {
            assertThat(Arrays.equals(read(b, 0, 8 * M), expected)).as("base equals what the overlay showed")
                    .isTrue();
            assertThat(b.check(Repair.NONE).isClean()).isTrue();
        }
    }

    @Test
    void commitIntoAShorterRawBaseGrowsItToTheOverlaysSize() throws IOException {
        Files.write(dir.resolve("base.raw"), pattern(4 * M, 3));
        Path ov = overlayWithLargeRuns("base.raw", ImageFormat.RAW);
        byte[] expected;
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            expected = read(img, 0, 8 * M);
        }
        BackingOperations.commit(ov, OpenOptions.defaults());
        byte[] after = Files.readAllBytes(dir.resolve("base.raw"));
        assertThat(after.length).isEqualTo(8 * M);
        assertThat(Arrays.equals(after, expected)).as("base equals what the overlay showed").isTrue();
    }
}
