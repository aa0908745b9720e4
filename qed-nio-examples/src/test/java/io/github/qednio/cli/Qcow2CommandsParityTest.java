package io.github.qednio.cli;

import static io.github.qednio.cli.QedCliTest.cli;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The reading commands on qcow2 images made by qemu-img and qemu-io: {@code qed info}, {@code map},
 * {@code compare} and {@code measure} print what qemu-img 7.2 prints on the same files, with its exit code, and
 * {@code qed convert} of a qcow2 source gives content qemu-img compare finds identical. The only normalisations are
 * the program name before a message and the documented differences a row names: {@code disk size} /
 * {@code actual-size} (checked apart: at most the file system's own blocks below qemu-img's), the QED-only
 * {@code info} keys of a QED backing file, and a failure's own one-line message.
 */
class Qcow2CommandsParityTest {
    @TempDir
    static Path dir;

    /** A row's documented difference. */
    enum Norm {
        /** {@code actual-size} is approximated (Java 17 reads no {@code st_blocks}). */
        DISK_SIZE,
        /** {@code info --output=json} adds {@code table-size} and {@code allocated-bytes} for QED images. */
        INFO_KEYS,
        /** A failure: only that both failed alike, with one line of message, is compared. */
        FAILURE_TEXT
    }

    record Row(String name, List<String> args, int qemuExit, List<Norm> norms) {
        @Override
        public String toString() {
            return name;
        }
    }

    @BeforeAll
    static void makeImages() throws IOException {
        Qemu.assumeAvailable();
        qcow2("v3.qcow2", List.of(), "8M", "write -P 1 0 64k", "write -z 1M 128k", "write -P 2 3M 100k");
        qcow2("v2.qcow2", List.of("-o", "compat=0.10"), "8M", "write -P 1 0 64k", "write -z 1M 128k",
                "write -P 3 2M 64k");
        qcow2("c4k.qcow2", List.of("-o", "cluster_size=4k"), "16M", "write -P 1 0 64k", "write -z 1M 128k",
                "write -P 2 8M 2M");
        qcow2("c2m.qcow2", List.of("-o", "cluster_size=2M"), "16M", "write -P 1 0 64k", "write -z 4M 2M",
                "write -P 2 8M 2M");
        qcow2("lazy.qcow2", List.of("-o", "lazy_refcounts=on,refcount_bits=8"), "4M", "write -P 7 0 64k");
        // write -z on allocated clusters keeps them allocated (zero flag with an offset); -u releases them.
        qcow2("zalloc.qcow2", List.of(), "4M", "write -P 1 0 256k", "write -z 64k 64k", "write -z -u 128k 64k");
        Qemu.img("create", "-q", "-f", "qed", "-b", "zalloc.qcow2", "-F", "qcow2", p("over-zalloc.qed"))
                .assertSuccess();
        Qemu.ioCommands(dir.resolve("over-zalloc.qed"), "qed", "write -P 3 256k 64k");
        Qemu.img("convert", "-c", "-O", "qcow2", p("v3.qcow2"), p("comp.qcow2")).assertSuccess();
        Qemu.img("convert", "-c", "-O", "qcow2", "-o", "compat=0.10,cluster_size=4k", p("c4k.qcow2"),
                p("comp4k.qcow2")).assertSuccess();
        // The same content in 64 KiB clusters: QEMU's status pieces end elsewhere (compare -s tells them apart).
        Qemu.img("convert", "-O", "qcow2", p("c4k.qcow2"), p("c4k-as-64k.qcow2")).assertSuccess();
        Qemu.img("convert", "-O", "qed", p("c4k.qcow2"), p("c4k.qed")).assertSuccess();
        Files.copy(dir.resolve("v3.qcow2"), dir.resolve("bad.qcow2"));
        corruptThirdL2Entry(dir.resolve("bad.qcow2"));
        byte[] base = new byte[4 << 20]; // written whole: no tool sees a hole in it
        for (int i = 0; i < base.length; i++) {
            base[i] = (byte) (i * 7 + (i >>> 16));
        }
        Files.write(dir.resolve("base.raw"), base);
        Qemu.img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", p("over-raw.qcow2")).assertSuccess();
        Qemu.ioCommands(dir.resolve("over-raw.qcow2"), "qcow2", "write -P 3 64k 64k", "write -z 1M 64k");
        Qemu.img("create", "-q", "-f", "qed", p("base.qed"), "4M").assertSuccess();
        Qemu.ioCommands(dir.resolve("base.qed"), "qed", "write -P 5 0 1M", "write -z 2M 64k");
        Qemu.img("create", "-q", "-f", "qcow2", "-b", "base.qed", "-F", "qed", p("over-qed.qcow2"), "6M")
                .assertSuccess();
        Qemu.ioCommands(dir.resolve("over-qed.qcow2"), "qcow2", "write -P 6 512k 64k");
        Qemu.img("create", "-q", "-f", "qcow2", "-b", "over-qed.qcow2", "-F", "qcow2", p("over-qcow2.qcow2"))
                .assertSuccess();
        Qemu.ioCommands(dir.resolve("over-qcow2.qcow2"), "qcow2", "write -z 0 64k", "write -P 9 5M 4k");
        Qemu.img("convert", "-O", "raw", p("over-qcow2.qcow2"), p("flat.raw")).assertSuccess();
    }

    /** Points guest cluster 2 at an unaligned host offset: qemu-img map prints the runs before it, then fails. */
    private static void corruptThirdL2Entry(Path image) throws IOException {
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(8);
            ch.read(b, 40); // l1_table_offset
            long l1 = b.flip().getLong();
            ch.read(b.clear(), l1);
            long l2 = b.flip().getLong() & 0x00ff_ffff_ffff_fe00L;
            ch.write(b.clear().putLong(0x8000_0000_0005_0200L).flip(), l2 + 2 * 8);
        }
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

    static Stream<Row> rows() {
        List<Row> rows = new ArrayList<>();
        for (String i : List.of("v3", "v2", "c4k", "c2m", "lazy", "comp", "comp4k", "over-raw", "over-qed",
                "over-qcow2", "zalloc")) {
            String img = "@" + i + ".qcow2";
            List<Norm> size = List.of(Norm.DISK_SIZE);
            rows.add(row("info " + i, 0, size, "info", img));
            rows.add(row("info json " + i, 0, size, "info", "--output=json", img));
            rows.add(row("info -f qcow2 " + i, 0, size, "info", "-f", "qcow2", img));
            boolean compressed = i.startsWith("comp");
            rows.add(row("map " + i, compressed ? 1 : 0, compressed ? List.of(Norm.FAILURE_TEXT) : List.of(), "map",
                    img));
            rows.add(row("map json " + i, 0, List.of(), "map", "--output=json", img));
            rows.add(row("map json -f qcow2 " + i, 0, List.of(), "map", "-f", "qcow2", "--output=json", img));
            rows.add(row("measure " + i, 0, List.of(), "measure", "-O", "raw", img));
            rows.add(row("measure json " + i, 0, List.of(), "measure", "--output=json", "-O", "raw", "-f", "qcow2",
                    img));
        }
        rows.add(row("info chain over-qcow2", 0, List.of(Norm.DISK_SIZE), "info", "--backing-chain",
                "@over-qcow2.qcow2"));
        rows.add(row("info chain json over-qcow2", 0, List.of(Norm.INFO_KEYS, Norm.DISK_SIZE), "info",
                "--backing-chain", "--output=json", "@over-qcow2.qcow2"));
        rows.add(row("info chain over-raw", 0, List.of(Norm.DISK_SIZE), "info", "--backing-chain",
                "@over-raw.qcow2"));

        rows.add(row("map corrupt", 1, List.of(Norm.FAILURE_TEXT), "map", "@bad.qcow2"));
        rows.add(row("map json corrupt", 1, List.of(Norm.FAILURE_TEXT), "map", "--output=json", "@bad.qcow2"));
        rows.add(row("map qed over zalloc", 0, List.of(), "map", "@over-zalloc.qed"));
        rows.add(row("map json qed over zalloc", 0, List.of(), "map", "--output=json", "@over-zalloc.qed"));
        rows.add(row("compare compressed", 0, List.of(), "compare", "@v3.qcow2", "@comp.qcow2"));
        rows.add(row("compare compressed 4k v2", 0, List.of(), "compare", "@comp4k.qcow2", "@c4k.qcow2"));
        rows.add(row("compare chain with its flat copy", 0, List.of(), "compare", "@over-qcow2.qcow2",
                "@flat.raw"));
        rows.add(row("compare -f -F", 0, List.of(), "compare", "-f", "raw", "-F", "qcow2", "@flat.raw",
                "@over-qcow2.qcow2"));
        rows.add(row("compare different", 1, List.of(), "compare", "@over-qcow2.qcow2", "@over-qed.qcow2"));
        rows.add(row("compare different -q", 1, List.of(), "compare", "-q", "@v3.qcow2", "@v2.qcow2"));
        rows.add(row("compare sizes", 1, List.of(), "compare", "@over-raw.qcow2", "@v3.qcow2"));
        rows.add(row("compare qcow2 and qed", 1, List.of(), "compare", "@over-qed.qcow2", "@base.qed"));
        rows.add(row("compare -s itself", 0, List.of(), "compare", "-s", "@over-qcow2.qcow2",
                "@over-qcow2.qcow2"));
        rows.add(row("compare -s sizes", 1, List.of(), "compare", "-s", "@over-raw.qcow2", "@v3.qcow2"));
        rows.add(row("compare -s compressed", 1, List.of(), "compare", "-s", "@v3.qcow2", "@comp.qcow2"));
        for (String[] pair : new String[][] {{"c4k", "c4k-as-64k"}, {"c4k-as-64k", "c4k"}, {"v3", "v2"},
                {"over-raw", "over-raw"}, {"zalloc", "zalloc"}, {"comp4k", "c4k"}, {"over-qcow2", "over-qed"}}) {
            rows.add(row("compare -s " + pair[0] + " " + pair[1], pair[0].equals(pair[1]) ? 0 : 1, List.of(),
                    "compare", "-s", "@" + pair[0] + ".qcow2", "@" + pair[1] + ".qcow2"));
        }
        rows.add(row("compare -s qcow2 qed", 1, List.of(), "compare", "-s", "@c4k.qcow2", "@c4k.qed"));
        rows.add(row("compare -s qed qcow2", 0, List.of(), "compare", "-s", "@c4k.qed", "@c4k-as-64k.qcow2"));
        rows.add(row("compare -s qcow2 raw", 1, List.of(), "compare", "-s", "@over-raw.qcow2", "@base.raw"));
        rows.add(row("compare zero clusters kept and released", 1, List.of(), "compare", "@zalloc.qcow2",
                "@over-zalloc.qed"));
        rows.add(row("compare missing", 2, List.of(Norm.FAILURE_TEXT), "compare", "@v3.qcow2", "@missing.qcow2"));
        return rows.stream();
    }

    private static Row row(String name, int qemuExit, List<Norm> norms, String... args) {
        return new Row(name, List.of(args), qemuExit, norms);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void qedPrintsWhatQemuImgPrints(Row row) {
        String[] args = row.args().stream().map(a -> a.startsWith("@") ? p(a.substring(1)) : a)
                .toArray(String[]::new);
        Qemu.Result q = Qemu.img(args);
        Run ours = cli(args);
        assertThat(q.exitCode()).as("qemu-img's exit code (the fixture): %s%s", q.stdout(), q.stderr())
                .isEqualTo(row.qemuExit());
        assertThat(ours.code()).as("exit code; qed said %s%s", ours.out(), ours.err()).isEqualTo(q.exitCode());
        if (row.norms().contains(Norm.DISK_SIZE)) {
            assertDiskSizesClose(ours.out(), q.stdout());
        }
        assertThat(normalise(ours.out(), row)).as("standard output").isEqualTo(normalise(q.stdout(), row));
        if (row.norms().contains(Norm.FAILURE_TEXT)) {
            assertThat(ours.err()).as("one line of failure").startsWith("qed: ").hasLineCount(1);
            assertThat(q.stderr()).contains("qemu-img: "); // after qcow2's own "Image is corrupt" line, if any
        } else {
            assertThat(ours.err().replaceAll("(?m)^qed: ", "PROG: "))
                    .isEqualTo(q.stderr().replaceAll("(?m)^qemu-img: ", "PROG: "));
        }
    }

    /**
     * qemu-img's {@code actual-size} also counts the blocks the file system spends on the file's extent tree (ext4:
     * one once the file has more than four extents, depending on where its blocks landed), which no reader can
     * tell: ours, the file's data alone, may be up to two blocks smaller, never larger.
     */
    private static void assertDiskSizesClose(String ours, String qemu) {
        java.util.regex.Pattern size = java.util.regex.Pattern.compile("\"actual-size\": (\\d+)");
        java.util.regex.Matcher a = size.matcher(ours);
        java.util.regex.Matcher b = size.matcher(qemu);
        while (b.find()) {
            assertThat(a.find()).as("actual-size in %s", ours).isTrue();
            long q = Long.parseLong(b.group(1));
            assertThat(Long.parseLong(a.group(1))).as("actual-size, qemu-img's %d", q).isBetween(q - 2 * 4096, q);
        }
    }

    private static String normalise(String text, Row row) {
        String t = text;
        if (row.norms().contains(Norm.DISK_SIZE)) {
            t = t.replaceAll("(?m)^disk size: .*$", "disk size: N")
                    .replaceAll("(?m)^(\\s*\"actual-size\": )\\d+", "$1N");
        }
        if (row.norms().contains(Norm.INFO_KEYS)) {
            t = t.replaceAll("(?m)^\\s*\"(table-size|allocated-bytes)\": \\d+,?\n", "")
                    .replaceAll(",\n(\\s*)}", "\n$1}");
        }
        return t;
    }

    @Test
    void convertOfAQcow2ChainGivesContentQemuImgCompareFindsIdentical() {
        for (String src : List.of("over-qcow2.qcow2", "comp.qcow2", "comp4k.qcow2", "c2m.qcow2", "over-raw.qcow2")) {
            for (String to : List.of("raw", "qed")) {
                String out = p("out-" + src + "." + to);
                Run r = cli("convert", "-O", to, p(src), out);
                assertThat(r.code()).as(r.err()).isZero();
                Qemu.Result q = Qemu.img("compare", "-F", to, p(src), out);
                assertThat(q.exitCode()).as("qemu-img compare %s %s: %s%s", src, out, q.stdout(), q.stderr())
                        .isZero();
                Run f = cli("convert", "-f", "qcow2", "-O", to, p(src), out + ".f");
                assertThat(f.code()).as(f.err()).isZero();
                assertThat(Qemu.img("compare", "-F", to, p(src), out + ".f").exitCode()).isZero();
            }
        }
    }
}
