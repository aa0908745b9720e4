package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
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
}
