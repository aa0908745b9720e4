package io.github.qednio.engine;

import static io.github.qednio.engine.ChainFixtures.pattern;
import static io.github.qednio.engine.ChainFixtures.readAll;
import static io.github.qednio.engine.ChainFixtures.writeFile;
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

    private Path overlay(String name, String backing, BackingFormat format) throws IOException {
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
        Path top = overlay("top.qed", "looks-qed.raw", BackingFormat.RAW);
        try (QedImage img = QedImage.open(top, OpenOptions.readOnlyDefaults().withProbeBacking(false))) {
            assertThat(img.backingFormat()).isEqualTo(BackingFormat.RAW);
            assertThat(img.backingFile()).isEqualTo(tmp.resolve("looks-qed.raw"));
            byte[] seen = readAll(img);
            assertThat(java.util.Arrays.copyOf(seen, bytes.length)).isEqualTo(bytes);
        }
    }

    @Test
    void aHeaderOnlyOpenNamesTheBackingFileAndItsRecordedFormatEvenWhenItIsMissing() throws IOException {
        Path raw = overlay("raw.qed", "missing.raw", BackingFormat.RAW);
        try (QedImage img = BackingChain.openDetached(raw, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFile()).isEqualTo(tmp.resolve("missing.raw"));
            assertThat(img.backingFormat()).isEqualTo(BackingFormat.RAW);
            // Unallocated clusters come from the backing file, which was not opened: a clear error, not zeros.
            assertThatThrownBy(() -> img.readFully(ByteBuffer.allocate(512), 0)).isInstanceOf(IOException.class)
                    .hasMessageContaining("missing.raw").hasMessageContaining("was not opened");
        }
        Path probed = overlay("probed.qed", "/nowhere/missing.img", null);
        try (QedImage img = BackingChain.openDetached(probed, OpenOptions.readOnlyDefaults())) {
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
                CreateOptions.overlay("base.qed", BackingFormat.QED))) {
            assertThat(img.size()).isEqualTo(3 * M);
        }
        try (QedImage img = QedImage.create(tmp.resolve("r.qed"), CreateOptions.overlay("base.raw", null))) {
            assertThat(img.size()).isEqualTo(M + 512);
        }
        assertThatThrownBy(() -> QedImage.create(tmp.resolve("m.qed"), CreateOptions.overlay("none.raw", null)))
                .isInstanceOf(java.nio.file.NoSuchFileException.class).hasMessageContaining("none.raw");
        assertThat(tmp.resolve("m.qed")).doesNotExist();
    }
}
