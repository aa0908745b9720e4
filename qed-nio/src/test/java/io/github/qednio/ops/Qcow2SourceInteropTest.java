package io.github.qednio.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.Progress;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The whole-image operations read qcow2 images as qemu-img 7.2 does: versions 2 and 3, clusters of 4 KiB, 64 KiB
 * and 2 MiB, zero clusters, compressed clusters, and backing chains over raw, QED and qcow2 files, all made by
 * qemu-img and qemu-io. Every expected value is qemu-img's own output on the same file.
 */
class Qcow2SourceInteropTest {
    private static final Pattern FIELD = Pattern.compile("\"([^\"]+)\"\\s*:\\s*(\"(?:[^\"\\\\]|\\\\.)*\"|[^,}\\s]+)");
    private static final Pattern MISMATCH = Pattern.compile("Content mismatch at offset (\\d+)!");

    @TempDir
    static Path dir;

    @BeforeAll
    static void makeImages() throws IOException {
        Qemu.assumeAvailable();
        qcow2("v3-64k.qcow2", List.of(), "8M", "write -P 1 0 64k", "write -z 1M 128k", "write -P 2 3M 100k");
        qcow2("v2-64k.qcow2", List.of("-o", "compat=0.10"), "8M", "write -P 1 0 64k", "write -z 1M 128k",
                "write -P 3 2M 64k");
        // 4 KiB clusters: an L2 table covers 2 MiB, so the writes at 8M cross a table boundary.
        qcow2("v3-4k.qcow2", List.of("-o", "cluster_size=4k"), "16M", "write -P 1 0 64k", "write -z 1M 128k",
                "write -P 2 8M 2M", "write -P 4 15M 6k");
        qcow2("v3-2m.qcow2", List.of("-o", "cluster_size=2M"), "16M", "write -P 1 0 64k", "write -z 4M 2M",
                "write -P 2 8M 2M");
        qcow2("v2-4k.qcow2", List.of("-o", "compat=0.10,cluster_size=4k"), "4M", "write -P 5 4k 12k");
        for (String cs : List.of("4k", "64k", "2m")) {
            Qemu.img("convert", "-c", "-O", "qcow2", "-o", "cluster_size=" + cs.toUpperCase(),
                    p("v3-" + cs + ".qcow2"), p("comp-" + cs + ".qcow2")).assertSuccess();
        }
        // write -z on allocated clusters keeps them allocated (zero flag with an offset); -u releases them.
        qcow2("zero-alloc.qcow2", List.of(), "4M", "write -P 1 0 256k", "write -z 64k 64k", "write -z -u 128k 64k");
        qcow2("zstd.qcow2", List.of("-o", "compression_type=zstd"), "4M", "write -P 1 0 64k",
                "write -z 1M 64k");
        Qemu.img("convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", p("zstd.qcow2"),
                p("comp-zstd.qcow2")).assertSuccess();
        byte[] base = new byte[4 << 20]; // written whole: no tool sees a hole in it
        for (int i = 0; i < base.length; i++) {
            base[i] = (byte) (i * 31 + (i >>> 12));
        }
        Files.write(dir.resolve("base.raw"), base);
        Qemu.img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", p("over-raw.qcow2")).assertSuccess();
        Qemu.ioCommands(dir.resolve("over-raw.qcow2"), "qcow2", "write -P 3 64k 64k", "write -z 1M 64k");
        Qemu.img("create", "-q", "-f", "qed", p("base.qed"), "4M").assertSuccess();
        Qemu.ioCommands(dir.resolve("base.qed"), "qed", "write -P 5 0 1M", "write -z 2M 64k");
        // Larger than its QED base: the tail reads as zeros past the base's end.
        Qemu.img("create", "-q", "-f", "qcow2", "-b", "base.qed", "-F", "qed", p("over-qed.qcow2"), "6M")
                .assertSuccess();
        Qemu.ioCommands(dir.resolve("over-qed.qcow2"), "qcow2", "write -P 6 512k 64k");
        Qemu.img("create", "-q", "-f", "qcow2", "-b", "over-qed.qcow2", "-F", "qcow2", p("over-qcow2.qcow2"))
                .assertSuccess();
        Qemu.ioCommands(dir.resolve("over-qcow2.qcow2"), "qcow2", "write -z 0 64k", "write -P 9 5M 4k");
    }

    static List<String> images() {
        return List.of("v3-64k.qcow2", "v2-64k.qcow2", "v3-4k.qcow2", "v3-2m.qcow2", "v2-4k.qcow2", "comp-4k.qcow2",
                "comp-64k.qcow2", "comp-2m.qcow2", "over-raw.qcow2", "over-qed.qcow2", "over-qcow2.qcow2",
                "zstd.qcow2", "zero-alloc.qcow2");
    }

    private static void qcow2(String name, List<String> options, String size, String... writes) {
        List<String> args = new ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
        args.addAll(options);
        args.add(p(name));
        args.add(size);
        Qemu.img(args.toArray(String[]::new)).assertSuccess();
        Qemu.ioCommands(dir.resolve(name), "qcow2", writes);
    }

    private static String p(String name) {
        return dir.resolve(name).toString();
    }

    /** Each flat object of qemu-img's JSON output, its values as written (strings with their quotes). */
    private static List<Map<String, String>> objects(String json) {
        List<Map<String, String>> out = new ArrayList<>();
        for (String line : json.split("\n")) {
            if (!line.contains("\"start\"")) {
                continue;
            }
            Map<String, String> fields = new LinkedHashMap<>();
            Matcher m = FIELD.matcher(line);
            while (m.find()) {
                fields.put(m.group(1), m.group(2));
            }
            out.add(fields);
        }
        return out;
    }

    /** One extent in the terms of qemu-img map's JSON. */
    private static Map<String, String> qemuTerms(MappedExtent e) {
        Map<String, String> m = new LinkedHashMap<>();
        boolean data = e.type() == MappedExtent.Type.DATA;
        m.put("start", String.valueOf(e.start()));
        m.put("length", String.valueOf(e.length()));
        m.put("depth", String.valueOf(e.depth()));
        m.put("present", String.valueOf(e.type() != MappedExtent.Type.UNALLOCATED));
        m.put("zero", String.valueOf(!data));
        m.put("data", String.valueOf(data));
        if (e.hostOffset() >= 0) {
            m.put("offset", String.valueOf(e.hostOffset()));
        }
        return m;
    }

    @ParameterizedTest
    @MethodSource("images")
    void mapGivesQemuImgMapsEntriesOneForOne(String name) throws IOException {
        List<Map<String, String>> expected = objects(Qemu.img("map", "--output=json", p(name)).assertSuccess()
                .stdout());
        List<Map<String, String>> ours = ImageMap.of(dir.resolve(name), null, false).stream()
                .map(Qcow2SourceInteropTest::qemuTerms).toList();
        assertThat(ours).isEqualTo(expected);
        assertThat(ImageMap.of(dir.resolve(name), ImageFormat.QCOW2, false).stream()
                .map(Qcow2SourceInteropTest::qemuTerms).toList()).isEqualTo(expected);
    }

    @ParameterizedTest
    @MethodSource("images")
    void infoGivesQemuImgInfosValues(String name) throws IOException {
        String json = Qemu.img("info", "--output=json", p(name)).assertSuccess().stdout();
        Map<String, String> q = new LinkedHashMap<>();
        Matcher m = FIELD.matcher(json);
        while (m.find()) {
            q.put(m.group(1), m.group(2));
        }
        ImageInfo info = ImageInfo.of(dir.resolve(name), null);
        assertThat(info.format()).isEqualTo(ImageFormat.QCOW2);
        assertThat(info.virtualSize()).isEqualTo(Long.parseLong(q.get("virtual-size")));
        assertThat(info.clusterSize()).isEqualTo(Integer.parseInt(q.get("cluster-size")));
        assertDiskSize(info.actualSize(), Long.parseLong(q.get("actual-size")));
        assertThat(info.dirty()).isEqualTo(Boolean.parseBoolean(q.get("dirty-flag")));
        assertThat(quoted(info.backingFilename())).isEqualTo(q.get("backing-filename"));
        assertThat(quoted(info.fullBackingFilename())).isEqualTo(q.get("full-backing-filename"));
        assertThat(quoted(info.backingFormat() == null ? null : info.backingFormat().qemuName()))
                .isEqualTo(q.get("backing-filename-format"));
        ImageInfo.Qcow2Details d = info.qcow2();
        assertThat(quoted(d.compat())).isEqualTo(q.get("compat"));
        assertThat(quoted(d.compressionType())).isEqualTo(q.get("compression-type"));
        assertThat(String.valueOf(d.refcountBits())).isEqualTo(q.get("refcount-bits"));
        if (d.version() >= 3) {
            assertThat(String.valueOf(d.lazyRefcounts())).isEqualTo(q.get("lazy-refcounts"));
            assertThat(String.valueOf(d.corrupt())).isEqualTo(q.get("corrupt"));
            assertThat(String.valueOf(d.extendedL2())).isEqualTo(q.get("extended-l2"));
        } else {
            assertThat(q).doesNotContainKeys("lazy-refcounts", "corrupt", "extended-l2");
        }
    }

    /**
     * qemu-img's {@code actual-size} counts the blocks the file system spends on the file's own extent tree too
     * (ext4: one block once the file has more than four extents, which depends on where the blocks landed): ours,
     * which counts only the file's data, may be that much smaller, never larger.
     */
    static void assertDiskSize(long ours, long qemu) {
        assertThat(ours).as("actual-size, qemu-img's %d", qemu).isBetween(qemu - 2 * 4096, qemu);
    }

    private static String quoted(String s) {
        return s == null ? null : "\"" + s + "\"";
    }

    @ParameterizedTest
    @MethodSource("images")
    void convertToRawAndQedGivesContentQemuImgCompareFindsIdentical(String name) throws IOException {
        Path src = dir.resolve(name);
        Path raw = dir.resolve("conv-" + name + ".raw");
        Path qed = dir.resolve("conv-" + name + ".qed");
        Files.deleteIfExists(raw);
        Files.deleteIfExists(qed);
        ImageConverter.convert(src, raw, ConvertOptions.to(ImageFormat.RAW));
        ImageConverter.convert(src, qed, ConvertOptions.to(ImageFormat.QED).withSourceFormat(ImageFormat.QCOW2));
        for (Path out : List.of(raw, qed)) {
            Qemu.Result r = Qemu.img("compare", src.toString(), out.toString());
            assertThat(r.exitCode()).as("qemu-img compare %s %s: %s%s", src, out, r.stdout(), r.stderr()).isZero();
        }
        Qemu.assertCheckClean(qed);
    }

    @ParameterizedTest
    @MethodSource("images")
    void compareWithQemuImgsOwnCopyFindsThemIdenticalAsQemuImgDoes(String name) throws IOException {
        Path src = dir.resolve(name);
        Path copy = dir.resolve("qemu-" + name + ".raw");
        Files.deleteIfExists(copy);
        Qemu.convertToRaw(src, copy);
        assertThat(Qemu.img("compare", src.toString(), copy.toString()).exitCode()).isZero();
        assertThat(ImageComparator.compare(src, null, copy, ImageFormat.RAW, false, Progress.NONE).identical())
                .isTrue();
        assertThat(ImageComparator.compare(copy, null, src, ImageFormat.QCOW2, false, Progress.NONE).identical())
                .isTrue();
    }

    @ParameterizedTest
    @MethodSource("images")
    void measureOfAQcow2SourceGivesQemuImgMeasuresSizes(String name) throws IOException {
        String json = Qemu.img("measure", "--output=json", "-O", "raw", p(name)).assertSuccess().stdout();
        ImageMeasure.Measurement m = ImageMeasure.of(dir.resolve(name), null, ImageFormat.RAW,
                CreateOptions.ofSize(0));
        assertThat(m.required()).isEqualTo(Qemu.jsonLong(json, "required"));
        assertThat(m.fullyAllocated()).isEqualTo(Qemu.jsonLong(json, "fully-allocated"));
    }

    static List<String[]> differentPairs() {
        return List.of(new String[] {"v3-64k.qcow2", "v2-64k.qcow2"}, new String[] {"over-qcow2.qcow2",
                "over-qed.qcow2"}, new String[] {"comp-4k.qcow2", "v2-4k.qcow2"}, new String[] {"over-raw.qcow2",
                "base.raw"}, new String[] {"over-raw.qcow2", "v3-64k.qcow2"}, new String[] {"v3-2m.qcow2",
                "comp-64k.qcow2"});
    }

    @ParameterizedTest
    @MethodSource("differentPairs")
    void compareOfDifferentImagesReportsQemuImgsFirstMismatch(String a, String b) throws IOException {
        Qemu.Result q = Qemu.img("compare", p(a), p(b));
        assertThat(q.exitCode()).as(q.stdout() + q.stderr()).isEqualTo(1);
        Matcher m = MISMATCH.matcher(q.stdout());
        assertThat(m.find()).as(q.stdout()).isTrue();
        ImageComparator.Comparison c = ImageComparator.compare(dir.resolve(a), null, dir.resolve(b), null, false,
                Progress.NONE);
        assertThat(c.mismatch()).isEqualTo(ImageComparator.Mismatch.CONTENT);
        assertThat(c.offset()).isEqualTo(Long.parseLong(m.group(1)));
    }

    @Test
    void aZstdCompressedImageMapsAsQemuImgMapsItAndItsCompressedClustersAreRefusedByName() throws IOException {
        Path src = dir.resolve("comp-zstd.qcow2");
        List<Map<String, String>> expected = objects(Qemu.img("map", "--output=json", src.toString())
                .assertSuccess().stdout());
        assertThat(ImageMap.of(src, null, false).stream().map(Qcow2SourceInteropTest::qemuTerms).toList())
                .isEqualTo(expected);
        assertThat(ImageInfo.of(src, null).qcow2().compressionType()).isEqualTo("zstd");
        Path out = dir.resolve("comp-zstd.raw");
        assertThatThrownBy(() -> ImageConverter.convert(src, out, ConvertOptions.to(ImageFormat.RAW)))
                .isInstanceOf(IOException.class).hasMessageContaining(src.toString()).hasMessageContaining("zstd");
    }

    static List<String[]> strictPairs() {
        List<String[]> pairs = new ArrayList<>(differentPairs());
        pairs.add(new String[] {"v3-4k.qcow2", "comp-4k.qcow2"});
        pairs.add(new String[] {"v3-4k.qcow2", "v3-4k.qcow2"});
        pairs.add(new String[] {"zero-alloc.qcow2", "zero-alloc.qcow2"});
        pairs.add(new String[] {"over-raw.qcow2", "over-raw.qcow2"});
        pairs.add(new String[] {"over-qcow2.qcow2", "base.qed"});
        pairs.add(new String[] {"comp-2m.qcow2", "comp-2m.qcow2"});
        return pairs;
    }

    @ParameterizedTest
    @MethodSource("strictPairs")
    void strictCompareReportsWhatQemuImgCompareStrictReports(String a, String b) throws IOException {
        Qemu.Result q = Qemu.img("compare", "-s", p(a), p(b));
        ImageComparator.Comparison c = ImageComparator.compare(dir.resolve(a), null, dir.resolve(b), null, true,
                Progress.NONE);
        Matcher status = Pattern.compile("Strict mode: Offset (\\d+) block status mismatch!").matcher(q.stdout());
        Matcher content = MISMATCH.matcher(q.stdout());
        if (q.exitCode() == 0) {
            assertThat(c.identical()).as(q.stdout()).isTrue();
        } else if (status.find()) {
            assertThat(c.mismatch()).isEqualTo(ImageComparator.Mismatch.BLOCK_STATUS);
            assertThat(c.offset()).isEqualTo(Long.parseLong(status.group(1)));
        } else if (content.find()) {
            assertThat(c.mismatch()).isEqualTo(ImageComparator.Mismatch.CONTENT);
            assertThat(c.offset()).isEqualTo(Long.parseLong(content.group(1)));
        } else {
            assertThat(q.stdout()).contains("Strict mode: Image size mismatch!");
            assertThat(c.mismatch()).isEqualTo(ImageComparator.Mismatch.SIZE);
        }
    }
}
