package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.chain.BackingChain;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Backing names given to rebase: the limits, the empty name, and what removing the backing file returns. */
class BackingOperationsNamesTest {
    @TempDir
    Path dir;

    private Path overlayOverRaw() throws IOException {
        Files.write(dir.resolve("base.raw"), new byte[] {5, 6, 7, 8});
        Path ov = dir.resolve("ov.qed");
        QedImage.create(ov, CreateOptions.overlay("base.raw", ImageFormat.RAW).withSize(65536)).close();
        return ov;
    }

    @Test
    void aNameOfExactlyTheMaximumLengthIsStoredAndOneByteMoreIsRefused() throws IOException {
        Path ov = overlayOverRaw();
        String longest = "n".repeat(4095);
        BackingOperations.rebaseUnsafe(ov, longest, ImageFormat.RAW);
        try (io.github.qednio.internal.qed.QedEngine img = BackingChain.openDetached(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(img.header().backingFilenameSize()).isEqualTo(4095);
        }
        byte[] before = Files.readAllBytes(ov);
        assertThatThrownBy(() -> BackingOperations.rebaseUnsafe(ov, longest + "n", ImageFormat.RAW))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("too long");
        assertThat(Files.readAllBytes(ov)).isEqualTo(before);
    }

    @Test
    void aSafeRebaseOntoAnEmptyNameIsRefusedBeforeAnythingIsOpened() throws IOException {
        Path ov = overlayOverRaw();
        byte[] before = Files.readAllBytes(ov);
        assertThatThrownBy(() -> BackingOperations.rebase(ov, "", ImageFormat.RAW, OpenOptions.defaults()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty");
        assertThat(Files.readAllBytes(ov)).isEqualTo(before);
    }

    @Test
    void removingTheBackingFileReturnsTheBytesCopiedFromIt() throws IOException {
        Path ov = overlayOverRaw();
        // Only the first cluster differs from zeros (the raw base is 4 bytes long).
        assertThat(BackingOperations.removeBackingFile(ov, OpenOptions.defaults())).isEqualTo(65536);
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFile()).isNull();
            ByteBuffer b = ByteBuffer.allocate(4);
            img.readFully(b, 0);
            assertThat(b.array()).containsExactly(5, 6, 7, 8);
        }
    }
}
