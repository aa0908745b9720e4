package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** {@code qed io} against the real qemu-io 7.2: the same image bytes, output and exit codes. */
class IoCommandTest {
    @TempDir
    Path dir;

    /** qemu-io's statistics line, whose time and rates vary from run to run. */
    private static final String STATS =
            "(?m)^(\\S+ \\S+|\\S+ bytes), 1 ops; \\d+[.:][\\d:.]+( sec)? \\(.*/sec and .* ops/sec\\)$";

    private String p(String name) {
        return dir.resolve(name).toString();
    }

    private static QedCliTest.Run qed(String... args) {
        return QedCliTest.cli(args);
    }

    private static String[] ioArgs(List<String> commands, String image) {
        List<String> args = new ArrayList<>(List.of("io", "-f", "qed"));
        commands.forEach(c -> args.addAll(List.of("-c", c)));
        args.add(image);
        return args.toArray(String[]::new);
    }

    private static String[] qemuIoArgs(List<String> commands, String image) {
        List<String> args = new ArrayList<>(List.of("-f", "qed"));
        commands.forEach(c -> args.addAll(List.of("-c", c)));
        args.add(image);
        return args.toArray(String[]::new);
    }

    static Stream<Arguments> twins() {
        return Stream.of(
                Arguments.of("64M", List.of(), List.of("write -P 0xab 0 64k", "write 1M 4k",
                        "write -z 2M 128k", "write -P 7 100 1000", "flush", "read -P 0xab 0 100", "map")),
                Arguments.of("1G", List.of("cluster_size=4k", "table_size=8"), List.of("write -P 1 512M 3k",
                        "write -P 2 0 1M", "write -z 4k 8k", "write -P 3 1023M 1M", "write -P 4 600M 12345",
                        "map")),
                Arguments.of("100M", List.of("cluster_size=1M", "table_size=16"), List.of(
                        "write -P 0x55 50M 2M", "write -z 0 4M", "write -P 0xaa 1000k 24k", "write -z 60M 10",
                        "read -v 1000k 40", "map")),
                Arguments.of("256M", List.of("cluster_size=64k", "table_size=2"), List.of(
                        "write -P 9 200M 64k", "write -P 8 1 1", "w -P 010 128M 4097", "write -z 64k 64k")),
                Arguments.of("8M", List.of("cluster_size=16k", "table_size=2"), List.of(
                        "write -P 0xfe 8M 0", "write -P 0xfe 7M 1M", "write -z 7M 16k", "write 0 3M")));
    }

    @ParameterizedTest(name = "{0} {1}: {2}")
    @MethodSource("twins")
    void imageWrittenByQedIoIsByteForByteTheOneQemuIoWrites(String size, List<String> options, List<String> commands)
            throws IOException {
        List<String> createArgs = new ArrayList<>(List.of("create", p("ours.qed"), size));
        if (!options.isEmpty()) {
            createArgs.addAll(List.of("-o", String.join(",", options)));
        }
        assertThat(qed(createArgs.toArray(String[]::new)).code()).isZero();
        QedCliTest.Run ours = qed(ioArgs(commands, p("ours.qed")));
        assertThat(ours.code()).as(ours.out() + ours.err()).isZero();
        if (!Qemu.crossChecks()) {
            return;
        }
        List<String> qemuCreate = new ArrayList<>(List.of("create", "-f", "qed"));
        if (!options.isEmpty()) {
            qemuCreate.addAll(List.of("-o", String.join(",", options)));
        }
        qemuCreate.addAll(List.of(p("theirs.qed"), size));
        Qemu.img(qemuCreate.toArray(String[]::new)).assertSuccess();
        Qemu.Result theirs = Qemu.io(qemuIoArgs(commands, p("theirs.qed"))).assertSuccess();

        assertThat(Files.mismatch(dir.resolve("ours.qed"), dir.resolve("theirs.qed"))).as("first differing byte")
                .isEqualTo(-1);
        assertThat(Qemu.img("compare", "-f", "qed", "-F", "qed", p("ours.qed"), p("theirs.qed")).stdout())
                .contains("Images are identical.");
        assertThat(normalized(ours.out())).isEqualTo(normalized(theirs.stdout()));
        assertThat(ours.err()).isEqualTo(theirs.stderr());
    }

    @Test
    void overlayWrittenByQedIoIsByteForByteTheOneQemuIoWritesWithCopyOnWriteAndMap() throws IOException {
        byte[] base = new byte[4 << 20];
        new java.util.Random(11).nextBytes(base);
        Files.write(dir.resolve("base.raw"), base);
        List<String> commands = List.of("write -P 1 1000 10", "write -z 1M 64k", "write -P 2 3M 70000",
                "read -P 1 1000 10", "map");
        assertThat(qed("create", "-b", "base.raw", "-F", "raw", p("ours.qed")).code()).isZero();
        QedCliTest.Run ours = qed(ioArgs(commands, p("ours.qed")));
        assertThat(ours.code()).as(ours.out() + ours.err()).isZero();
        assertThat(ours.out()).contains("64 KiB (0x10000) bytes     allocated at offset 0 bytes (0x0)\n");
        if (!Qemu.crossChecks()) {
            return;
        }
        Qemu.img("create", "-f", "qed", "-b", "base.raw", "-F", "raw", p("theirs.qed")).assertSuccess();
        Qemu.Result theirs = Qemu.io(qemuIoArgs(commands, p("theirs.qed"))).assertSuccess();
        assertThat(Files.mismatch(dir.resolve("ours.qed"), dir.resolve("theirs.qed"))).isEqualTo(-1);
        assertThat(normalized(ours.out())).isEqualTo(normalized(theirs.stdout()));
    }

    private static String normalized(String out) {
        return out.replaceAll(STATS, "$1, 1 ops; TIME (RATES)");
    }

    @Test
    void outputHasQemuIosTwoReportLines() throws IOException {
        assertThat(qed("create", p("a.qed"), "1M").code()).isZero();
        QedCliTest.Run r = qed("io", "-c", "write -P 0xab 1000 100", "-c", "write 0 1.5k", "-c", "read -q 0 1",
                p("a.qed"));
        assertThat(r.code()).isZero();
        assertThat(r.out().lines().toList()).hasSize(4);
        assertThat(r.out().lines().toList().get(0)).isEqualTo("wrote 100/100 bytes at offset 1000");
        assertThat(r.out().lines().toList().get(1)).matches("100 bytes, 1 ops; \\d\\d\\.\\d\\d sec"
                + " \\([\\d.]+ (bytes|KiB|MiB|GiB|TiB)/sec and \\d+\\.\\d{4} ops/sec\\)");
        assertThat(r.out().lines().toList().get(3)).startsWith("1.500 KiB, 1 ops; ");
    }

    @Test
    void readPatternMismatchExitsOneAndNamesTheOffsetAndTheFirstDifferingByte() throws IOException {
        assertThat(qed("create", p("m.qed"), "1M").code()).isZero();
        assertThat(qed("io", "-c", "write -P 0xab 0 64k", "-c", "write -P 0x11 5000 1", p("m.qed")).code()).isZero();

        QedCliTest.Run r = qed("io", "-c", "read -P 0xab 4096 4096", "-c", "read -P 0xab 0 4096", p("m.qed"));

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.out()).startsWith("Pattern verification failed at offset 4096, 4096 bytes\n"
                + "read 4096/4096 bytes at offset 4096\n");
        assertThat(r.out()).contains("read 4096/4096 bytes at offset 0\n"); // the next command still ran
        assertThat(r.err()).isEqualTo("first mismatch at offset 5000: expected 0xab, found 0x11\n");
        if (Qemu.crossChecks()) {
            Qemu.Result q = Qemu.io("-f", "qed", "-c", "read -P 0xab 4096 4096", "-c", "read -P 0xab 0 4096",
                    p("m.qed"));
            assertThat(q.exitCode()).isEqualTo(1);
            assertThat(normalized(r.out())).isEqualTo(normalized(q.stdout()));
        }
    }

    @Test
    void refusedCommandsPrintQemuIosMessagesAndExitOne() throws IOException {
        List<String> bad = List.of("write -P 0x1ab 0 512", "write -P abc 0 512", "write 0 1.5", "write 0 1KiB",
                "write 8e 1", "write 0 3g", "read 0 3g", "write 0 2M", "write 1023k 2k", "read 1m 1", "write 0",
                "write -P 1 0 512 extra", "write -x 0 1", "read -v -x 0 1", "write -P", "bogus", "map extra",
                "flush x", "write -z -P 1 0 1", "write -u 0 512", "read -s 5 0 512", "read -P 0 -l 600 0 512",
                "write -- -1 512", "write 0 -5");
        assertThat(qed("create", p("e.qed"), "1M").code()).isZero();
        for (String c : bad) {
            QedCliTest.Run r = qed("io", "-c", c, p("e.qed"));
            assertThat(r.code()).as(c).isEqualTo(1);
            if (Qemu.crossChecks()) {
                Qemu.Result q = Qemu.io("-f", "qed", "-c", c, p("e.qed"));
                assertThat(q.exitCode()).as(c).isEqualTo(1);
                assertThat(r.out()).as(c).isEqualTo(q.stdout());
                assertThat(r.err()).as(c).isEqualTo(q.stderr());
            }
        }
    }

    @Test
    void readOnlyRefusesWritesAndChangesNoByte() throws IOException {
        assertThat(qed("create", p("r.qed"), "1M").code()).isZero();
        byte[] before = Files.readAllBytes(dir.resolve("r.qed"));
        QedCliTest.Run r = qed("io", "-r", "-c", "write 0 512", "-c", "read -P 0 0 512", p("r.qed"));
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("Block node is read-only");
        assertThat(r.out()).startsWith("read 512/512 bytes at offset 0");
        assertThat(Files.readAllBytes(dir.resolve("r.qed"))).isEqualTo(before);
    }

    @Test
    void discardMakesTheRangeReadAsZerosAndLeavesItsNeighbours() throws IOException {
        assertThat(qed("create", p("d.qed"), "1M").code()).isZero();
        QedCliTest.Run r = qed("io", "-c", "write -P 1 0 192k", "-c", "discard 64k 64k", "-c", "discard -q 0 4k",
                "-c", "read -P 0 64k 64k", "-c", "read -P 0 0 4k", "-c", "read -P 1 4k 60k", "-c", "read -P 1 128k 64k",
                p("d.qed"));
        assertThat(r.code()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("discard 65536/65536 bytes at offset 65536").doesNotContain("bytes at offset 0\n"
                + "discard");
        if (Qemu.crossChecks()) {
            // QEMU reads what we read, and finds no corruption (a freed cluster inside the file is a leak to it).
            Qemu.io("-f", "qed", "-c", "read -P 0 64k 64k", "-c", "read -P 1 4k 60k", "-c", "read -P 1 128k 64k",
                    p("d.qed")).assertSuccess();
            assertThat(Qemu.img("check", p("d.qed")).exitCode()).isIn(0, 3);
            assertThat(Qemu.img("map", "--output=json", p("d.qed")).stdout())
                    .contains("{ \"start\": 65536, \"length\": 65536, \"depth\": 0, \"present\": false, \"zero\": true,"
                            + " \"data\": false}");
        }
    }

    @Test
    void anotherFormatThanQedIsRefused() throws IOException {
        assertThat(qed("create", p("f.qed"), "1M").code()).isZero();
        QedCliTest.Run r = qed("io", "-f", "raw", "-c", "map", p("f.qed"));
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("qed io opens QED images only");
    }
}
