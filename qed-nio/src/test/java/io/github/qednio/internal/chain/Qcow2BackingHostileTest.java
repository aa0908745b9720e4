package io.github.qednio.internal.chain;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.Progress;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qcow2.Qcow2Image;
import static io.github.qednio.internal.chain.ChainFixtures.pattern;
import static io.github.qednio.internal.chain.ChainFixtures.readAll;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.jimfs.Configuration;
import com.google.common.jimfs.Jimfs;
import io.github.qednio.ops.InPlaceConverter;
import io.github.qednio.testing.HostileBytes;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;

/**
 * Notes §9.5 for qcow2 backing files (issue 13): a qcow2 base is now parsed, so a hostile one must only ever give an
 * {@link IOException} through the overlay above it (open, read, map), never another exception, an
 * {@link OutOfMemoryError} or a read outside the file. The seed is a valid qcow2 image (made by the converter, so
 * no QEMU is needed) with one cluster rewritten as a raw-deflate compressed cluster at an unaligned offset, as QEMU
 * stores them.
 */
class Qcow2BackingHostileTest {
    private static final int CS = 4096;
    private static final long SIZE = 9L << 20;
    private static final int ROUNDS = Integer.getInteger("qed.qcow2.fuzz.rounds", 400);

    @Test
    void aHandMadeCompressedClusterReadsBackAndCorruptedBasesFailWithIoExceptionsOnly() throws IOException {
        try (FileSystem fs = Jimfs.newFileSystem(Configuration.unix())) {
            Path dir = Files.createDirectories(fs.getPath("/f"));
            Path base = dir.resolve("base.qcow2");
            byte[] data = pattern(3 * CS, 5);
            try (QedImage img = QedImage.create(base, CreateOptions.ofSize(SIZE).withClusterSize(CS)
                    .withTableSize(2))) {
                img.write(ByteBuffer.wrap(data), CS);
                img.writeZeroes(5L << 20, 8192);
                img.write(ByteBuffer.wrap(new byte[] {7}), SIZE - 1);
            }
            InPlaceConverter.convert(base, ImageFormat.QCOW2, Progress.NONE);
            compressCluster(base, 2);
            Path ov = dir.resolve("ov.qed");
            QedImage.create(ov, CreateOptions.overlay("base.qcow2", ImageFormat.QCOW2)).close();
            byte[] expected = new byte[(int) SIZE];
            System.arraycopy(data, 0, expected, CS, data.length);
            expected[(int) SIZE - 1] = 7;
            try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
                assertThat(readAll(img)).as("the compressed cluster inflates to its data").isEqualTo(expected);
                assertThat(img.map(2 * CS, CS)).singleElement().satisfies(e -> {
                    assertThat(e.type()).isEqualTo(MappedExtent.Type.DATA);
                    assertThat(e.hostOffset()).as("compressed: no plain host offset").isEqualTo(-1);
                    assertThat(e.depth()).isEqualTo(1);
                });
            }

            byte[] valid = Files.readAllBytes(base);
            Random r = new Random(0x9C02L);
            int refused = 0;
            for (int round = 0; round < ROUNDS; round++) {
                // Mostly the header sector; otherwise the tables and the compressed cluster at the end.
                byte[] bad = HostileBytes.corrupt(valid, r, 6 * CS);
                Files.write(base, bad);
                try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
                    readAll(img);
                    for (MappedExtent e : img.map(0, img.size())) {
                        if (e.type() == MappedExtent.Type.DATA) {
                            assertThat(e.hostOffset()).isLessThan(bad.length);
                        }
                    }
                } catch (IOException expectedFailure) {
                    refused++;
                } catch (RuntimeException | Error e) {
                    throw new AssertionError("round " + round + ": " + e, e);
                }
            }
            System.out.println("Qcow2BackingHostileTest: " + refused + " of " + ROUNDS + " refused");
            assertThat(refused).as("corruptions detected").isPositive();
        }
    }

    /**
     * Rewrites guest cluster {@code cluster} (its L2 table must be allocated) as a compressed cluster appended at
     * an offset that is not sector-aligned, with QEMU's descriptor: offset in the low {@code 62 - (bits - 8)}
     * bits, the number of 512-byte sectors after the first above it.
     */
    private static void compressCluster(Path image, int cluster) throws IOException {
        long l2;
        byte[] plain = new byte[CS];
        try (Qcow2Image q = Qcow2Image.open(image)) {
            l2 = q.l1Table()[0] & 0x00ff_ffff_ffff_fe00L;
        }
        byte[] file = Files.readAllBytes(image);
        long entry = ByteBuffer.wrap(file).getLong((int) l2 + 8 * cluster);
        System.arraycopy(file, (int) (entry & 0x00ff_ffff_ffff_fe00L), plain, 0, CS);
        Deflater d = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
        d.setInput(plain);
        d.finish();
        byte[] out = new byte[2 * CS];
        int n = d.deflate(out);
        d.end();
        long at = file.length + 100;
        long sectors = (at % 512 + n + 511) / 512 - 1;
        int shift = 62 - (12 - 8);
        byte[] grown = Arrays.copyOf(file, (int) at + n);
        System.arraycopy(out, 0, grown, (int) at, n);
        ByteBuffer.wrap(grown).putLong((int) l2 + 8 * cluster, Qcow2Image.COMPRESSED | (sectors << shift) | at);
        Files.write(image, grown);
    }
}
