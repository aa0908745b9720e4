package io.github.qednio.internal.convert;

import io.github.qednio.ops.ConversionReport;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.InPlaceConverter;
import io.github.qednio.image.Progress;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.jimfs.Configuration;
import com.google.common.jimfs.Jimfs;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qcow2.Qcow2Image;
import io.github.qednio.testing.HostileBytes;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Hostile qcow2 files: random bytes planted in the header, its extensions and every metadata table of a valid image
 * (made by the converter, so no QEMU is needed). Opening, mapping, reading refcounts, a dry run and a conversion to
 * QED either succeed or fail with an {@link IOException}, never another exception; a data extent always lies inside
 * the file; and the conversion, when it does not refuse, leaves a QED image the engine opens and finds consistent.
 */
class Qcow2HostileImageTest {
    private static final int ROUNDS = Integer.getInteger("qed.qcow2.fuzz.rounds", 400);

    @Test
    void corruptedQcow2ImagesFailWithIoExceptionsOnly() throws IOException {
        try (FileSystem fs = Jimfs.newFileSystem(Configuration.unix())) {
            Path dir = Files.createDirectories(fs.getPath("/f"));
            Path seedImage = dir.resolve("seed.img");
            try (QedImage img = QedImage.create(seedImage, CreateOptions.ofSize(9L << 20).withClusterSize(4096)
                    .withTableSize(2))) {
                img.write(ByteBuffer.wrap(new byte[20000]).put(0, (byte) 1), 4096);
                img.writeZeroes(5L << 20, 8192);
                img.write(ByteBuffer.wrap(new byte[] {7}), (9L << 20) - 1);
            }
            InPlaceConverter.convert(seedImage, ImageFormat.QCOW2, Progress.NONE);
            byte[] valid = Files.readAllBytes(seedImage);
            Random r = new Random(0xF022L);
            int refused = 0;
            for (int round = 0; round < ROUNDS; round++) {
                // Mostly the header sector; otherwise anywhere in the metadata past the data.
                byte[] bad = HostileBytes.corrupt(valid, r, 6 * 4096);
                Path image = dir.resolve("r" + round + ".img");
                Files.write(image, bad);
                try {
                    exercise(image, bad.length);
                } catch (IOException expected) {
                    refused++;
                } catch (RuntimeException | Error e) {
                    throw new AssertionError("round " + round + ": " + e, e);
                }
                Files.delete(image);
            }
            System.out.println("Qcow2HostileImageTest: " + refused + " of " + ROUNDS + " refused");
            assertThat(refused).as("corruptions detected").isPositive();
        }
    }

    private static void exercise(Path image, long length) throws IOException {
        try (Qcow2Image q = Qcow2Image.open(image)) {
            for (MappedExtent e : q.map(0, q.size())) {
                if (e.type() == MappedExtent.Type.DATA) {
                    assertThat(e.hostOffset()).isLessThan(length);
                    q.refcount(e.hostOffset() / q.header().clusterSize());
                }
            }
            q.refcount(0);
        }
        ConversionReport plan = InPlaceConverter.dryRun(image, ImageFormat.QED);
        assertThat(plan.sizeAfter()).isGreaterThanOrEqualTo(plan.sizeBefore());
        InPlaceConverter.convert(image, ImageFormat.QED, Progress.NONE);
        try (QedImage qed = QedImage.open(image, io.github.qednio.image.OpenOptions.readOnlyDefaults())) {
            assertThat(qed.check(io.github.qednio.image.Repair.NONE).isConsistent()).isTrue();
        }
    }
}
