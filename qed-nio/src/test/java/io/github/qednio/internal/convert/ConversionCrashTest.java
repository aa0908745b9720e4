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
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.storage.RawImageFile;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.storage.SimulatedDiskFile;
import io.github.qednio.format.QedHeader;
import io.github.qednio.format.Qcow2Header;
import io.github.qednio.internal.qcow2.Qcow2Image;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Power loss at every write and every flush of an in-place conversion, in both directions, with every crash mode
 * of the simulated disk (lose the unflushed writes, keep a prefix or a random subset of them, tear the write in
 * progress at an 8-byte or 512-byte boundary): the file found afterwards always opens as the old or the new format
 * with the original guest content, and running the conversion again on it finishes it (or reports it done) with the
 * same content. QEMU judges every distinct crash image and every image a rerun leaves ({@code qemu-img check} and
 * {@code compare} against the original content).
 *
 * <p>The header switch is one 512-byte write at offset 0; like QEMU's own header updates it relies on the disk
 * writing a sector atomically, so a tear inside it is simulated only at sector granularity.
 */
class ConversionCrashTest {
    private static final int CLUSTER = 4096;
    private static final long SIZE = (6L << 20) + 512;
    private static final int BASE_LENGTH = (5 << 20) + 1000;
    /** A backing file name too long for the header sector: it goes into cluster 0 before the switch. */
    private static final String LONG_NAME = "d".repeat(200) + "/" + "e".repeat(200) + "/base.raw";

    private static FileSystem fs;
    private static byte[] baseContent;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void createBase() throws IOException {
        fs = Jimfs.newFileSystem(Configuration.unix());
        Files.createDirectories(fs.getPath("/img"));
        baseContent = new byte[BASE_LENGTH];
        new Random(7).nextBytes(baseContent);
        for (String name : new String[] {"base.raw", LONG_NAME}) {
            Path p = fs.getPath("/img").resolve(name);
            Files.createDirectories(p.getParent());
            Files.write(p, baseContent);
            Path q = tmp.resolve(name);
            Files.createDirectories(q.getParent());
            Files.write(q, baseContent);
        }
    }

    @AfterAll
    static void closeFs() throws IOException {
        fs.close();
    }

    @ParameterizedTest(name = "{0} to {1}, backing file {2}")
    @CsvSource({"QED, QCOW2, none", "QED, QCOW2, short", "QED, QCOW2, long", "QCOW2, QED, none",
        "QCOW2, QED, short", "QCOW2, QED, long"})
    void everyCrashLeavesOneOfTheTwoFormatsWithTheOriginalContentAndARerunFinishes(ImageFormat from,
            ImageFormat to, String backing) throws IOException {
        Path path = fs.getPath("/img/" + from + "-" + backing + ".img");
        byte[] template = template(path, from, backing);
        byte[] expected = content(template, path);

        SimulatedDiskFile clean = new SimulatedDiskFile(template, 0, 512);
        convert(path, template, clean, to);
        long mutations = clean.mutations();
        assertThat(mutations).as("writes and flushes of one conversion").isGreaterThanOrEqualTo(5);
        assertThat(format(clean.currentImage())).isEqualTo(to);
        assertThat(content(clean.currentImage(), path)).isEqualTo(expected);

        QemuJudge qemu = new QemuJudge(expected);
        int crashes = 0;
        int converted = 0;
        for (long n = 1; n <= mutations; n++) {
            for (String mode : SimulatedDiskFile.crashModes()) {
                for (int granularity : new int[] {8, 512}) {
                    if (granularity == 8 && n == mutations - 1) {
                        continue; // the header sector itself: sector-atomic (see the class comment)
                    }
                    for (long seed = 0; seed < (mode.equals("KEEP_SUBSET") ? 3 : 1); seed++) {
                        String context = String.format("%s->%s backing %s: crash at mutation %d of %d, %s, tears"
                                + " at %d bytes, seed %d", from, to, backing, n, mutations, mode, granularity, seed);
                        SimulatedDiskFile disk = new SimulatedDiskFile(template, seed, granularity).crashAt(n, mode);
                        try {
                            convert(path, template, disk, to);
                        } catch (IOException e) {
                            assertThat(disk.crashed()).as(context + ": " + e).isTrue();
                        }
                        assertThat(disk.crashed()).as(context).isTrue();
                        byte[] crash = disk.crashImage();
                        ImageFormat found = format(crash);
                        assertThat(found).as(context).isIn(from, to);
                        assertThat(content(crash, path)).as(context).isEqualTo(expected);
                        if (found == to) {
                            converted++;
                        }
                        qemu.judge(crash, found, context);
                        crashes++;

                        SimulatedDiskFile again = new SimulatedDiskFile(crash, 0, 512);
                        ConversionReport report = convert(path, crash, again, to);
                        assertThat(report.alreadyConverted()).as(context).isEqualTo(found == to);
                        assertThat(format(again.currentImage())).as(context).isEqualTo(to);
                        assertThat(content(again.currentImage(), path)).as(context + ", rerun")
                                .isEqualTo(expected);
                        qemu.judge(again.currentImage(), to, context + ", rerun");
                    }
                }
            }
        }
        assertThat(converted).as("crashes after the switch found the new format").isPositive();
        assertThat(converted).as("crashes before the switch found the old format").isLessThan(crashes);
    }

    @ParameterizedTest(name = "{0} to {1}")
    @CsvSource({"QED, QCOW2", "QCOW2, QED"})
    void aFailedWriteOrFlushLeavesAValidImageAndARerunFinishes(ImageFormat from, ImageFormat to) throws IOException {
        Path path = fs.getPath("/img/fail-" + from + ".img");
        byte[] template = template(path, from, "short");
        byte[] expected = content(template, path);
        SimulatedDiskFile clean = new SimulatedDiskFile(template, 0, 512);
        convert(path, template, clean, to);
        QemuJudge qemu = new QemuJudge(expected);
        for (long n = 1; n <= clean.mutations(); n++) {
            SimulatedDiskFile disk = new SimulatedDiskFile(template, n, 512).failAt(n);
            boolean failed = false;
            try {
                convert(path, template, disk, to);
            } catch (IOException e) {
                failed = true;
            }
            assertThat(failed).as("mutation %d fails", n).isTrue();
            byte[] now = disk.currentImage();
            assertThat(format(now)).isIn(from, to);
            assertThat(content(now, path)).as("after a failure at mutation %d", n).isEqualTo(expected);
            qemu.judge(now, format(now), "after a failure at mutation " + n);
            SimulatedDiskFile again = new SimulatedDiskFile(now, 0, 512);
            convert(path, now, again, to);
            assertThat(format(again.currentImage())).isEqualTo(to);
            assertThat(content(again.currentImage(), path)).isEqualTo(expected);
            qemu.judge(again.currentImage(), to, "rerun after a failure at mutation " + n);
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static ConversionReport convert(Path path, byte[] bytes, SimulatedDiskFile disk, ImageFormat to)
            throws IOException {
        Files.write(path, bytes); // the engine reads the source from the path; the converter writes to the disk
        try (RawImageFile file = disk.file(path.toString())) {
            return InPlaceConverter.run(path, file, to, false, Progress.NONE);
        }
    }

    /** A small image with data, zero clusters and holes in two L2 tables, in format {@code format}. */
    private static byte[] template(Path path, ImageFormat format, String backing) throws IOException {
        Files.deleteIfExists(path);
        CreateOptions options = CreateOptions.ofSize(SIZE).withClusterSize(CLUSTER).withTableSize(2);
        if (!backing.equals("none")) {
            options = options.withBackingFile(backing.equals("long") ? LONG_NAME : "base.raw", ImageFormat.RAW);
        }
        Random r = new Random(backing.hashCode());
        try (QedImage img = QedImage.create(path, options)) {
            for (int i = 0; i < 40; i++) {
                long at = (long) r.nextInt((int) (SIZE / 512 - 40)) * 512;
                byte[] data = new byte[512 * (1 + r.nextInt(30))];
                r.nextBytes(data);
                img.write(ByteBuffer.wrap(data), at);
            }
            img.writeZeroes(8 * CLUSTER, 3 * CLUSTER);
            img.writeZeroes(SIZE - 2 * CLUSTER - 512, CLUSTER);
            img.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), SIZE - 3);
        }
        byte[] qed = Files.readAllBytes(path);
        if (format == ImageFormat.QED) {
            return qed;
        }
        SimulatedDiskFile disk = new SimulatedDiskFile(qed, 0, 512);
        convert(path, qed, disk, ImageFormat.QCOW2);
        return disk.currentImage();
    }

    private static ImageFormat format(byte[] image) {
        ByteBuffer head = ByteBuffer.wrap(image, 0, 64);
        if (QedHeader.hasMagic(head)) {
            return ImageFormat.QED;
        }
        return Qcow2Header.hasMagic(head) ? ImageFormat.QCOW2 : null;
    }

    /** The guest content of {@code image} (stored at {@code path}), read by the engine or the qcow2 reader. */
    private static byte[] content(byte[] image, Path path) throws IOException {
        Files.write(path, image);
        byte[] guest;
        if (format(image) == ImageFormat.QED) {
            try (QedImage img = QedImage.open(path, OpenOptions.readOnlyDefaults())) {
                assertThat(img.check(Repair.NONE).isConsistent()).isTrue();
                guest = new byte[(int) img.size()];
                img.readFully(ByteBuffer.wrap(guest), 0);
            }
            return guest;
        }
        try (Qcow2Image img = Qcow2Image.open(path)) {
            guest = new byte[(int) img.size()];
            long cs = img.header().clusterSize();
            boolean hasBacking = img.header().backingFile() != null;
            for (MappedExtent e : img.map(0, img.size())) {
                switch (e.type()) {
                    case DATA -> {
                        System.arraycopy(image, (int) e.hostOffset(), guest, (int) e.start(), (int) e.length());
                        for (long h = e.hostOffset(); h < e.hostOffset() + e.length(); h += cs) {
                            assertThat(img.refcount(h / cs)).as("refcount of data cluster %d", h).isEqualTo(1);
                        }
                    }
                    case ZERO -> { }
                    case UNALLOCATED -> {
                        if (hasBacking && e.start() < BASE_LENGTH) {
                            int n = (int) Math.min(e.length(), BASE_LENGTH - e.start());
                            System.arraycopy(baseContent, (int) e.start(), guest, (int) e.start(), n);
                        }
                    }
                }
            }
        }
        return guest;
    }

    /**
     * QEMU's verdict on the images one test leaves ({@code qemu-img check}, {@code qemu-img compare} with the
     * original content), each distinct image once: many crash modes leave the same bytes.
     */
    private static final class QemuJudge {
        private final boolean qemu = Qemu.crossChecks();
        private final byte[] expected;
        private final java.util.Set<String> judged = new java.util.HashSet<>();

        QemuJudge(byte[] expected) {
            this.expected = expected;
        }

        void judge(byte[] image, ImageFormat found, String context) throws IOException {
            if (!qemu || !judged.add(digest(image))) {
                return;
            }
            Path file = tmp.resolve("crash.img");
            Path raw = tmp.resolve("expected.raw");
            Files.write(file, image);
            if (judged.size() == 1) {
                Files.write(raw, expected);
            }
            String fmt = found.qemuName();
            Qemu.Result check = Qemu.img("check", "-f", fmt, "--output=json", file.toString());
            assertThat(check.exitCode()).as("%s: %s %s", context, check.stdout(), check.stderr())
                    .isIn(0, found == ImageFormat.QED ? 3 : 0);
            assertThat(Qemu.jsonLong(check.stdout(), "corruptions")).as(context).isZero();
            Qemu.Result cmp = Qemu.img("compare", "-f", fmt, "-F", "raw", file.toString(), raw.toString());
            assertThat(cmp.exitCode()).as("%s: %s %s", context, cmp.stdout(), cmp.stderr()).isZero();
            assertThat(Arrays.equals(image, Files.readAllBytes(file))).as("QEMU wrote nothing").isTrue();
        }

        private static String digest(byte[] image) {
            try {
                return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                        .digest(image));
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
