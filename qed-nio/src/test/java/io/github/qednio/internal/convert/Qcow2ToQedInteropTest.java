package io.github.qednio.internal.convert;

import io.github.qednio.ops.ConversionRefusedException;
import io.github.qednio.ops.ConversionReport;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.InPlaceConverter;
import io.github.qednio.image.Progress;
import static io.github.qednio.internal.convert.QedToQcow2InteropTest.assertQcow2CheckClean;
import static io.github.qednio.internal.convert.QedToQcow2InteropTest.qemuIo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import io.github.qednio.internal.qcow2.Qcow2Image;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * qcow2 images made by QEMU: the qcow2 reader maps them as {@code qemu-img map} does and reads refcounts of every
 * width; converted to QED in place they keep their guest content and their data clusters' host offsets, check
 * without corruption, and QEMU can write to them. Every feature an in-place conversion cannot keep is refused by
 * name, with the file left byte-identical.
 */
class Qcow2ToQedInteropTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        Qemu.assumeAvailable();
    }

    @ParameterizedTest(name = "compat {0}, {1}-byte clusters, {2}-bit refcounts, lazy {3}, {4} bytes")
    @CsvSource({
        "1.1, 65536, 16, off, 1073741824",
        "0.10, 65536, 16, off, 10486272",
        "1.1, 4096, 1, off, 10487296",
        "1.1, 65536, 2, on, 5368709120",
        "1.1, 8192, 4, off, 33554432",
        "1.1, 32768, 8, off, 33554432",
        "1.1, 65536, 32, off, 33554432",
        "1.1, 16384, 64, on, 33554432",
        "1.1, 2097152, 16, off, 104857600",
    })
    void qemuMadeQcow2ImagesReadAndConvertToQed(String compat, long cluster, int refcountBits, String lazy,
                                                long size) throws IOException {
        Path image = dir.resolve("a.qcow2");
        Qemu.img("create", "-f", "qcow2", "-o", "compat=" + compat + ",cluster_size=" + cluster + ",refcount_bits="
                + refcountBits + ",lazy_refcounts=" + lazy, image.toString(), Long.toString(size)).assertSuccess();
        long last = (size - 4096) / 512 * 512;
        qemuIo(image, "qcow2", "write -P 0x11 0 200k", "write -z 64k 64k", "write -z 8M 128k",
                "write -P 0x22 " + (size / 2) + " 4k", "write -P 0x33 " + last + " 4k");
        try (Qcow2Image q = Qcow2Image.open(image)) {
            assertThat(describe(q.map(0, q.size()))).isEqualTo(qemuMap(image));
            assertThat(q.refcount(0)).isEqualTo(1);
            assertThat(q.refcount(q.header().l1TableOffset() / cluster)).isEqualTo(1);
            for (MappedExtent e : q.map(0, q.size())) {
                if (e.type() == MappedExtent.Type.DATA) {
                    for (long h = e.hostOffset(); h < e.hostOffset() + e.length(); h += cluster) {
                        assertThat(q.refcount(h / cluster)).as("refcount of host cluster at %d", h).isEqualTo(1);
                    }
                }
            }
            assertThat(q.refcount((Files.size(image) + cluster) / cluster + 1000)).isZero();
        }
        convertAndVerify(image, null);
    }

    @Test
    void rawBackingFileGetsNoProbeAndQcow2BackingIsKept() throws IOException {
        Path base = dir.resolve("base.raw");
        Files.write(base, QedToQcow2InteropTest.pattern(0x77, 2 << 20).array());
        Path image = dir.resolve("ov.qcow2");
        Qemu.img("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", image.toString(), "4M").assertSuccess();
        qemuIo(image, "qcow2", "write -P 0x12 64k 64k", "write -z 1M 64k");
        convertAndVerify(image, "raw");
        try (FileChannel ch = FileChannel.open(image)) {
            ByteBuffer h = ByteBuffer.allocate(64);
            ch.read(h, 0);
            QedHeader header = QedHeader.decode(h.flip(), image.toString());
            assertThat(header.features()).isEqualTo(QedHeader.QED_F_BACKING_FILE
                    | QedHeader.QED_F_BACKING_FORMAT_NO_PROBE);
        }

        Path qbase = dir.resolve("base.qcow2");
        Qemu.img("create", "-f", "qcow2", qbase.toString(), "4M").assertSuccess();
        qemuIo(qbase, "qcow2", "write -P 0x44 0 3M");
        Path ov2 = dir.resolve("ov2.qcow2");
        Qemu.img("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", ov2.toString(), "4M").assertSuccess();
        qemuIo(ov2, "qcow2", "write -P 0x13 1M 64k");
        convertAndVerify(ov2, "qcow2");
    }

    @Test
    void emptyAndZeroSizedImagesConvertBothWays() throws IOException {
        for (String size : new String[] {"0", "64k"}) {
            Path image = dir.resolve("e" + size + ".qed");
            Qemu.img("create", "-f", "qed", image.toString(), size).assertSuccess();
            InPlaceConverter.convert(image, ImageFormat.QCOW2, Progress.NONE);
            assertQcow2CheckClean(image);
            assertThat(Qemu.img("info", "--output=json", image.toString()).assertSuccess().stdout())
                    .contains("\"virtual-size\": " + (size.equals("0") ? 0 : 65536));
            InPlaceConverter.convert(image, ImageFormat.QED, Progress.NONE);
            Qemu.Result check = Qemu.img("check", "-f", "qed", "--output=json", image.toString());
            assertThat(Qemu.jsonLong(check.stdout(), "corruptions")).as(check.stdout()).isZero();
        }
    }

    @ParameterizedTest(name = "{0}-byte clusters, {1} bytes: table size {2}")
    @CsvSource({"65536, 1073741824, 2", "4096, 1073741824, 2", "4096, 10737418240, 4", "4096, 68719476736, 8"})
    void theSmallestTableSizeFromTwoThatCoversTheVirtualSizeIsChosen(long cluster, long size, long tableSize)
            throws IOException {
        Path image = dir.resolve("t.qcow2");
        Qemu.img("create", "-f", "qcow2", "-o", "cluster_size=" + cluster, image.toString(), Long.toString(size))
                .assertSuccess();
        qemuIo(image, "qcow2", "write -P 0x21 " + (size - 65536) + " 64k");
        convertAndVerify(image, null);
        try (FileChannel ch = FileChannel.open(image)) {
            ByteBuffer h = ByteBuffer.allocate(64);
            ch.read(h, 0);
            assertThat(QedHeader.decode(h.flip(), image.toString()).tableSize()).isEqualTo(tableSize);
        }
    }

    @Test
    void roundTripQedToQcow2AndBackKeepsContent() throws IOException {
        Path image = dir.resolve("r.qed");
        Qemu.img("create", "-f", "qed", image.toString(), "3G").assertSuccess();
        qemuIo(image, "qed", "write -P 0x61 0 1M", "write -z 4M 64k", "write -P 0x62 2G 64k");
        Path copy = dir.resolve("orig.qed");
        Files.copy(image, copy);
        InPlaceConverter.convert(image, ImageFormat.QCOW2, Progress.NONE);
        InPlaceConverter.convert(image, ImageFormat.QED, Progress.NONE);
        Qemu.img("compare", "-f", "qed", "-F", "qed", image.toString(), copy.toString()).assertSuccess();
        InPlaceConverter.convert(image, ImageFormat.QCOW2, Progress.NONE);
        assertQcow2CheckClean(image);
        Qemu.img("compare", "-f", "qcow2", "-F", "qed", image.toString(), copy.toString()).assertSuccess();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "compressed clusters | convert -c",
        "internal snapshots | snapshot",
        "encryption | encrypt",
        "external data file | data_file",
        "extended L2 entries | extended_l2=on",
        "persistent bitmaps | bitmap",
        "dirty bit | lazy abort",
        "corrupt bit | corrupt",
        "cluster size 2048 | cluster_size=2048",
        "virtual size | too large for QED",
    })
    void unsupportedFeaturesAreRefusedByNameAndTheFileIsLeftAlone(String feature, String how) throws IOException {
        Path image = dir.resolve("x.qcow2");
        String file = image.toString();
        switch (how) {
            case "convert -c" -> {
                Path raw = dir.resolve("src.raw");
                Files.write(raw, QedToQcow2InteropTest.pattern(0x31, 1 << 20).array());
                Qemu.img("convert", "-c", "-f", "raw", "-O", "qcow2", raw.toString(), file).assertSuccess();
            }
            case "snapshot" -> {
                Qemu.img("create", "-f", "qcow2", file, "1M").assertSuccess();
                Qemu.img("snapshot", "-c", "s1", file).assertSuccess();
            }
            case "encrypt" -> Qemu.img("create", "-f", "qcow2", "--object", "secret,id=sec0,data=abc123",
                    "-o", "encrypt.format=aes,encrypt.key-secret=sec0", file, "1M")
                    .assertSuccess();
            case "data_file" -> Qemu.img("create", "-f", "qcow2", "-o", "data_file=" + dir.resolve("x.data"), file,
                    "1M").assertSuccess();
            case "bitmap" -> {
                Qemu.img("create", "-f", "qcow2", file, "1M").assertSuccess();
                Qemu.img("bitmap", "--add", file, "b0").assertSuccess();
            }
            case "lazy abort" -> {
                Qemu.img("create", "-f", "qcow2", "-o", "lazy_refcounts=on", file, "1M").assertSuccess();
                Qemu.io("-f", "qcow2", "-c", "write 0 64k", "-c", "abort", file); // dies, leaving the dirty bit
            }
            case "corrupt" -> {
                Qemu.img("create", "-f", "qcow2", file, "1M").assertSuccess();
                try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
                    ch.write(ByteBuffer.wrap(new byte[] {2}), 79); // incompatible_features bit 1
                }
            }
            case "too large for QED" -> // QED's largest with 4 KiB clusters: 256 GiB (table size 16)
                    Qemu.img("create", "-f", "qcow2", "-o", "cluster_size=4096", file, "300G").assertSuccess();
            default -> Qemu.img("create", "-f", "qcow2", "-o", how, file, "1M").assertSuccess();
        }
        byte[] before = Files.readAllBytes(image);
        for (boolean dry : new boolean[] {true, false}) {
            assertThatThrownBy(() -> {
                if (dry) {
                    InPlaceConverter.dryRun(image, ImageFormat.QED);
                } else {
                    InPlaceConverter.convert(image, ImageFormat.QED, Progress.NONE);
                }
            }).isInstanceOf(ConversionRefusedException.class).hasMessageContaining(feature)
                    .hasMessageContaining(file).hasMessageMatching("(?s).*(convert|check -r all).*");
            assertThat(Files.readAllBytes(image)).as(feature).isEqualTo(before);
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private void convertAndVerify(Path image, String backingFormat) throws IOException {
        Path copy = image.resolveSibling("orig-" + image.getFileName());
        Files.copy(image, copy, StandardCopyOption.REPLACE_EXISTING);
        List<String> dataBefore = dataRuns(qemuMap(copy));
        ConversionReport plan = InPlaceConverter.dryRun(image, ImageFormat.QED);
        ConversionReport report = InPlaceConverter.convert(image, ImageFormat.QED, Progress.NONE);
        assertThat(report.from()).isEqualTo(ImageFormat.QCOW2);
        assertThat(Files.size(image)).isEqualTo(plan.sizeAfter()).isEqualTo(report.sizeAfter());
        String info = Qemu.img("info", "--output=json", image.toString()).assertSuccess().stdout();
        assertThat(info).contains("\"format\": \"qed\"");
        if ("raw".equals(backingFormat)) {
            assertThat(info).contains("\"backing-filename-format\": \"raw\"");
        }
        Qemu.Result check = Qemu.img("check", "-f", "qed", "--output=json", image.toString());
        assertThat(check.exitCode()).as("%s %s", check.stdout(), check.stderr()).isIn(0, 3);
        assertThat(Qemu.jsonLong(check.stdout(), "corruptions")).as(check.stdout()).isZero();
        if (!"qcow2".equals(backingFormat)) { // the engine does not read qcow2 backing files
            try (QedImage qed = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
                assertThat(qed.check(Repair.NONE).isConsistent()).isTrue();
            }
        }
        Qemu.img("compare", "-F", "qcow2", image.toString(), copy.toString()).assertSuccess();
        assertThat(dataRuns(qemuMap(image))).as("data clusters keep their host offsets").isEqualTo(dataBefore);
        qemuIo(image, "qed", "write -P 0x5a 0 64k", "write -P 0x5b 1M 4k", "read -P 0x5a 0 64k");
        Qemu.Result again = Qemu.img("check", "-f", "qed", "--output=json", image.toString());
        assertThat(Qemu.jsonLong(again.stdout(), "corruptions")).as(again.stdout()).isZero();
    }

    /** qemu-img map's depth-0 runs as "start+length type[@offset]" strings; deeper runs as unallocated. */
    private static List<String> qemuMap(Path image) {
        String out = Qemu.img("map", "--output=json", image.toString()).assertSuccess().stdout();
        List<MappedExtent> runs = new ArrayList<>();
        for (String line : out.split("\n")) {
            if (!line.contains("\"start\"")) {
                continue;
            }
            long start = Qemu.jsonLong(line, "start");
            long length = Qemu.jsonLong(line, "length");
            boolean own = line.contains("\"depth\": 0");
            MappedExtent e;
            if (own && line.contains("\"data\": true")) {
                e = new MappedExtent(start, length, MappedExtent.Type.DATA, 0, image, Qemu.jsonLong(line, "offset"));
            } else if (own && line.contains("\"present\": true")) {
                // A zero cluster that keeps its host cluster: qemu-img map prints its offset.
                long offset = line.contains("\"offset\"") ? Qemu.jsonLong(line, "offset") : -1;
                e = new MappedExtent(start, length, MappedExtent.Type.ZERO, 0, offset < 0 ? null : image, offset);
            } else {
                e = new MappedExtent(start, length, MappedExtent.Type.UNALLOCATED, 0, null, -1);
            }
            runs.add(e);
        }
        return describe(runs);
    }

    private static List<String> describe(List<MappedExtent> runs) {
        List<String> out = new ArrayList<>();
        MappedExtent prev = null;
        for (MappedExtent e : runs) {
            if (prev != null && prev.end() == e.start() && prev.type() == e.type()
                    && (e.type() != MappedExtent.Type.DATA || prev.hostOffset() + prev.length() == e.hostOffset())) {
                prev = new MappedExtent(prev.start(), prev.length() + e.length(), prev.type(), 0, prev.file(),
                        prev.hostOffset());
            } else {
                if (prev != null) {
                    out.add(text(prev));
                }
                prev = e;
            }
        }
        if (prev != null) {
            out.add(text(prev));
        }
        return out;
    }

    private static String text(MappedExtent e) {
        return e.start() + "+" + e.length() + " " + e.type() + (e.hostOffset() >= 0 ? "@" + e.hostOffset() : "");
    }

    private static List<String> dataRuns(List<String> map) {
        return map.stream().filter(s -> s.contains("DATA")).toList();
    }

    @Test
    void malformedQcow2HeadersAreFormatErrors() throws IOException {
        Path image = dir.resolve("m.qcow2");
        Qemu.img("create", "-f", "qcow2", image.toString(), "1M").assertSuccess();
        byte[] good = Files.readAllBytes(image);
        int[][] edits = {{20, 0, 0, 0, 30}, {4, 0, 0, 0, 4}, {40, 0x7f, 0, 0, 0, 0, 0, 0, 0}, {36, 0, 0, 0, 0}};
        for (int[] edit : edits) {
            byte[] bad = good.clone();
            for (int i = 1; i < edit.length; i++) {
                bad[edit[0] + i - 1] = (byte) edit[i];
            }
            Files.write(image, bad);
            assertThatThrownBy(() -> Qcow2Image.open(image).close()).as("edit at %d", edit[0])
                    .isInstanceOf(QedFormatException.class).hasMessageContaining(image.toString());
        }
    }
}
