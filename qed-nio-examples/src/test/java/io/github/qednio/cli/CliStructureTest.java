package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.testing.TestImages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

/** What every command shares: {@code --help}, one-line errors, {@code --debug}. */
class CliStructureTest {
    @TempDir
    Path dir;

    @Test
    void helpOfEveryCommandPrintsItsUsageAndExitsZeroEvenWithoutItsRequiredParameters() {
        Set<String> commands = QedCli.newCommandLine().getSubcommands().keySet();
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

    /** An option's line in picocli's list: {@code "  -h, --help"}, {@code "  -o=OPTIONS"}, {@code "      --debug"}. */
    private static final Pattern OPTION_LINE = Pattern.compile("^(?: {2}(-[^-\\s=,\\[])(?:, (--[^\\s=,\\[]+))?"
            + "| {6}(--[^\\s=,\\[]+))");

    @Test
    void helpOfEveryCommandListsExactlyTheOptionsAndParametersItAccepts() {
        for (CommandLine sub : QedCli.newCommandLine().getSubcommands().values()) {
            CommandSpec spec = sub.getCommandSpec();
            String name = spec.name();
            String help = QedCliTest.cli(name, "--help").out();
            Set<String> listed = new TreeSet<>();
            for (String line : help.split("\\R")) {
                Matcher m = OPTION_LINE.matcher(line);
                if (m.find()) {
                    for (int g = 1; g <= 3; g++) {
                        if (m.group(g) != null) {
                            listed.add(m.group(g));
                        }
                    }
                }
            }
            Set<String> accepted = new TreeSet<>();
            for (OptionSpec o : spec.options()) {
                if (!o.hidden()) {
                    accepted.addAll(List.of(o.names()));
                }
            }
            assertThat(listed).as("options listed by qed %s --help:%n%s", name, help).isEqualTo(accepted);

            StringBuilder synopsis = new StringBuilder(); // "Usage: ..." and its indented continuation lines
            for (String line : help.substring(help.indexOf("Usage: ")).split("\\R")) {
                if (synopsis.length() > 0 && !line.startsWith(" ")) {
                    break;
                }
                synopsis.append(line).append('\n');
            }
            for (PositionalParamSpec p : spec.positionalParameters()) {
                if (p.hidden()) {
                    continue;
                }
                assertThat(occurrences(synopsis.toString(), p.paramLabel())).as("%s in the usage line of qed %s: %s",
                        p.paramLabel(), name, synopsis).isEqualTo(1);
                assertThat(help).as(name).containsPattern("(?m)^ {6}\\[?" + Pattern.quote(p.paramLabel())
                        + "]?(\\.\\.\\.)?\\s");
            }
        }
    }

    private static int occurrences(String text, String label) {
        Matcher m = Pattern.compile("(?<![\\w.])" + Pattern.quote(label) + "(?![\\w])").matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    @Test
    void helpOfEveryBackingFormatOptionNamesEveryFormatItAccepts() {
        CommandLine qed = QedCli.newCommandLine();
        for (String[] option : new String[][] {{"create", "-F"}, {"rebase", "-F"}, {"convert", "-F"},
                {"amend", "-o"}}) {
            String description = String.join(" ", qed.getSubcommands().get(option[0]).getCommandSpec()
                    .findOption(option[1]).description());
            for (ImageFormat f : ImageFormat.values()) { // each command reads the option with ImageFormat.parse
                assertThat(description).as("qed %s %s", option[0], option[1])
                        .containsPattern("\\b" + f.name().toLowerCase(java.util.Locale.ROOT) + "\\b");
            }
        }
    }

    /** qemu-io 7.2's commands, as its {@code help} command lists them. */
    private static final List<String> QEMU_IO_COMMANDS = List.of("abort", "aio_flush", "aio_read", "aio_write",
            "alloc", "break", "close", "discard", "flush", "help", "info", "length", "map", "open", "quit", "read",
            "readv", "remove_break", "reopen", "resume", "sigraise", "sleep", "truncate", "wait_break", "write",
            "writev");

    @Test
    void ioHelpNamesExactlyTheQemuIoCommandsItRuns() throws IOException {
        Path img = dir.resolve("io.qed");
        QedImage.create(img, CreateOptions.ofSize(1 << 20)).close();
        String description = String.join(" ", QedCli.newCommandLine().getSubcommands().get("io")
                .getCommandSpec().usageMessage().description());
        assertThat(QedCliTest.cli("io", "--help").out().replaceAll("\\s+", " "))
                .contains(description.replaceAll("\\s+", " "));
        List<String> named = new ArrayList<>();
        List<String> runs = new ArrayList<>();
        for (String command : QEMU_IO_COMMANDS) {
            if (Pattern.compile("(?<![\\w-])" + command + "(?![\\w])").matcher(description).find()) {
                named.add(command);
            }
            Run r = QedCliTest.cli("io", "-c", command, img.toString());
            if (!(r.out() + r.err()).contains("command \"" + command + "\" not found")) {
                runs.add(command);
            }
        }
        assertThat(named).as(description).isEqualTo(runs).contains("discard");
    }

    @Test
    void readmeCommandTableHasARowForEverySubcommandAndNothingElse() throws IOException {
        List<String> readme = Files.readAllLines(TestImages.directory().getParent().resolve("README.md"));
        int start = readme.indexOf("| command | what it does |");
        assertThat(start).as("README's command table").isNotNegative();
        Set<String> rows = new TreeSet<>();
        Pattern command = Pattern.compile("`qed ([a-z][a-z-]*)");
        for (String line : readme.subList(start + 2, readme.size())) {
            if (!line.startsWith("|")) {
                break;
            }
            Matcher m = command.matcher(line.substring(0, line.indexOf(" | ")));
            while (m.find()) {
                rows.add(m.group(1));
            }
        }
        assertThat(rows).isEqualTo(new TreeSet<>(QedCli.newCommandLine().getSubcommands().keySet()));
    }
}
