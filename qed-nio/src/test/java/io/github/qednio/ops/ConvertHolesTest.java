package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.CacheMode;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.testing.Java22;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Converting a sparse raw file: on Java 22+ the source's holes are found ({@code lseek(SEEK_DATA)}) and skipped
 * without being read; the image written is byte for byte the one the Java 17 path (every byte read and scanned)
 * writes, and holds the source's content.
 */
class ConvertHolesTest {
    private static final int KIB = 1024;
    private static final int MIB = 1 << 20;
    /** The system property that turns hole detection off (engine's HoleProbe.ENABLE_PROPERTY). */
    private static final String HOLES = "qednio.seekHoles";
    @TempDir
    Path dir;

    /**
     * 24 MiB: holes of several MiB, data written as zeros (not a hole: found by the zero scan), a 4 KiB hole inside
     * a cluster of data, data ending mid-cluster at a hole, and data up to the end.
     */
    private Path source() throws IOException {
        Path f = dir.resolve("src.raw");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(24L * MIB);
            put(raf, 3L * MIB, 2 * MIB, (byte) 1);
            put(raf, 5L * MIB, MIB, (byte) 0); // zeros stored as data
            put(raf, 6L * MIB, 256 * KIB, (byte) 2);
            put(raf, 6L * MIB + 260 * KIB, 200 * KIB, (byte) 3); // a 4 KiB hole before it, mid-cluster
            put(raf, 10L * MIB + 12 * KIB, 8 * KIB, (byte) 4); // a lone 8 KiB of data inside a cluster
            put(raf, 23L * MIB, MIB, (byte) 5);
        }
        return f;
    }

    private static void put(RandomAccessFile raf, long at, int length, byte value) throws IOException {
        byte[] b = new byte[length];
        Arrays.fill(b, value);
        raf.seek(at);
        raf.write(b);
    }

    @Test
    void aRawSourceReportsItsHolesAsZeroRunsOnJava22() throws IOException {
        Java22.assume("hole detection");
        Path src = source();
        try (GuestImage in = GuestImage.open(src, ImageFormat.RAW, false)) {
            in.findHoles(64 * KIB);
            MappedExtent first = in.extentAt(0);
            assertThat(first.type()).isEqualTo(MappedExtent.Type.ZERO);
            assertThat(first.end()).isEqualTo(3L * MIB);
            // The 4 KiB hole at 6 MiB + 256 KiB holds no whole 64 KiB cluster: it stays in the data run, which ends
            // at the first whole cluster of the next hole.
            MappedExtent data = in.extentAt(3L * MIB);
            assertThat(data.type()).isEqualTo(MappedExtent.Type.DATA);
            assertThat(data.end()).isEqualTo(6L * MIB + 512 * KIB);
            MappedExtent hole = in.extentAt(6L * MIB + 512 * KIB);
            assertThat(hole.type()).isEqualTo(MappedExtent.Type.ZERO);
            assertThat(hole.end()).isEqualTo(10L * MIB);
            // The lone 8 KiB at 10 MiB + 12 KiB: its whole cluster is data, the holes around it are not read.
            MappedExtent lone = in.extentAt(10L * MIB);
            assertThat(lone.type()).isEqualTo(MappedExtent.Type.DATA);
            assertThat(lone.end()).isEqualTo(10L * MIB + 64 * KIB);
            assertThat(in.extentAt(10L * MIB + 64 * KIB).end()).isEqualTo(23L * MIB);
            assertThat(in.extentAt(23L * MIB).end()).isEqualTo(24L * MIB);
        }
        // Without asking for holes (compare does not), a raw file stays one data run.
        try (GuestImage in = GuestImage.open(src, ImageFormat.RAW, false)) {
            assertThat(in.extentAt(0).type()).isEqualTo(MappedExtent.Type.DATA);
            assertThat(in.extentAt(0).end()).isEqualTo(24L * MIB);
        }
    }

    @Test
    void aQedTargetIsTheSameWithAndWithoutHoleDetection() throws IOException {
        assertSameWithAndWithoutHoles(ImageFormat.QED, o -> o);
    }

    @Test
    void aSyncedQedTargetWithMinimumZeroRunZeroIsTheSameWithAndWithoutHoleDetection() throws IOException {
        // -S 0: holes are written as data too, as qemu-img does.
        assertSameWithAndWithoutHoles(ImageFormat.QED, o -> o.withMinZeroRun(0).withCacheMode(CacheMode.WRITEBACK));
    }

    @Test
    void aRawTargetIsTheSameWithAndWithoutHoleDetection() throws IOException {
        assertSameWithAndWithoutHoles(ImageFormat.RAW, o -> o);
    }

    @Test
    void measureGivesTheSameSizesWithAndWithoutHoleDetection() throws IOException {
        Path src = source();
        ImageMeasure.Measurement with = ImageMeasure.of(src, ImageFormat.RAW, ImageFormat.QED, CreateOptions.ofSize(0));
        ImageMeasure.Measurement without = withoutHoles(
                () -> ImageMeasure.of(src, ImageFormat.RAW, ImageFormat.QED, CreateOptions.ofSize(0)));
        assertThat(with).isEqualTo(without);
    }

    private void assertSameWithAndWithoutHoles(ImageFormat target, UnaryOperator<ConvertOptions> how)
            throws IOException {
        Path src = source();
        Path with = dir.resolve("with." + target.name().toLowerCase());
        Path without = dir.resolve("without." + target.name().toLowerCase());
        ConvertOptions options = how.apply(ConvertOptions.to(target).withSourceFormat(ImageFormat.RAW));
        ImageConverter.Stats a = ImageConverter.convert(src, with, options);
        ImageConverter.Stats b = withoutHoles(() -> ImageConverter.convert(src, without, options));
        assertThat(a).isEqualTo(b);
        assertThat(Files.size(with)).isEqualTo(Files.size(without));
        assertThat(Files.mismatch(with, without)).as("converted with and without hole detection").isEqualTo(-1);
        if (Qemu.crossChecks()) {
            String fmt = target.name().toLowerCase();
            Qemu.Result r = Qemu.img("compare", "-f", fmt, "-F", "raw", with.toString(), src.toString());
            assertThat(r.exitCode()).as("qemu-img compare: %s", r).isZero();
            if (target == ImageFormat.QED) {
                Qemu.assertCheckClean(with);
            }
        }
    }

    @FunctionalInterface
    private interface Io<T> {
        T run() throws IOException;
    }

    private static <T> T withoutHoles(Io<T> io) throws IOException {
        String old = System.setProperty(HOLES, "false");
        try {
            return io.run();
        } finally {
            if (old == null) {
                System.clearProperty(HOLES);
            } else {
                System.setProperty(HOLES, old);
            }
        }
    }
}
