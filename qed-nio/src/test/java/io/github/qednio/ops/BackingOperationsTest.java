package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.chain.BackingChain;
import static io.github.qednio.internal.chain.ChainFixtures.pattern;
import static io.github.qednio.internal.chain.ChainFixtures.readAll;
import static io.github.qednio.internal.chain.ChainFixtures.writeFile;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Commit and rebase edge cases, pure Java (the QEMU comparisons are in {@link BackingOperationsInteropTest}). */
class BackingOperationsTest {
    private static final int M = 1024 * 1024;
    private static final int CS = 4096;

    @TempDir
    Path tmp;

    private Path overlayOver(String name, String base, long size) throws IOException {
        Path ov = tmp.resolve(name);
        QedImage.create(ov, CreateOptions.ofSize(size).withClusterSize(CS)
                .withBackingFile(base, ImageFormat.RAW)).close();
        return ov;
    }

    @Test
    void commitIntoARawBaseOfEqualSizeWritesOnlyTheOverlaysClustersAndCountsThem() throws IOException {
        byte[] base = pattern(M, 1);
        writeFile(tmp.resolve("base.raw"), base);
        Path ov = overlayOver("ov.qed", "base.raw", M);
        try (QedImage img = QedImage.open(ov, OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(pattern(CS, 2)), CS);
            img.writeZeroes(4L * CS, 2L * CS);
        }
        assertThat(BackingOperations.commit(ov, OpenOptions.defaults())).isEqualTo(3L * CS);
        byte[] expected = base.clone();
        System.arraycopy(pattern(CS, 2), 0, expected, CS, CS);
        Arrays.fill(expected, 4 * CS, 6 * CS, (byte) 0);
        // The last byte (under an unallocated cluster) is kept: the base is not grown or touched there.
        assertThat(Files.readAllBytes(tmp.resolve("base.raw"))).isEqualTo(expected);
    }

    @Test
    void commitGrowsAShorterRawBaseToTheOverlaysSizeEvenWhenTheEndIsUnallocated() throws IOException {
        writeFile(tmp.resolve("base.raw"), pattern(M / 2, 3));
        Path ov = overlayOver("ov.qed", "base.raw", M);
        try (QedImage img = QedImage.open(ov, OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(pattern(CS, 4)), 0);
        }
        assertThat(BackingOperations.commit(ov, OpenOptions.defaults())).isEqualTo(CS);
        assertThat(Files.size(tmp.resolve("base.raw"))).isEqualTo(M);
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(readAll(img)).isEqualTo(Files.readAllBytes(tmp.resolve("base.raw")));
        }
    }

    @Test
    void commitIsAllowedWhileUnrelatedBackingFilesAreInUse() throws IOException {
        writeFile(tmp.resolve("other.raw"), pattern(M, 5));
        writeFile(tmp.resolve("base.raw"), pattern(M, 6));
        Path busy = overlayOver("busy.qed", "other.raw", M);
        Path ov = overlayOver("ov.qed", "base.raw", M);
        try (QedImage holder = QedImage.open(busy, OpenOptions.readOnlyDefaults())) {
            assertThat(holder.backingFile()).isNotNull();
            assertThat(BackingOperations.commit(ov, OpenOptions.defaults())).isZero();
        }
    }

    @Test
    void removingTheBackingFileCountsTheBytesCopiedAndTheImageReadsTheSame() throws IOException {
        byte[] base = pattern(M, 7);
        Arrays.fill(base, 8 * CS, 10 * CS, (byte) 0); // clusters the chain provides as zeros are not copied
        writeFile(tmp.resolve("base.raw"), base);
        Path ov = overlayOver("ov.qed", "base.raw", M);
        try (QedImage img = QedImage.open(ov, OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(pattern(CS, 8)), 0);
        }
        byte[] before;
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            before = readAll(img);
        }
        assertThat(BackingOperations.removeBackingFile(ov, OpenOptions.defaults())).isEqualTo(M - 3L * CS);
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFile()).isNull();
            assertThat(readAll(img)).isEqualTo(before);
        }
    }

    @Test
    void rebaseOfAnImageEndingInAPartialClusterCopiesTheDifferingTail() throws IOException {
        long size = 64L * CS + 512; // the last cluster is partial
        writeFile(tmp.resolve("old.raw"), pattern((int) size, 9));
        writeFile(tmp.resolve("new.raw"), new byte[(int) size]);
        Path ov = overlayOver("ov.qed", "old.raw", size);
        byte[] before;
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            before = readAll(img);
        }
        assertThat(BackingOperations.rebase(ov, "new.raw", ImageFormat.RAW, OpenOptions.defaults()))
                .isEqualTo(size);
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFile()).isEqualTo(tmp.resolve("new.raw"));
            assertThat(readAll(img)).isEqualTo(before);
        }
    }

    @Test
    void backingNamesAreCheckedBeforeAnythingIsOpenedAndTheLimitIsInclusive() throws IOException {
        writeFile(tmp.resolve("base.raw"), pattern(M, 10));
        Path ov = tmp.resolve("ov.qed"); // 64 KiB clusters: room in the header for the longest name
        QedImage.create(ov, CreateOptions.ofSize(M).withBackingFile("base.raw", ImageFormat.RAW)).close();
        byte[] header = Files.readAllBytes(ov);
        assertThatThrownBy(() -> BackingOperations.rebase(ov, "", ImageFormat.RAW, OpenOptions.defaults()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty");
        String longest = "x".repeat((int) QedHeader.MAX_BACKING_FILENAME_SIZE);
        assertThatThrownBy(() -> BackingOperations.rebase(ov, longest + "y", ImageFormat.RAW,
                OpenOptions.defaults())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("too long");
        assertThat(Files.readAllBytes(ov)).isEqualTo(header);
        BackingOperations.rebaseUnsafe(ov, longest, ImageFormat.RAW);
        try (io.github.qednio.internal.qed.QedEngine img = BackingChain.openDetached(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFile().getFileName().toString()).isEqualTo(longest);
        }
    }

    @Test
    void commitIntoASmallerQedBaseGrowsItAndCountsTheBytesWritten() throws IOException {
        QedImage.create(tmp.resolve("base.qed"), CreateOptions.ofSize(M / 2).withClusterSize(CS)).close();
        Path ov = tmp.resolve("ov.qed");
        QedImage.create(ov, CreateOptions.ofSize(M).withClusterSize(CS)
                .withBackingFile("base.qed", ImageFormat.QED)).close();
        try (QedImage img = QedImage.open(ov, OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(pattern(2 * CS, 11)), M - 2L * CS);
        }
        assertThat(BackingOperations.commit(ov, OpenOptions.defaults())).isEqualTo(2L * CS);
        try (QedImage base = QedImage.open(tmp.resolve("base.qed"), OpenOptions.readOnlyDefaults())) {
            assertThat(base.size()).isEqualTo(M);
            byte[] all = readAll(base);
            assertThat(Arrays.copyOfRange(all, M - 2 * CS, M)).isEqualTo(pattern(2 * CS, 11));
        }
    }
}
