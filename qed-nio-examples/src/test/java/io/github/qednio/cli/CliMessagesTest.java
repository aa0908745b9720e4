package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A failure speaks to a shell user: one line naming the file and the command-line option, never a Java name. */
class CliMessagesTest {
    /** What a Java caller reads in the library's messages and a shell user must not. */
    private static final List<Pattern> JAVA = List.of(Pattern.compile("with[A-Z]"), Pattern.compile("\\(\\)"),
            Pattern.compile("env create"), Pattern.compile("clusterSize"), Pattern.compile("tableSize"),
            Pattern.compile("backingFile"), Pattern.compile("[A-Z][a-z]+Options\\b"),
            Pattern.compile("\\b[a-z]+Exception\\b"));

    @TempDir
    Path dir;

    private String p(String name) {
        return dir.resolve(name).toString();
    }

    /** Runs a failing command and returns its one line without "qed: " and the line end. */
    private static String failure(String... args) {
        Run r = QedCliTest.cli(args);
        assertThat(r.code()).as("%s: %s", List.of(args), r.err()).isNotZero();
        assertThat(r.err()).as("%s", List.of(args)).startsWith("qed: ").endsWith(System.lineSeparator())
                .hasLineCount(1);
        String line = r.err().substring("qed: ".length()).strip();
        for (Pattern java : JAVA) {
            assertThat(line).as("%s", List.of(args)).doesNotContainPattern(java);
        }
        return line;
    }

    @Test
    void geometryRefusalsNameTheFileAndTheOptionOfMinusO() {
        assertThat(failure("create", "-o", "cluster_size=3", p("a.qed"), "1M")).startsWith(p("a.qed") + ": ")
                .contains("cluster_size 3 is not a power of two");
        assertThat(failure("create", "-o", "table_size=3", p("a.qed"), "1M")).startsWith(p("a.qed") + ": ")
                .contains("table_size 3 is not a power of two");
        assertThat(failure("create", "-o", "cluster_size=4k,table_size=1", p("a.qed"), "1M"))
                .startsWith(p("a.qed") + ": ").contains("cluster_size 4096 with table_size 1")
                .contains("QEMU 7.2 cannot open");
        QedCliTest.cli("create", p("src.qed"), "1M");
        assertThat(failure("convert", "-O", "qed", "-o", "cluster_size=4k,table_size=1", p("src.qed"), p("b.qed")))
                .startsWith(p("b.qed") + ": ").contains("cluster_size 4096 with table_size 1");
        assertThat(failure("pack", "-o", "cluster_size=3", p("src.qed"), p("p.qed")))
                .startsWith(p("p.qed") + ": ").contains("cluster_size 3 is not a power of two");
        assertThat(failure("create", p("big.qed"), "65T")).startsWith(p("big.qed") + ": ")
                .contains("size 71468255805440 is not in [0, 70368744177664]").contains("cluster_size 65536");
        assertThat(failure("create", "-b", "x".repeat(5000), "-F", "raw", p("b.qed"), "1M"))
                .startsWith(p("b.qed") + ": ").contains("backing_file name of 5000 bytes is too long");
        assertThat(dir.resolve("a.qed")).doesNotExist();
    }

    @Test
    void resizeRefusalsNameTheFileAndShrink() {
        QedCliTest.cli("create", p("r.qed"), "1M");
        assertThat(failure("resize", p("r.qed"), "512K")).startsWith(p("r.qed") + ": ").contains("--shrink");
        assertThat(failure("resize", p("r.qed"), "2000001")).startsWith(p("r.qed") + ": ")
                .contains("new size 2000001 must be a multiple of 512").doesNotContain("only grow");
    }

    @Test
    void aMissingImageOrADirectoryIsNamed() throws IOException {
        assertThat(failure("unpack", p("missing.qed"), p("out"))).isEqualTo(p("missing.qed") + ": no such file");
        Path d = Files.createDirectory(dir.resolve("d"));
        for (String command : List.of("info", "check", "map", "compact", "measure")) {
            assertThat(failure(command, d.toString())).as(command)
                    .isEqualTo(d + ": is a directory, not an image file");
        }
        assertThat(failure("io", "-c", "read 0 1", d.toString())).isEqualTo(d + ": is a directory, not an image file");
    }

    @Test
    void aBackingChainOverTheLimitIsRefusedWithoutTheJavaOptionThatRaisesIt() throws IOException {
        Path below = dir.resolve("c0.qed");
        QedImage.create(below, CreateOptions.ofSize(1 << 20)).close();
        for (int i = 1; i <= OpenOptions.DEFAULT_MAX_CHAIN_DEPTH; i++) {
            Path next = dir.resolve("c" + i + ".qed");
            QedImage.create(next, CreateOptions.overlay(below.getFileName().toString(), ImageFormat.QED)).close();
            below = next;
        }
        assertThat(failure("create", "-b", below.getFileName().toString(), "-F", "qed", p("top.qed")))
                .contains(": backing chain is deeper than the limit of " + OpenOptions.DEFAULT_MAX_CHAIN_DEPTH
                        + ": [" + p("top.qed") + ", ");
    }
}
