package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code qed convert-in-place}: dry run, conversion both ways, progress, refusals as one line and exit codes. */
class ConvertInPlaceCommandTest {
    @TempDir
    Path dir;

    private record Run(int code, String out, String err) {
    }

    private static Run cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = QedCli.run(args, new PrintWriter(out), new PrintWriter(err));
        return new Run(code, out.toString(), err.toString());
    }

    @BeforeEach
    void needQemu() {
        Qemu.assumeAvailable();
    }

    @Test
    void dryRunReportsTheGrowthThenConversionDoesItAndQemuAgrees() throws IOException {
        Path image = dir.resolve("a.qed");
        Qemu.img("create", "-f", "qed", image.toString(), "256M").assertSuccess();
        Qemu.io("-f", "qed", "-c", "write -P 0x42 0 1M", image.toString()).assertSuccess();
        Path copy = dir.resolve("orig.qed");
        Files.copy(image, copy);
        long before = Files.size(image);

        Run dry = cli("convert-in-place", "--dry-run", "-O", "qcow2", image.toString());
        assertThat(dry.code()).as(dry.err()).isZero();
        assertThat(Files.readAllBytes(image)).isEqualTo(Files.readAllBytes(copy));
        assertThat(dry.out()).contains("would convert qed to qcow2").contains("file size " + before + " -> ");
        long predicted = Long.parseLong(dry.out().replaceAll("(?s).* -> (\\d+) bytes.*", "$1"));

        Run run;
        System.setProperty("qed.progress", "always"); // as on a terminal: the test's stderr is not one
        try {
            run = cli("convert-in-place", "-p", "-O", "qcow2", image.toString());
        } finally {
            System.clearProperty("qed.progress");
        }
        assertThat(run.code()).as(run.err()).isZero();
        assertThat(run.err()).as("the bar, on standard error").contains("(100.00/100%)");
        assertThat(run.out()).contains("converted qed to qcow2");
        assertThat(Files.size(image)).isEqualTo(predicted);
        Qemu.Result check = Qemu.img("check", "-f", "qcow2", "--output=json", image.toString());
        assertThat(check.exitCode()).as(check.stderr()).isZero();
        assertThat(check.stdout()).contains("\"image-end-offset\": " + predicted + ",");
        Qemu.img("compare", "-f", "qcow2", "-F", "qed", image.toString(), copy.toString()).assertSuccess();

        Run again = cli("convert-in-place", "-O", "qcow2", image.toString());
        assertThat(again.code()).isZero();
        assertThat(again.out()).contains("already a qcow2 image");

        Run back = cli("convert-in-place", "-O", "qed", image.toString());
        assertThat(back.code()).as(back.err()).isZero();
        Qemu.img("compare", "-f", "qed", "-F", "qed", image.toString(), copy.toString()).assertSuccess();
    }

    @Test
    void refusalIsOneLineWithNonZeroExitAndTheFileUnchanged() throws IOException {
        Path image = dir.resolve("s.qcow2");
        Qemu.img("create", "-f", "qcow2", image.toString(), "1M").assertSuccess();
        Qemu.img("snapshot", "-c", "snap", image.toString()).assertSuccess();
        byte[] before = Files.readAllBytes(image);
        for (String[] args : new String[][] {{"--dry-run"}, {}}) {
            String[] full = new String[args.length + 4];
            full[0] = "convert-in-place";
            System.arraycopy(args, 0, full, 1, args.length);
            full[args.length + 1] = "-O";
            full[args.length + 2] = "qed";
            full[args.length + 3] = image.toString();
            Run r = cli(full);
            assertThat(r.code()).isNotZero();
            assertThat(r.err().strip()).doesNotContain("\n").startsWith("qed: ").contains("internal snapshots")
                    .contains("qemu-img convert");
            assertThat(Files.readAllBytes(image)).isEqualTo(before);
        }
        Run bad = cli("convert-in-place", "-O", "vmdk", image.toString());
        assertThat(bad.code()).isNotZero();
        assertThat(bad.err()).contains("unknown image format 'vmdk'");
    }

    @Test
    void aDamagedImageAlreadyInTheTargetFormatIsRefusedLikeInfoAndCheckNotReportedDone() throws IOException {
        Path truncated = qedWithData("truncated.qed");
        try (FileChannel ch = FileChannel.open(truncated, StandardOpenOption.WRITE)) {
            ch.truncate(100);
        }
        Path pastEnd = qedWithData("past-end.qed"); // L1[0] points past the end of the file
        putLong(pastEnd, 0x10000, ByteOrder.LITTLE_ENDIAN, 0x2000000);
        Path garbage = dir.resolve("garbage.qed"); // QED's magic, then a cluster size of 0
        byte[] head = new byte[4096];
        System.arraycopy("QED\0".getBytes(StandardCharsets.US_ASCII), 0, head, 0, 4);
        Files.write(garbage, head);
        Path shortQcow2 = dir.resolve("short.qcow2");
        Qemu.img("create", "-f", "qcow2", shortQcow2.toString(), "1M").assertSuccess();
        try (FileChannel ch = FileChannel.open(shortQcow2, StandardOpenOption.WRITE)) {
            ch.truncate(50);
        }
        Path badL1 = dir.resolve("bad-l1.qcow2");
        Qemu.img("create", "-f", "qcow2", badL1.toString(), "4M").assertSuccess();
        Qemu.io("-f", "qcow2", "-c", "write -P 1 0 64k", badL1.toString()).assertSuccess();
        long l1 = ByteBuffer.wrap(Files.readAllBytes(badL1), 40, 8).getLong();
        putLong(badL1, l1, ByteOrder.BIG_ENDIAN, (1L << 63) | 0x10000000L);

        Path dirtyCorrupt = qedWithData("dirty-corrupt.qed"); // NEED_CHECK, and an L2 entry past the end
        putLong(dirtyCorrupt, 16, ByteOrder.LITTLE_ENDIAN, 2);
        putLong(dirtyCorrupt, 0x60000 + 160 * 8, ByteOrder.LITTLE_ENDIAN, 0x1000000);
        Path markedCorrupt = dir.resolve("marked.qcow2");
        Qemu.img("create", "-f", "qcow2", markedCorrupt.toString(), "1M").assertSuccess();
        putLong(markedCorrupt, 72, ByteOrder.BIG_ENDIAN, 2); // incompatible_features: the corrupt bit

        for (Path image : List.of(truncated, pastEnd, garbage, dirtyCorrupt)) {
            Run info = cli("info", image.toString());
            Run check = cli("check", image.toString());
            assertThat(info.code() != 0 || check.code() != 0).as("%s is damaged", image).isTrue();
            assertRefused(image, "qed", info.code() != 0 ? info.err() : null);
        }
        assertRefused(shortQcow2, "qcow2", null);
        assertRefused(badL1, "qcow2", null);
        assertRefused(markedCorrupt, "qcow2", null);
        assertThat(Qemu.img("check", badL1.toString()).exitCode()).as("qemu-img check finds it corrupt").isEqualTo(2);
    }

    /** Both a dry run and a conversion to {@code format} fail with one line naming the file (infosError, if given). */
    private void assertRefused(Path image, String format, String infosError) throws IOException {
        byte[] before = Files.readAllBytes(image);
        for (boolean dry : new boolean[] {true, false}) {
            Run r = dry ? cli("convert-in-place", "--dry-run", "-O", format, image.toString())
                    : cli("convert-in-place", "-O", format, image.toString());
            assertThat(r.code()).as("%s: %s%s", image, r.out(), r.err()).isEqualTo(1);
            assertThat(r.out()).isEmpty();
            assertThat(r.err().strip()).doesNotContain("\n").startsWith("qed: " + image);
            if (infosError != null) {
                assertThat(r.err()).isEqualTo(infosError);
            }
            assertThat(Files.readAllBytes(image)).isEqualTo(before);
        }
    }

    private Path qedWithData(String name) {
        Path p = dir.resolve(name);
        Qemu.img("create", "-f", "qed", p.toString(), "1G").assertSuccess();
        Qemu.io("-f", "qed", "-c", "write -P 1 0 64k", "-c", "write -P 3 10M 64k", p.toString()).assertSuccess();
        return p;
    }

    private static void putLong(Path p, long offset, ByteOrder order, long value) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(order).putLong(0, value), offset);
        }
    }
}
