package io.github.qednio.cli;

import static io.github.qednio.cli.QedCliTest.cli;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code qed compare} prints what {@code qemu-img compare} prints and exits with its code, pair by pair. */
class CompareCommandTest {
    @TempDir
    Path dir;

    private String p(String name) {
        return dir.resolve(name).toString();
    }

    private void assertLikeQemu(String... args) {
        List<String> full = new ArrayList<>(List.of(args));
        full.replaceAll(a -> a.startsWith("-") ? a : p(a));
        Qemu.Result q = Qemu.img(prepend("compare", full));
        Run ours = cli(prepend("compare", full));
        assertThat(ours.code()).as("exit code of %s (qemu: %s%s)", full, q.stdout(), q.stderr())
                .isEqualTo(q.exitCode());
        if (q.exitCode() < 2) {
            assertThat(ours.out()).as("output of %s", full).isEqualTo(q.stdout());
        } else {
            assertThat(ours.err()).startsWith("qed: ").doesNotContain("\tat ");
        }
    }

    private static String[] prepend(String first, List<String> rest) {
        List<String> all = new ArrayList<>();
        all.add(first);
        all.addAll(rest);
        return all.toArray(String[]::new);
    }

    @Test
    void identicalDifferentAndUnreadablePairsGiveQemuImgsMessagesAndExitCodes() throws IOException {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "raw", p("base.raw"), "4M").assertSuccess();
        Qemu.io("-f", "raw", "-c", "write -P 7 1M 64k", p("base.raw")).assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "base.raw", "-F", "raw", p("ov.qed")).assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "base.raw", "-F", "raw", p("changed.qed")).assertSuccess();
        Qemu.io("-c", "write -P 9 70000 10", p("changed.qed")).assertSuccess();
        Qemu.img("create", "-f", "qed", p("zeroed.qed"), "4M").assertSuccess();
        Qemu.io("-c", "write -z 0 64k", p("zeroed.qed")).assertSuccess();
        Qemu.img("create", "-f", "qed", p("empty.qed"), "4M").assertSuccess();
        Qemu.img("create", "-f", "qed", p("longer.qed"), "5M").assertSuccess();
        Qemu.io("-c", "write -P 1 4194305 1", p("longer.qed")).assertSuccess();
        Qemu.img("create", "-f", "qed", p("longzero.qed"), "5M").assertSuccess();
        byte[] garbage = new byte[4096];
        System.arraycopy("QED\0".getBytes(), 0, garbage, 0, 4); // the magic, then a cluster size of 0
        Files.write(dir.resolve("garbage.qed"), garbage);

        assertLikeQemu("base.raw", "ov.qed");
        assertLikeQemu("ov.qed", "base.raw");
        assertLikeQemu("ov.qed", "changed.qed");
        assertLikeQemu("-q", "ov.qed", "changed.qed");
        assertLikeQemu("base.raw", "empty.qed");
        assertLikeQemu("zeroed.qed", "empty.qed");
        assertLikeQemu("-s", "zeroed.qed", "empty.qed");
        assertLikeQemu("-s", "ov.qed", "ov.qed");
        assertLikeQemu("empty.qed", "longer.qed");
        assertLikeQemu("longer.qed", "empty.qed");
        assertLikeQemu("empty.qed", "longzero.qed");
        assertLikeQemu("-s", "empty.qed", "longzero.qed");
        assertLikeQemu("-f", "raw", "-F", "qed", "base.raw", "ov.qed");
        assertLikeQemu("ov.qed", "missing.qed");
        assertLikeQemu("garbage.qed", "ov.qed");
    }

    @Test
    void theJarsMainExitsWithCompareCodes() throws Exception {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("a.qed"), "1M").assertSuccess();
        Qemu.img("create", "-f", "qed", p("b.qed"), "1M").assertSuccess();
        assertThat(MainRunner.run("compare", p("a.qed"), p("b.qed")).code()).isZero();
        Qemu.io("-c", "write -P 1 0 1", p("b.qed")).assertSuccess();
        assertThat(MainRunner.run("compare", p("a.qed"), p("b.qed")).code()).isEqualTo(1);
        assertThat(MainRunner.run("compare", p("a.qed"), p("nope.qed")).code()).isEqualTo(2);
    }
}
