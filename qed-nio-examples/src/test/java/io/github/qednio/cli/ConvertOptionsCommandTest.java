package io.github.qednio.cli;

import static io.github.qednio.cli.QedCliTest.cli;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convert's -n, --target-is-zero, -S and -p, and the compact QED-to-QED result. */
class ConvertOptionsCommandTest {
    @TempDir
    Path dir;

    private String p(String name) {
        return dir.resolve(name).toString();
    }

    private static void ok(Run r) {
        assertThat(r.code()).as(r.out() + r.err()).isZero();
    }

    private static void assertIdentical(String a, String b) {
        Qemu.Result c = Qemu.img("compare", a, b);
        assertThat(c.stdout()).as(c.stderr()).isEqualTo("Images are identical.\n");
    }

    /** 4 MiB, written back to front, with a zero cluster: allocation order differs from guest order. */
    private void fragmentedSource() {
        Qemu.img("create", "-f", "qed", p("src.qed"), "4M").assertSuccess();
        Qemu.io("-c", "write -P 3 3M 64k", "-c", "write -P 2 2M 64k", "-c", "write -P 1 64k 64k",
                "-c", "write -z 1M 64k", p("src.qed")).assertSuccess();
    }

    @Test
    void qedToQedWritesACompactImageInGuestOrder() throws IOException {
        Qemu.assumeAvailable();
        fragmentedSource();

        ok(cli("convert", "-O", "qed", p("src.qed"), p("dst.qed")));

        assertIdentical(p("src.qed"), p("dst.qed"));
        Qemu.assertCheckClean(dir.resolve("dst.qed"));
        // Header, 4-cluster L1, one L2 table, three data clusters: nothing else.
        assertThat(Files.size(dir.resolve("dst.qed"))).isEqualTo((1 + 4 + 4 + 3) * 65536L);
        String map = Qemu.img("map", "--output=json", p("dst.qed")).stdout();
        long first = Qemu.jsonLong(map.lines().filter(l -> l.contains("\"start\": 65536")).findFirst().orElseThrow(),
                "offset");
        long last = Qemu.jsonLong(map.lines().filter(l -> l.contains("\"start\": 3145728")).findFirst()
                .orElseThrow(), "offset");
        assertThat(first).isLessThan(last);
    }

    @Test
    void existingTargetGetsEveryByteIncludingZerosOverOldData() {
        Qemu.assumeAvailable();
        fragmentedSource();
        Qemu.img("create", "-f", "qed", p("old.qed"), "4M").assertSuccess();
        Qemu.io("-c", "write -P 0x99 0 4M", p("old.qed")).assertSuccess();

        ok(cli("convert", "-n", "-O", "qed", p("src.qed"), p("old.qed")));

        assertIdentical(p("src.qed"), p("old.qed"));
        Qemu.assertCheckClean(dir.resolve("old.qed"));
    }

    @Test
    void targetIsZeroLeavesZeroRegionsUnwrittenAndNeedsN() {
        Qemu.assumeAvailable();
        fragmentedSource();
        Qemu.img("create", "-f", "qed", p("empty.qed"), "4M").assertSuccess();

        ok(cli("convert", "-n", "--target-is-zero", "-O", "qed", p("src.qed"), p("empty.qed")));

        assertIdentical(p("src.qed"), p("empty.qed"));
        Map<String, String> info = QemuJson.object(cli("info", "--output=json", p("empty.qed")).out());
        assertThat(info).containsEntry("allocated-bytes", String.valueOf(3 * 65536));
        Run withoutN = cli("convert", "--target-is-zero", "-O", "qed", p("src.qed"), p("new.qed"));
        assertThat(withoutN.code()).isEqualTo(1);
        assertThat(withoutN.err()).isEqualTo("qed: --target-is-zero requires use of -n flag\n");
        assertThat(dir.resolve("new.qed")).doesNotExist();
    }

    @Test
    void progressPrintsNothingWhenStderrIsNotATerminal() {
        Qemu.assumeAvailable();
        fragmentedSource();
        Run r = cli("convert", "-p", "-O", "raw", p("src.qed"), p("out.raw"));
        ok(r);
        assertThat(r.err()).isEmpty();
        assertIdentical(p("src.qed"), p("out.raw"));
    }

    @Test
    void theProgressBarIsQemuImgsLineRedrawnInPlace() {
        StringWriter s = new StringWriter();
        TerminalProgress bar = new TerminalProgress(new PrintWriter(s));
        bar.update(0, 200);
        bar.update(0, 200);
        bar.update(50, 200);
        bar.update(200, 200);
        assertThat(s.toString()).isEqualTo("    (0.00/100%)\r    (25.00/100%)\r    (100.00/100%)\r"
                + System.lineSeparator());
    }
}
