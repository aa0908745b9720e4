package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** What every command shares: {@code --help}, one-line errors, {@code --debug}. */
class CliStructureTest {
    @TempDir
    Path dir;

    @Test
    void helpOfEveryCommandPrintsItsUsageAndExitsZeroEvenWithoutItsRequiredParameters() {
        Set<String> commands = new CommandLine(new QedCli()).getSubcommands().keySet();
        assertThat(commands).contains("create", "info", "check", "map", "convert", "compare", "resize", "commit",
                "rebase", "amend", "measure");
        for (String command : commands) {
            if (command.equals("help")) {
                continue; // picocli's own "qed help COMMAND"
            }
            Run r = QedCliTest.cli(command, "--help");
            assertThat(r.code()).as(command + ": " + r.err()).isZero();
            assertThat(r.out()).as(command).startsWith("Usage: qed " + command);
            assertThat(r.err()).as(command).isEmpty();
        }
    }

    @Test
    void aFailurePrintsOneLineWithoutAStackTraceAndDebugAddsTheTrace() {
        String missing = dir.resolve("missing.qed").toString();
        Run plain = QedCliTest.cli("info", missing);
        assertThat(plain.code()).isEqualTo(1);
        assertThat(plain.err()).isEqualTo("qed: " + missing + ": no such file" + System.lineSeparator());

        Run debug = QedCliTest.cli("info", "--debug", missing);
        assertThat(debug.code()).isEqualTo(1);
        assertThat(debug.err()).startsWith("qed: " + missing + ": no such file")
                .contains("java.nio.file.NoSuchFileException").contains("\tat ");
    }

    @Test
    void aUsageMistakePrintsOneLineNamingTheCommandsHelpAndExitsTwo() {
        Run r = QedCliTest.cli("info", "--bogus", "x");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).isEqualTo("qed: Unknown option: '--bogus' (see 'qed info --help')"
                + System.lineSeparator());
        assertThat(r.out()).isEmpty();
    }
}
