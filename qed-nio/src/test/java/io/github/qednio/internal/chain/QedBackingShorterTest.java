package io.github.qednio.internal.chain;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A QED backing file smaller than its overlay (the overlay was made larger, or resized): guest bytes past the
 * backing file's virtual size read as zeros, in reads that end inside it, straddle its end or start past it, and in
 * the clusters copy-on-write fills from it. QEMU reads the same chain the same way.
 */
class QedBackingShorterTest {
    private static final int BASE_SIZE = 64 * 1024 + 4096; // ends inside the overlay's second cluster
    private static final int OVER_SIZE = 1 << 20;

    @TempDir
    Path dir;

    private Path chain(byte[] baseData) throws IOException {
        Path base = dir.resolve("base.qed");
        try (QedImage b = QedImage.create(base, CreateOptions.ofSize(BASE_SIZE))) {
            b.write(ByteBuffer.wrap(baseData), 0);
        }
        Path over = dir.resolve("over.qed");
        QedImage.create(over, CreateOptions.overlay("base.qed", ImageFormat.QED).withSize(OVER_SIZE)).close();
        return over;
    }

    private static byte[] read(QedImage img, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        img.readFully(b, pos);
        return b.array();
    }

    @Test
    void bytesPastTheBackingImagesSizeReadAsZerosWhereverTheReadStarts() throws IOException {
        byte[] base = ChainFixtures.pattern(BASE_SIZE, 11);
        Path over = chain(base);
        byte[] expected = Arrays.copyOf(base, OVER_SIZE);
        try (QedImage img = QedImage.open(over, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.QED);
            assertThat(img.backingFile()).isEqualTo(dir.resolve("base.qed"));
            assertThat(img.backing().size()).isEqualTo(BASE_SIZE);
            assertThat(read(img, 4096, 8192)).as("inside").isEqualTo(Arrays.copyOfRange(expected, 4096, 12288));
            assertThat(read(img, BASE_SIZE - 1000, 3000)).as("across the backing file's end")
                    .isEqualTo(Arrays.copyOfRange(expected, BASE_SIZE - 1000, BASE_SIZE + 2000));
            assertThat(read(img, BASE_SIZE, 4096)).as("from its end").containsOnly(0);
            assertThat(read(img, BASE_SIZE + 70000, 4096)).as("past its end").containsOnly(0);
            assertThat(ChainFixtures.readAll(img)).isEqualTo(expected);
        }
        if (Qemu.crossChecks()) {
            assertThat(ChainFixtures.qemuRead(over)).isEqualTo(expected);
        }
    }

    @Test
    void copyOnWriteOfTheClusterHoldingTheBackingImagesEndCopiesItsDataThenZeros() throws IOException {
        byte[] base = ChainFixtures.pattern(BASE_SIZE, 12);
        Path over = chain(base);
        byte[] expected = Arrays.copyOf(base, OVER_SIZE);
        try (QedImage img = QedImage.open(over, OpenOptions.defaults())) {
            // One byte in the cluster [64K, 128K), whose first 4 KiB come from the backing file.
            img.write(ByteBuffer.wrap(new byte[] {0x7f}), 100_000);
            expected[100_000] = 0x7f;
            assertThat(img.allocatedBytes()).isEqualTo(64 * 1024);
            assertThat(img.map(64 * 1024, 64 * 1024)).singleElement().satisfies(e -> {
                assertThat(e.type()).isEqualTo(MappedExtent.Type.DATA);
                assertThat(e.depth()).as("in the overlay itself").isZero();
            });
            assertThat(ChainFixtures.readAll(img)).isEqualTo(expected);
        }
        if (Qemu.crossChecks()) {
            assertThat(ChainFixtures.qemuRead(over)).isEqualTo(expected);
            Qemu.assertCheckClean(over);
        }
    }
}
