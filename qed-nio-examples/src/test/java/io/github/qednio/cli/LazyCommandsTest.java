package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code qed} builds only the subcommand its arguments name (picocli reflects over each command it is given), and
 * all of them whenever the arguments could mean anything else: what a run prints must not depend on the shortcut.
 */
class LazyCommandsTest {
    @Test
    void theCommandNamedAfterQedsOwnOptionsIsTheOnlyOneBuilt() {
        assertThat(QedCli.chosenCommand("info", "x.qed")).isEqualTo("info");
        assertThat(QedCli.chosenCommand("--debug", "convert-in-place", "x.qed")).isEqualTo("convert-in-place");
        assertThat(QedCli.newCommandLine("--debug", "map", "x.qed").getSubcommands().keySet())
                .containsExactly("map");
    }

    @Test
    void anythingElseBuildsEveryCommandInTheOrderHelpListsThem() {
        List<String> all = new ArrayList<>(QedCli.COMMANDS);
        all.add("help");
        for (String[] args : List.of(new String[0], new String[] {"--help"}, new String[] {"help", "info"},
                new String[] {"nosuch"}, new String[] {"-hV", "info"}, new String[] {"--", "info"},
                new String[] {"--unknown", "info"}, new String[] {"--debug"})) {
            assertThat(QedCli.chosenCommand(args)).as(String.join(" ", args)).isNull();
            assertThat(QedCli.newCommandLine(args).getSubcommands().keySet()).as(String.join(" ", args))
                    .containsExactlyElementsOf(all);
        }
    }

    @Test
    void versionAloneBuildsNoCommandAndPrintsWhatTheFullModelPrints() {
        assertThat(QedCli.newCommandLine("--version").getSubcommands()).isEmpty();
        assertThat(QedCli.newCommandLine("--debug", "-V").getSubcommands()).isEmpty();
        assertThat(QedCli.newCommandLine("--version", "--help").getSubcommands()).isNotEmpty();
        QedCliTest.Run lazy = QedCliTest.cli("--version");
        assertThat(lazy.code()).isZero();
        assertThat(lazy.out()).startsWith(QedCli.VERSION + System.lineSeparator());
    }

    @Test
    void everyCommandsUsageIsTheSameBuiltAloneAsAmongAll() {
        CommandLine full = QedCli.newCommandLine();
        for (String name : QedCli.COMMANDS) {
            CommandLine alone = QedCli.newCommandLine(name).getSubcommands().get(name);
            assertThat(alone.getUsageMessage(CommandLine.Help.Ansi.OFF)).as(name)
                    .isEqualTo(full.getSubcommands().get(name).getUsageMessage(CommandLine.Help.Ansi.OFF));
            assertThat(alone.isUnmatchedOptionsArePositionalParams()).as(name)
                    .isEqualTo(full.getSubcommands().get(name).isUnmatchedOptionsArePositionalParams());
        }
    }

    @Test
    void noOptionHasATypeWhoseConverterQedLeavesOut() {
        for (CommandLine c : QedCli.newCommandLine().getSubcommands().values()) {
            for (CommandLine.Model.ArgSpec arg : c.getCommandSpec().args()) {
                List<Class<?>> types = new ArrayList<>(List.of(arg.type()));
                types.addAll(List.of(arg.auxiliaryTypes()));
                for (Class<?> t : types) {
                    String name = t.getName();
                    assertThat(name.startsWith("java.time.") || name.startsWith("java.sql."))
                            .as("qed %s %s has type %s", c.getCommandName(), arg, name).isFalse();
                }
            }
        }
    }

    @Test
    void theStartUpTrainingRunsEveryCommandItTrainsSuccessfully() {
        assertThat(StartupTraining.run()).isZero();
    }
}
