package io.github.qednio.internal.convert;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.InPlaceConverter;
import static io.github.qednio.internal.convert.QedToQcow2InteropTest.qemuIo;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.Progress;
import io.github.qednio.image.QedImage;
import io.github.qednio.testing.ConvertBaseline;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Images converted to QED in place keep the other format's layout: the L1 table at the end of the file and the
 * old metadata's clusters leaked among the data. Compacted, they are judged by QEMU against
 * {@code qemu-img convert -O qed} of the same content.
 */
class CompactConvertedImagesInteropTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        Qemu.assumeAvailable();
    }

    private static void compact(Path image) throws IOException {
        try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
            img.compact(Progress.NONE);
        }
    }

    /** A qcow2 image written by qemu-io out of guest order, over several QED L2 ranges, with a discard. */
    @ParameterizedTest(name = "{0}-byte clusters")
    @ValueSource(ints = {4096, 65536})
    void aQemuWrittenQcow2ConvertedInPlaceCompactsToWhatQemuImgConvertMakes(int cluster) throws IOException {
        Path image = dir.resolve("q.qcow2");
        Qemu.img("create", "-f", "qcow2", "-o", "cluster_size=" + cluster, image.toString(), "64M").assertSuccess();
        qemuIo(image, "qcow2", "write -P 0x44 40M 1M", "write -P 0x11 0 3M", "write -P 0x22 20M 2M",
                "write -P 0x33 1M 512k", "write -P 0x55 10M 64k", "write -z 2M 256k", "discard 20M 1M");
        Path original = Files.copy(image, dir.resolve("original.qcow2"));
        InPlaceConverter.convert(image, ImageFormat.QED, Progress.NONE);
        compact(image);
        ConvertBaseline.assertNoWorseThanConvert(image, original, "qcow2");
    }

    /** A QED image written out of order and partly discarded, converted in place to qcow2 and back. */
    @ParameterizedTest(name = "{0}-byte clusters")
    @ValueSource(ints = {4096, 65536})
    void aQedImageConvertedToQcow2AndBackInPlaceCompactsToWhatQemuImgConvertMakes(int cluster) throws IOException {
        Path image = dir.resolve("r.qed");
        Random r = new Random(cluster);
        try (QedImage img = QedImage.create(image, CreateOptions.ofSize(2048L * cluster).withClusterSize(cluster)
                .withTableSize(2))) {
            byte[] b = new byte[cluster];
            for (int k = 0; k < 150; k++) {
                r.nextBytes(b);
                img.write(ByteBuffer.wrap(b), (long) r.nextInt(2048) * cluster);
            }
            for (int k = 0; k < 30; k++) {
                img.discard((long) r.nextInt(2048) * cluster, cluster);
            }
        }
        Path original = Files.copy(image, dir.resolve("original.qed"));
        InPlaceConverter.convert(image, ImageFormat.QCOW2, Progress.NONE);
        InPlaceConverter.convert(image, ImageFormat.QED, Progress.NONE);
        compact(image);
        ConvertBaseline.assertNoWorseThanConvert(image, original, "qed");
    }
}
