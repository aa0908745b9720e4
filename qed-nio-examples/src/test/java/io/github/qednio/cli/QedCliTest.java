package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QedCliTest {
    @TempDir
    Path dir;

    record Run(int code, String out, String err) {
    }

    static Run cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = QedCli.run(args, new PrintWriter(out), new PrintWriter(err));
        return new Run(code, out.toString(), err.toString());
    }

    private String p(String name) {
        return dir.resolve(name).toString();
    }

    @Test
    void createMakesTheImageQemuImgCreateWouldWithTheGivenGeometry() {
        Qemu.assumeAvailable();
        Run r = cli("create", p("a.qed"), "1G", "-o", "cluster_size=4K,table_size=8");
        assertThat(r.code()).as(r.err()).isZero();
        String info = Qemu.img("info", "--output=json", p("a.qed")).assertSuccess().stdout();
        assertThat(info).contains("\"virtual-size\": 1073741824").contains("\"cluster-size\": 4096");
        assertThat(Qemu.img("check", p("a.qed")).exitCode()).isZero();
        assertThat(dir.resolve("a.qed")).hasSize(9 * 4096);
    }

    @Test
    void createOverlayTakesTheBackingFilesSizeAndRecordsRawFormat() throws IOException {
        Qemu.assumeAvailable();
        Files.write(dir.resolve("base.raw"), new byte[3 << 20]);
        Run r = cli("create", "-b", "base.raw", "-F", "raw", p("ov.qed"));
        assertThat(r.code()).as(r.err()).isZero();
        String info = Qemu.img("info", "--output=json", p("ov.qed")).assertSuccess().stdout();
        assertThat(info).contains("\"virtual-size\": 3145728").contains("\"backing-filename\": \"base.raw\"")
                .contains("\"backing-filename-format\": \"raw\"");
        Run ours = cli("info", "--output=json", p("ov.qed"));
        assertThat(ours.out()).contains("\"backing-filename\": \"base.raw\"")
                .contains("\"backing-filename-format\": \"raw\"").contains("\"virtual-size\": 3145728");
    }

    @Test
    void infoReportsAllocatedBytesAndNeedCheckWithoutClearingIt() throws IOException {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("i.qed"), "1G").assertSuccess();
        Qemu.io("-c", "write -P 1 0 64k", "-c", "write -P 2 10M 4k", "-c", "write -z 20M 128k", p("i.qed"))
                .assertSuccess();
        setNeedCheck(dir.resolve("i.qed"));
        byte[] before = Files.readAllBytes(dir.resolve("i.qed"));

        Run r = cli("info", "--output=json", p("i.qed"));

        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("\"allocated-bytes\": 131072").contains("\"dirty-flag\": true")
                .contains("\"cluster-size\": 65536").contains("\"table-size\": 4")
                .contains("\"virtual-size\": 1073741824");
        assertThat(cli("info", p("i.qed")).out()).contains("virtual size: 1 GiB (1073741824 bytes)")
                .contains("cleanly shut down: no");
        assertThat(Files.readAllBytes(dir.resolve("i.qed"))).isEqualTo(before);
    }

    @Test
    void checkOfACleanImagePrintsWhatQemuImgCheckPrints() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("c.qed"), "1G").assertSuccess();
        Qemu.io("-c", "write 0 64k", "-c", "write 64k 4k", "-c", "write 10M 4k", p("c.qed")).assertSuccess();
        Run r = cli("check", p("c.qed"));
        Qemu.Result q = Qemu.img("check", p("c.qed"));
        assertThat(r.code()).isZero().isEqualTo(q.exitCode());
        assertThat(r.out()).isEqualTo(q.stdout());
    }

    @Test
    void checkOfACorruptImageExitsTwoLikeQemuAndRepairWithAllMakesItClean() throws IOException {
        Qemu.assumeAvailable();
        Path img = corruptImage("bad.qed");
        Run r = cli("check", img.toString());
        Qemu.Result q = Qemu.img("check", img.toString());
        assertThat(r.code()).isEqualTo(2).isEqualTo(q.exitCode());
        assertThat(r.out()).isEqualTo(q.stdout()).contains("1 errors were found on the image.");
        assertThat(cli("check", "--output=json", img.toString()).out()).contains("\"corruptions\": 1")
                .contains("\"leaks\": 1");

        Run fixed = cli("check", "-r", "all", img.toString());

        assertThat(fixed.code()).as(fixed.out() + fixed.err()).isZero();
        assertThat(fixed.out()).startsWith("The following inconsistencies were found and repaired:")
                .contains("    1 corruptions").contains("No errors were found on the image.");
        assertThat(Qemu.img("check", img.toString()).exitCode()).isZero();
    }

    /** Notes §11.3 case c1: L2[160] points past the end of the file, orphaning the cluster it pointed at. */
    private static boolean needCheck(Path img) throws IOException {
        return (Files.readAllBytes(img)[16] & 2) != 0;
    }

    @Test
    void checkRepairOfANeedCheckImageCountsAndFixesWhatQemuImgCheckRepairFixes() throws IOException {
        Qemu.assumeAvailable();
        Path ours = corruptImage("ours.qed");
        setNeedCheck(ours);
        Path theirs = dir.resolve("theirs.qed");
        Files.copy(ours, theirs);

        Run fixed = cli("check", "-r", "all", "--output=json", ours.toString());
        Qemu.Result q = Qemu.img("check", "-r", "all", "--output=json", theirs.toString());

        // Opened once, without the automatic repair of a read-write open, the repair itself reports the fix.
        assertThat(Qemu.jsonLong(fixed.out(), "corruptions-fixed")).as(fixed.out())
                .isEqualTo(Qemu.jsonLong(q.stdout(), "corruptions-fixed")).isEqualTo(1);
        assertThat(Qemu.jsonLong(fixed.out(), "corruptions")).isZero();
        assertThat(needCheck(ours)).isFalse();
        assertThat(needCheck(theirs)).isFalse();
        // QEMU leaves the cluster the entry pointed at leaked at the end of the file; we clear it.
        assertThat(Qemu.jsonLong(q.stdout(), "leaks")).isEqualTo(1);
        assertThat(Qemu.img("check", ours.toString()).exitCode()).isZero();
        assertThat(Files.size(ours)).isEqualTo(Files.size(theirs) - 65536);
        Qemu.img("compare", ours.toString(), theirs.toString()).assertSuccess();
    }

    @Test
    void checkRepairOfACleanImageWithNeedCheckSetClearsItAsQemuImgCheckRepairDoes() throws IOException {
        Qemu.assumeAvailable();
        Path ours = dir.resolve("ours.qed");
        Qemu.img("create", "-f", "qed", ours.toString(), "16M").assertSuccess();
        Qemu.io("-c", "write 0 64k", "-c", "write 1M 4k", ours.toString()).assertSuccess();
        setNeedCheck(ours);
        Path theirs = dir.resolve("theirs.qed");
        Files.copy(ours, theirs);

        Run r = cli("check", "-r", "all", ours.toString());
        Qemu.Result q = Qemu.img("check", "-r", "all", theirs.toString());

        assertThat(r.code()).as(r.err()).isZero().isEqualTo(q.exitCode());
        assertThat(r.out()).isEqualTo(q.stdout());
        assertThat(needCheck(theirs)).as("qemu-img check -r all clears NEED_CHECK").isFalse();
        assertThat(needCheck(ours)).as("qed check -r all clears NEED_CHECK").isFalse();
        assertThat(Files.readAllBytes(ours)).isEqualTo(Files.readAllBytes(theirs));
    }

    private Path corruptImage(String name) throws IOException {
        Path img = dir.resolve(name);
        Qemu.img("create", "-f", "qed", img.toString(), "1G").assertSuccess();
        Qemu.io("-c", "write 0 64k", "-c", "write 64k 4k", "-c", "write 10M 4k", img.toString()).assertSuccess();
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 0x1000000L), 0x60000 + 160 * 8);
        }
        return img;
    }

    @Test
    void mapPrintsWhatQemuImgMapPrintsForAStandaloneImage() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("m.qed"), "4M").assertSuccess();
        Qemu.io("-c", "write -P 0xab 0 64k", "-c", "write -z 1M 128k", "-c", "write 3M 4k", p("m.qed"))
                .assertSuccess();
        assertMapLikeQemuImg("m.qed");
    }

    @Test
    void mapFollowsARawBackingFileLikeQemuImgMap() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "raw", p("base.raw"), "1M").assertSuccess();
        Qemu.io("-f", "raw", "-c", "write -P 0x55 0 1M", p("base.raw")).assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "base.raw", "-F", "raw", p("ov.qed"), "4M").assertSuccess();
        Qemu.io("-c", "write -z 0 64k", "-c", "write -P 0xab 1M 64k", "-c", "write -z 2M 128k", p("ov.qed"))
                .assertSuccess();
        assertMapLikeQemuImg("ov.qed");
    }

    @Test
    void mapFollowsAQedBackingFileLikeQemuImgMap() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("base.qed"), "4M").assertSuccess();
        Qemu.io("-c", "write -P 1 0 1M", "-c", "write -z 2M 64k", p("base.qed")).assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "base.qed", "-F", "qed", p("top.qed")).assertSuccess();
        Qemu.io("-c", "write -P 2 512k 64k", "-c", "write -z 3M 64k", p("top.qed")).assertSuccess();
        assertMapLikeQemuImg("top.qed");
    }

    @Test
    void mapOfAThreeLevelChainWithShortBasesPrintsWhatQemuImgMapPrints() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "raw", p("base.raw"), "3M").assertSuccess();
        Qemu.io("-f", "raw", "-c", "write -P 0x55 0 3M", p("base.raw")).assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "base.raw", "-F", "raw", p("mid.qed"), "4M").assertSuccess();
        Qemu.io("-c", "write -P 1 100k 10k", "-c", "write -z 1M 128k", "-c", "write -P 2 3584k 300k", p("mid.qed"))
                .assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "mid.qed", "-F", "qed", p("top.qed"), "6M").assertSuccess();
        Qemu.io("-c", "write -P 3 0 4k", "-c", "write -z 2M 64k", "-c", "write -P 4 5M 100k", p("top.qed"))
                .assertSuccess();
        // Past the raw base's end, qemu-img reports the middle image's depth (1), not the top's.
        assertMapLikeQemuImg("top.qed");
    }

    @Test
    void convertRawToQedSkipsZeroRegionsAndQemuFindsItIdentical() throws IOException {
        Qemu.assumeAvailable();
        Path raw = dir.resolve("half.raw");
        byte[] data = new byte[8 << 20];
        Random rnd = new Random(7);
        for (int mb = 0; mb < 8; mb += 2) {
            byte[] part = new byte[1 << 20];
            rnd.nextBytes(part);
            System.arraycopy(part, 0, data, mb << 20, part.length);
        }
        data[(5 << 20) + 12345] = 9; // one non-zero byte inside a zero megabyte allocates exactly one cluster
        Files.write(raw, data);

        Run r = cli("convert", "-O", "qed", raw.toString(), p("half.qed"));

        assertThat(r.code()).as(r.err()).isZero();
        Qemu.img("compare", "-f", "raw", "-F", "qed", raw.toString(), p("half.qed")).assertSuccess();
        assertThat(Qemu.img("check", p("half.qed")).exitCode()).isZero();
        assertThat(cli("info", "--output=json", p("half.qed")).out())
                .contains("\"allocated-bytes\": " + ((4L << 20) + 65536));
    }

    @Test
    void convertQedToRawAndToQedWithOtherGeometryKeepsTheGuestContent() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("s.qed"), "5M").assertSuccess();
        Qemu.io("-c", "write -P 0x11 100k 300k", "-c", "write -z 1M 64k", "-c", "write -P 0x22 5119k 1k",
                p("s.qed")).assertSuccess();

        assertThat(cli("convert", p("s.qed"), p("s.raw")).code()).isZero();
        assertThat(cli("convert", "-f", "qed", "-O", "qed", "-t", "writeback", "-o", "cluster_size=4096,table_size=2",
                p("s.qed"), p("s4k.qed")).code()).isZero();
        assertThat(cli("convert", "-O", "qed", "-t", "UNSAFE", p("s.qed"), p("unsafe.qed")).code()).isZero();
        Run badCache = cli("convert", "-t", "none", p("s.qed"), p("never.raw"));
        assertThat(badCache.code()).isEqualTo(1);
        assertThat(badCache.err()).contains("cache mode 'none'");

        Qemu.img("compare", "-f", "qed", "-F", "raw", p("s.qed"), p("s.raw")).assertSuccess();
        Qemu.img("compare", "-f", "qed", "-F", "qed", p("s.qed"), p("s4k.qed")).assertSuccess();
        assertThat(Qemu.img("check", p("s4k.qed")).exitCode()).isZero();
        Qemu.img("compare", "-f", "qed", "-F", "qed", p("s.qed"), p("unsafe.qed")).assertSuccess();
        assertThat(Qemu.img("check", p("unsafe.qed")).exitCode()).isZero();
        assertThat(Qemu.img("info", "--output=json", p("s4k.qed")).stdout()).contains("\"cluster-size\": 4096");
        assertThat(dir.resolve("s.raw")).hasSize(5 << 20);
    }

    @Test
    void demoVerifiesEveryStepThroughTheFileSystemAndExitsZero() {
        Run r = cli("demo");
        assertThat(r.code()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("through a FileChannel of the qed: file system")
                .contains("identical to the raw model").contains("check: no errors")
                .contains("demo: all steps verified");
    }

    @Test
    void demoViaTheEngineVerifiesEveryStepToo() {
        Run r = cli("demo", "--via", "engine", "--writes", "50");
        assertThat(r.code()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("through the QedImage engine").contains("demo: all steps verified");
    }

    @Test
    void demoExitsNonzeroWhenTheDiskReturnsWrongData() {
        GuestDisk.Opener lying = (image, readOnly) -> new GuestDisk() {
            private final GuestDisk real = EngineGuestDisk.OPENER.open(image, readOnly);

            @Override
            public long size() throws IOException {
                return real.size();
            }

            @Override
            public void write(ByteBuffer src, long position) throws IOException {
                real.write(src, position);
            }

            @Override
            public void readFully(ByteBuffer dst, long position) throws IOException {
                int start = dst.position();
                real.readFully(dst, position);
                if (position == 0) {
                    dst.put(start + 1, (byte) (dst.get(start + 1) ^ 1));
                }
            }

            @Override
            public void flush() throws IOException {
                real.flush();
            }

            @Override
            public void close() throws IOException {
                real.close();
            }
        };
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = new picocli.CommandLine(new DemoCommand(lying)).setOut(new PrintWriter(out))
                .setErr(new PrintWriter(err))
                .setExecutionExceptionHandler((ex, cl, pr) -> {
                    err.write(QedCli.describe(ex));
                    return 1;
                }).execute();
        assertThat(code).isEqualTo(1);
        assertThat(err.toString()).contains("verification failed while open: guest byte 1 differs");
        assertThat(out.toString()).doesNotContain("all steps verified");
    }

    @Test
    void errorsPrintOneLineWithoutAStackTraceAndExitNonzero() throws IOException {
        Run missing = cli("info", p("missing.qed"));
        assertThat(missing.code()).isEqualTo(1);
        assertThat(missing.err()).isEqualTo("qed: " + p("missing.qed") + ": no such file" + System.lineSeparator());

        Files.write(dir.resolve("notqed.bin"), new byte[4096]);
        Run notQed = cli("info", "-f", "qed", p("notqed.bin"));
        assertThat(notQed.code()).isEqualTo(1);
        assertThat(notQed.err()).startsWith("qed: ").doesNotContain("\tat ").hasLineCount(1);

        assertThat(cli("create", p("x.qed"), "1G").code()).isZero();
        Run exists = cli("create", p("x.qed"), "1G");
        assertThat(exists.code()).isEqualTo(1);
        assertThat(exists.err()).contains("already exists").hasLineCount(1);

        Run badGeometry = cli("create", p("y.qed"), "1G", "-o", "cluster_size=3000");
        assertThat(badGeometry.code()).isEqualTo(1);
        assertThat(badGeometry.err()).contains(p("y.qed") + ": cluster_size 3000").hasLineCount(1);
        assertThat(dir.resolve("y.qed")).doesNotExist();
    }

    private static void setNeedCheck(Path img) throws IOException {
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, 0x10);
            long features = b.getLong(0) | 0x2;
            ch.write(b.clear().putLong(0, features), 0x10);
        }
    }

    @Test
    void mapThroughAQcow2BasePrintsWhatQemuImgMapPrints() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-q", "-f", "qcow2", p("plain.qcow2"), "2M").assertSuccess();
        Qemu.io("-f", "qcow2", "-c", "write -P 1 0 64k", "-c", "write -z 128k 64k", "-c", "write -P 2 1M 4k",
                p("plain.qcow2")).assertSuccess();
        Qemu.img("convert", "-c", "-O", "qcow2", p("plain.qcow2"), p("comp.qcow2")).assertSuccess();
        for (String base : new String[] {"plain.qcow2", "comp.qcow2"}) {
            String ov = "ov-" + base + ".qed";
            Qemu.img("create", "-q", "-f", "qed", "-b", base, "-F", "qcow2", p(ov)).assertSuccess();
            Qemu.io("-f", "qed", "-c", "write -P 3 64k 4k", p(ov)).assertSuccess();
            if (base.equals("plain.qcow2")) {
                assertMapLikeQemuImg(ov);
            } else {
                // Compressed clusters have no host offset: JSON omits it, the human format refuses, as QEMU does.
                Run json = cli("map", "--output=json", p(ov));
                assertThat(json.code()).as(json.err()).isZero();
                assertThat(json.out()).isEqualTo(Qemu.img("map", "--output=json", p(ov)).stdout());
                Run human = cli("map", p(ov));
                assertThat(human.code()).isNotZero();
                assertThat(human.err()).contains("compressed clusters");
                assertThat(Qemu.img("map", p(ov)).exitCode()).isNotZero();
            }
        }
    }

    /** {@code qed map} prints, human and JSON, character for character what {@code qemu-img map} prints. */
    private void assertMapLikeQemuImg(String image) {
        for (String output : new String[] {"human", "json"}) {
            Run r = cli("map", "--output=" + output, p(image));
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(r.out()).isEqualTo(Qemu.img("map", "--output=" + output, p(image)).stdout());
        }
    }
}
