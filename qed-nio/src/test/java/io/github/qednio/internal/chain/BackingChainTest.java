package io.github.qednio.internal.chain;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.storage.LockSafeFiles;
import io.github.qednio.ops.BackingOperations;
import static io.github.qednio.internal.chain.ChainFixtures.pattern;
import static io.github.qednio.internal.chain.ChainFixtures.readAll;
import static io.github.qednio.internal.chain.ChainFixtures.writeFile;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How {@link BackingChain} opens (or, for header-only operations, does not open) the files below an image. */
class BackingChainTest {
    private static final int M = 1024 * 1024;

    @TempDir
    Path tmp;

    private Path overlay(String name, String backing, ImageFormat format) throws IOException {
        Path image = tmp.resolve(name);
        QedImage.create(image, CreateOptions.ofSize(M).withClusterSize(4096)).close();
        BackingOperations.rebaseUnsafe(image, backing, format);
        return image;
    }

    @Test
    void aRecordedRawFormatOpensWithProbingOffWithoutLookingAtTheFile() throws IOException {
        // The base starts with a QED header: probed, it would be read as QED; recorded raw, its bytes are the data.
        QedImage.create(tmp.resolve("looks-qed.raw"), CreateOptions.ofSize(M)).close();
        byte[] bytes = Files.readAllBytes(tmp.resolve("looks-qed.raw"));
        Path top = overlay("top.qed", "looks-qed.raw", ImageFormat.RAW);
        try (QedImage img = QedImage.open(top, OpenOptions.readOnlyDefaults().withProbeBacking(false))) {
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.RAW);
            assertThat(img.backingFile()).isEqualTo(tmp.resolve("looks-qed.raw"));
            byte[] seen = readAll(img);
            assertThat(java.util.Arrays.copyOf(seen, bytes.length)).isEqualTo(bytes);
        }
    }

    @Test
    void aHeaderOnlyOpenNamesTheBackingFileAndItsRecordedFormatEvenWhenItIsMissing() throws IOException {
        Path raw = overlay("raw.qed", "missing.raw", ImageFormat.RAW);
        try (io.github.qednio.internal.qed.QedEngine img = BackingChain.openDetached(raw, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFile()).isEqualTo(tmp.resolve("missing.raw"));
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.RAW);
            // Unallocated clusters come from the backing file, which was not opened: a clear error, not zeros.
            assertThatThrownBy(() -> img.readFully(ByteBuffer.allocate(512), 0)).isInstanceOf(IOException.class)
                    .hasMessageContaining("missing.raw").hasMessageContaining("was not opened");
        }
        Path probed = overlay("probed.qed", "/nowhere/missing.img", null);
        try (io.github.qednio.internal.qed.QedEngine img = BackingChain.openDetached(probed, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFile()).isEqualTo(Path.of("/nowhere/missing.img"));
            assertThat(img.backingFormat()).as("unrecorded and not probed").isNull();
        }
        // A normal open of the same image is refused: the file is missing.
        assertThatThrownBy(() -> QedImage.open(probed, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(java.nio.file.NoSuchFileException.class).hasMessageContaining("missing.img");
    }

    @Test
    void anOverlayCreatedWithoutASizeTakesTheVirtualSizeOfAQedBaseAndTheLengthOfARawOne() throws IOException {
        QedImage.create(tmp.resolve("base.qed"), CreateOptions.ofSize(3 * M)).close();
        writeFile(tmp.resolve("base.raw"), pattern(M + 512, 1));
        try (QedImage img = QedImage.create(tmp.resolve("q.qed"), CreateOptions.overlay("base.qed", null))) {
            assertThat(img.size()).isEqualTo(3 * M);
        }
        try (QedImage img = QedImage.create(tmp.resolve("q2.qed"),
                CreateOptions.overlay("base.qed", ImageFormat.QED))) {
            assertThat(img.size()).isEqualTo(3 * M);
        }
        try (QedImage img = QedImage.create(tmp.resolve("r.qed"), CreateOptions.overlay("base.raw", null))) {
            assertThat(img.size()).isEqualTo(M + 512);
        }
        assertThatThrownBy(() -> QedImage.create(tmp.resolve("m.qed"), CreateOptions.overlay("none.raw", null)))
                .isInstanceOf(java.nio.file.NoSuchFileException.class).hasMessageContaining("none.raw");
        assertThat(tmp.resolve("m.qed")).doesNotExist();
    }

    @Test
    void anOverlayOverAFileRecordedAsRawTakesItsLengthEvenIfItLooksLikeQed() throws IOException {
        // A raw disk whose guest wrote a QED header at its start: recorded raw, it is never probed.
        QedImage.create(tmp.resolve("disk.raw"), CreateOptions.ofSize(64L * M)).close();
        long length = Files.size(tmp.resolve("disk.raw"));
        assertThat(length).isLessThan(64L * M);
        try (QedImage img = QedImage.create(tmp.resolve("o.qed"),
                CreateOptions.overlay("disk.raw", ImageFormat.RAW))) {
            assertThat(img.size()).isEqualTo((length + 511) / 512 * 512);
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.RAW);
        }
    }

    @Test
    void isQedIsTrueOnlyForQedImages() throws IOException {
        QedImage.create(tmp.resolve("a.qed"), CreateOptions.ofSize(M)).close();
        writeFile(tmp.resolve("b.raw"), pattern(4096, 2));
        assertThat(LockSafeFiles.isQed(tmp.resolve("a.qed"))).isTrue();
        assertThat(LockSafeFiles.isQed(tmp.resolve("b.raw"))).isFalse();
        assertThat(LockSafeFiles.probeFormat(tmp.resolve("b.raw"))).isEqualTo(LockSafeFiles.RAW);
    }

    @Test
    void readsPastTheEndOfAShorterQedBackingFileAreZerosWhateverTheBufferHeld() throws IOException {
        try (QedImage base = QedImage.create(tmp.resolve("base.qed"), CreateOptions.ofSize(M)
                .withClusterSize(4096))) {
            base.write(ByteBuffer.wrap(pattern(M, 3)), 0);
        }
        Path top = tmp.resolve("top.qed");
        QedImage.create(top, CreateOptions.ofSize(2 * M).withClusterSize(4096)).close();
        BackingOperations.rebaseUnsafe(top, "base.qed", null);
        try (QedImage img = QedImage.open(top, OpenOptions.readOnlyDefaults())) {
            for (ByteBuffer b : new ByteBuffer[] {ByteBuffer.allocate(8192), ByteBuffer.allocateDirect(8192)}) {
                while (b.hasRemaining()) {
                    b.put((byte) 0xee);
                }
                b.clear();
                // The first half from the base, the second past its end.
                img.readFully(b, M - 4096);
                b.flip();
                byte[] got = new byte[8192];
                b.get(got);
                assertThat(java.util.Arrays.copyOf(got, 4096))
                        .isEqualTo(java.util.Arrays.copyOfRange(pattern(M, 3), M - 4096, M));
                assertThat(java.util.Arrays.copyOfRange(got, 4096, 8192)).containsOnly(0);
            }
        }
    }
}
