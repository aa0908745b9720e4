package io.github.qednio.cli;

import static io.github.qednio.cli.QedCliTest.cli;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qed check --output=json} against {@code qemu-img check --output=json} on the corruption matrix of the notes
 * (§11.3): the same text, the same keys (those that are zero left out) in the same order; after
 * {@code qed check -r leaks|all}, every figure is what a fresh {@code qemu-img check} of the file finds. The images
 * are small, so QEMU's false leaks (§11.4) do not occur.
 */
class CheckMatrixTest {
    private static final long L1 = 0x10000;
    private static final long L2 = 0x60000;

    @TempDir
    Path dir;

    /** base1.qed: 1 GiB, writes at 0, 64K and 10M: L2 at 0x60000, data at 0x50000, 0xA0000, 0xB0000. */
    private Path base(String name) {
        Path p = dir.resolve(name);
        Qemu.img("create", "-f", "qed", p.toString(), "1G").assertSuccess();
        Qemu.io("-c", "write -P 1 0 64k", "-c", "write -P 2 64k 64k", "-c", "write -P 3 10M 64k", p.toString())
                .assertSuccess();
        return p;
    }

    static void put(Path p, long offset, long value) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value), offset);
        }
    }

    static void truncate(Path p, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        }
    }

    private static void append(Path p, int bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(bytes), ch.size());
        }
    }

    private static void assertSameCheck(Path p) {
        Qemu.Result q = Qemu.img("check", "--output=json", p.toString());
        Run ours = cli("check", "--output=json", p.toString());
        assertThat(ours.code()).as(p + ": " + q.stdout()).isEqualTo(q.exitCode());
        assertThat(ours.out()).as("check --output=json of %s", p).isEqualTo(q.stdout());
    }

    @Test
    void tableEntriesPastTheEndMisalignedOrOneAgreeWithQemuImgCheck() throws IOException {
        Qemu.assumeAvailable();
        Path c1 = base("c1.qed");
        put(c1, L2 + 160 * 8, 0x1000000);
        assertSameCheck(c1);
        Path c2 = base("c2.qed");
        put(c2, L2 + 160 * 8, 0xB0800);
        assertSameCheck(c2);
        Path c3 = base("c3.qed");
        put(c3, L1 + 8, 0x2000000);
        assertSameCheck(c3);
        Path c10 = base("c10.qed");
        put(c10, L1 + 8, 1);
        assertSameCheck(c10);
        Path c12 = base("c12.qed");
        put(c12, L2 + 5 * 8, 1);
        assertSameCheck(c12);
    }

    @Test
    void truncatedAndExtendedFilesAgreeWithQemuImgCheck() throws IOException {
        Qemu.assumeAvailable();
        Path c8 = base("c8.qed");
        truncate(c8, 0x90000);
        assertSameCheck(c8);
        Path c16 = base("c16.qed");
        truncate(c16, 0xB8000);
        assertSameCheck(c16);
        Path c9 = base("c9.qed");
        append(c9, 100);
        assertSameCheck(c9);
        Path c7 = base("c7.qed");
        append(c7, 2 * 65536);
        assertSameCheck(c7);
        assertSameCheck(base("clean.qed"));
    }

    /** The figures of {@code qemu-img check --output=json}, zero for the keys it leaves out. */
    private static Map<String, String> qemuCheck(Path p) {
        Qemu.Result q = Qemu.img("check", "-f", "qed", "--output=json", p.toString());
        assertThat(q.stderr()).as("qemu-img check %s", p).isEmpty();
        return QemuJson.object(q.stdout());
    }

    private static long figure(Map<String, String> json, String key) {
        return Long.parseLong(json.getOrDefault(key, "0"));
    }

    /** Notes §11.3 case c1: L2[160] points past the end of the file, leaking the cluster it pointed at. */
    private Path c1(String name) throws IOException {
        Path p = base(name);
        put(p, L2 + 160 * 8, 0x1000000);
        return p;
    }

    /** Notes §11.3 base1 with a leak in the middle of the file: the cluster at 0xA0000 unreferenced. */
    private Path leakInTheMiddle(String name) throws IOException {
        Path p = base(name);
        put(p, L2 + 8, 0);
        return p;
    }

    @Test
    void theFiguresOfARepairAreThoseOfAFreshQemuImgCheckOfTheFile() throws IOException {
        Qemu.assumeAvailable();
        for (String mode : new String[] {"leaks", "all"}) {
            Map<String, Path> images = new java.util.LinkedHashMap<>();
            images.put("clean", base(mode + "-clean.qed"));
            images.put("middle", leakInTheMiddle(mode + "-middle.qed"));
            images.put("c1", c1(mode + "-c1.qed"));
            Path c4 = base(mode + "-c4.qed");
            put(c4, L2 + 160 * 8, 0x50000);
            images.put("c4", c4);
            Path c7 = base(mode + "-c7.qed");
            append(c7, 2 * 65536);
            images.put("c7", c7);
            Path c11 = base(mode + "-c11.qed");
            put(c11, L1, 0x60008);
            images.put("c11", c11);
            for (Map.Entry<String, Path> e : images.entrySet()) {
                Path p = e.getValue();
                String context = "-r " + mode + " on " + e.getKey();
                Map<String, String> before = qemuCheck(p);
                Run ours = cli("check", "-r", mode, "--output=json", p.toString());
                Map<String, String> after = qemuCheck(p);
                Map<String, String> mine = QemuJson.object(ours.out());
                for (String key : new String[] {"check-errors", "corruptions", "leaks", "total-clusters",
                        "allocated-clusters", "fragmented-clusters"}) {
                    assertThat(figure(mine, key)).as("%s: %s; qemu-img check after: %s", context, key, after)
                            .isEqualTo(figure(after, key));
                }
                assertThat(figure(mine, "leaks-fixed")).as("%s: leaks-fixed; before %s, after %s", context, before,
                        after).isEqualTo(figure(before, "leaks") - figure(after, "leaks"));
                assertThat(figure(mine, "corruptions-fixed")).as("%s: corruptions-fixed; before %s, after %s",
                        context, before, after).isEqualTo(figure(before, "corruptions") - figure(after, "corruptions"));
                int qemuCode = Qemu.img("check", "-f", "qed", p.toString()).exitCode();
                assertThat(ours.code()).as("%s: exit code; %s", context, ours.err()).isEqualTo(qemuCode);
            }
        }
    }

    @Test
    void repairOfLeaksKeepsACorruptionWhichRepairOfAllFixes() throws IOException {
        Qemu.assumeAvailable();
        Path c1 = c1("c1.qed");
        byte[] corrupted = java.nio.file.Files.readAllBytes(c1);

        Run leaks = cli("check", "-r", "leaks", c1.toString());

        Qemu.Result q = Qemu.img("check", "-f", "qed", c1.toString());
        assertThat(leaks.code()).as(leaks.err()).isEqualTo(2).isEqualTo(q.exitCode());
        assertThat(leaks.out()).as("nothing repaired: what qemu-img check says of the file").isEqualTo(q.stdout())
                .contains("1 errors were found on the image.").contains("1 leaked clusters were found on the image.");
        assertThat(java.nio.file.Files.readAllBytes(c1)).as("the file").isEqualTo(corrupted);

        Run all = cli("check", "-r", "all", c1.toString());

        assertThat(all.code()).as(all.out() + all.err()).isZero();
        assertThat(all.out()).startsWith("The following inconsistencies were found and repaired:\n\n"
                + "    1 leaked clusters\n    1 corruptions\n\nDouble checking the fixed image now...\n"
                + "No errors were found on the image.\n");
        Qemu.Result again = Qemu.img("check", "-f", "qed", c1.toString());
        assertThat(again.exitCode()).as(again.stdout()).isZero();
    }

    /** The converted image's L1 table lies at the end of the file: the repair has to move it too. */
    @Test
    void repairOfLeaksOfAnImageConvertedInPlaceLeavesNoLeakAndTheSameContent() throws IOException {
        Qemu.assumeAvailable();
        Path image = dir.resolve("converted.img");
        Qemu.img("create", "-f", "qcow2", image.toString(), "64M").assertSuccess();
        Qemu.io("-f", "qcow2", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 20M 512k", "-c",
                "write -P 0x33 40M 64k", image.toString()).assertSuccess();
        Path original = dir.resolve("original.qcow2");
        java.nio.file.Files.copy(image, original);
        Run converted = cli("convert-in-place", "-O", "qed", image.toString());
        assertThat(converted.code()).as(converted.err()).isZero();
        assertThat(figure(qemuCheck(image), "leaks")).as("the old qcow2 metadata, leaked in the middle").isPositive();

        Run r = cli("check", "-r", "leaks", image.toString());

        assertThat(r.code()).as(r.out() + r.err()).isZero();
        Qemu.Result q = Qemu.img("check", "-f", "qed", image.toString());
        assertThat(q.exitCode()).as(q.stdout()).isZero();
        assertThat(q.stdout()).startsWith("No errors were found on the image.");
        Qemu.img("compare", "-f", "qed", "-F", "qcow2", image.toString(), original.toString()).assertSuccess();
    }

    @Test
    void repairModeErrorsIsRefusedAsQemuImgRefusesIt() throws IOException {
        Qemu.assumeAvailable();
        Path c1 = c1("c1.qed");
        byte[] corrupted = java.nio.file.Files.readAllBytes(c1);
        for (String mode : new String[] {"errors", "bogus"}) {
            Qemu.Result q = Qemu.img("check", "-r", mode, c1.toString());
            Run ours = cli("check", "-r", mode, c1.toString());
            assertThat(ours.code()).as(mode).isEqualTo(q.exitCode()).isEqualTo(1);
            assertThat(ours.out()).isEqualTo(q.stdout()).isEmpty();
            assertThat(ours.err()).as(mode).isEqualTo(q.stderr().replace("qemu-img", "qed"));
        }
        assertThat(java.nio.file.Files.readAllBytes(c1)).as("the file").isEqualTo(corrupted);
    }
}
