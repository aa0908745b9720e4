package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.testing.Qemu;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every command run as a user runs it: {@code QedCli.main} in its own JVM, exit code from {@code System.exit}. */
class QedMainTest {
    @TempDir
    Path dir;

    private String p(String name) {
        return dir.resolve(name).toString();
    }

    private static Run ok(String... args) throws Exception {
        Run r = MainRunner.run(args);
        assertThat(r.code()).as("%s: %s%s", String.join(" ", args), r.out(), r.err()).isZero();
        return r;
    }

    @Test
    void aSessionWithEveryCommandThroughMain() throws Exception {
        Qemu.assumeAvailable();
        assertThat(ok("create", p("base.qed"), "4M").out()).startsWith("Formatting '" + p("base.qed") + "'");
        Qemu.io("-c", "write -P 5 0 64k", p("base.qed")).assertSuccess();
        ok("create", "-b", "base.qed", "-F", "qed", p("top.qed"));
        Qemu.io("-c", "write -P 6 1M 64k", p("top.qed")).assertSuccess();
        assertThat(ok("resize", p("top.qed"), "+1M").out()).isEqualTo("Image resized.\n");
        assertThat(ok("info", "--output=json", p("top.qed")).out()).contains("\"virtual-size\": 5242880");
        assertThat(ok("check", p("top.qed")).out()).contains("No errors were found on the image.");
        assertThat(ok("map", "--output=json", p("top.qed")).out())
                .isEqualTo(Qemu.img("map", "--output=json", p("top.qed")).stdout());
        ok("convert", "-O", "qed", p("top.qed"), p("flat.qed"));
        assertThat(ok("compare", p("top.qed"), p("flat.qed")).out()).isEqualTo("Images are identical.\n");
        assertThat(ok("measure", "-O", "qed", p("top.qed")).out()).startsWith("required size: ");
        ok("amend", "-o", "backing_fmt=qed", p("top.qed"));
        ok("rebase", "-b", "flat.qed", "-F", "qed", p("top.qed"));
        assertThat(ok("commit", p("top.qed")).out()).isEqualTo("Image committed.\n");
        Qemu.assertCheckClean(dir.resolve("flat.qed"));
        ok("demo", "--writes", "20");
        ok("--help");

        Run failure = MainRunner.run("info", p("missing.qed"));
        assertThat(failure.code()).isEqualTo(1);
        assertThat(failure.err()).isEqualTo("qed: " + p("missing.qed") + ": no such file\n");
        assertThat(MainRunner.run("compare", p("top.qed"), p("missing.qed")).code()).isEqualTo(2);
        assertThat(MainRunner.run("convert", "--help").code()).isZero();
    }
}
