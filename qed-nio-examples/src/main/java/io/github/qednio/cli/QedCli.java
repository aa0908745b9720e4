package io.github.qednio.cli;

import io.github.qednio.image.ImageLockedException;
import io.github.qednio.image.InvalidOptionException;
import io.github.qednio.internal.storage.NativeFeatures;
import io.github.qednio.format.QedFormatException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code qed} command-line tool: create, inspect, check, map and convert QED images, and a self-verifying demo.
 *
 * <p>Failures print one line, {@code qed: <what went wrong>}, on standard error and exit with a nonzero code (1 for
 * an error, 2 for a usage mistake; {@code check} and {@code compare} use qemu-img's codes). No stack traces unless
 * {@code --debug} is given. Every command takes {@code --help} (and {@code --version}, which also says whether the
 * library's native features are active in this JVM), inherited from this one.
 *
 * <p>The library's log lines (slf4j-simple, on standard error) are off unless {@code --debug} is given: what a user
 * must know, such as the repair of an image that was not closed cleanly, the commands say in one line themselves.
 */
@Command(name = "qed", mixinStandardHelpOptions = true, scope = CommandLine.ScopeType.INHERIT,
        version = QedCli.VERSION,
        description = "Create, inspect, check, map, convert, compare, resize, commit, rebase, amend and measure QED"
                + " (QEMU Enhanced Disk) images, as qemu-img does; run qemu-io commands; pack and unpack archives.")
public final class QedCli implements Runnable {
    /**
     * The subcommands in the order {@code qed --help} lists them ({@code help} follows). Not in the {@code @Command}
     * annotation: picocli would then reflect over all of them, and load every command's classes, on every run.
     */
    static final List<String> COMMANDS = List.of("create", "info", "check", "map", "convert", "convert-in-place",
            "compare", "resize", "commit", "rebase", "amend", "measure", "compact", "io", "pack", "unpack", "demo");

    /** The options of {@code qed} itself, none of which takes a value. */
    private static final Set<String> ROOT_OPTIONS = Set.of("--debug", "-h", "--help", "-V", "--version");

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    static final String VERSION = "qed (qed-nio) 0.1.0";

    @CommandLine.Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
            description = "Print the library's log lines (from DEBUG up), and on failure the stack trace too.")
    private boolean debug;

    /** Entry point: runs the command and exits with its code. */
    public static void main(String[] args) {
        skipUnusedConverters();
        if (Boolean.getBoolean("qed.startupTraining")) { // the launcher making its start-up cache
            configureLogging(false);
            System.exit(StartupTraining.run());
        }
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        if (args.length == 1 && (args[0].equals("--version") || args[0].equals("-V"))) {
            // What picocli's --version would print and return, without building the command model first.
            configureLogging(false);
            printVersion(out);
            err.flush();
            System.exit(0);
        }
        int code = run(args, out, err, true);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs the command with the given streams and returns its exit code (for tests and embedding). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        return run(args, out, err, false);
    }

    /**
     * {@code configureLogging}: only a process of its own may set the logging level, once, before any logger exists
     * (slf4j-simple reads its configuration once per JVM).
     */
    private static int run(String[] args, PrintWriter out, PrintWriter err, boolean configureLogging) {
        if (configureLogging) {
            // Before any library class is loaded: slf4j-simple reads its level when the first logger is made.
            configureLogging(List.of(args).contains("--debug"));
        }
        CommandLine cl = newCommandLine(args);
        Handlers handlers = new Handlers(cl, err);
        cl.setExecutionStrategy(handlers);
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler(handlers);
        cl.setParameterExceptionHandler(handlers);
        int code = cl.execute(args);
        out.flush();
        err.flush();
        return code;
    }

    /**
     * The command line for {@code args}: when they name a command (after {@code qed}'s own options only), with just
     * that subcommand; for {@code --version} alone, with none; otherwise with all of them, so that {@code qed --help},
     * {@code qed help CMD} and every mistake read as before. picocli reads each command's annotations and fields by
     * reflection when the command is added: one command instead of seventeen is most of the start-up time it saves.
     */
    static CommandLine newCommandLine(String... args) {
        CommandLine cl = new CommandLine(new QedCli());
        if (versionOnly(args)) {
            return cl; // "qed --version" prints the same with or without the subcommands
        }
        String chosen = chosenCommand(args);
        for (String name : COMMANDS) {
            if (chosen == null || chosen.equals(name)) {
                cl.addSubcommand(newCommand(name));
            }
        }
        if (chosen == null) {
            cl.addSubcommand(new CommandLine.HelpCommand());
        }
        CommandLine resize = cl.getSubcommands().get("resize");
        if (resize != null) {
            // "qed resize IMG -1M": a negative size, not an option.
            resize.setUnmatchedOptionsArePositionalParams(true);
        }
        return cl;
    }

    /** The command {@code args} name, or null when they name none of {@link #COMMANDS} right after qed's options. */
    static String chosenCommand(String... args) {
        for (String arg : args) {
            if (ROOT_OPTIONS.contains(arg)) {
                continue;
            }
            return COMMANDS.contains(arg) ? arg : null;
        }
        return null;
    }

    /** Whether {@code args} are qed's own options only, with {@code --version} and without {@code --help}. */
    static boolean versionOnly(String... args) {
        boolean version = false;
        for (String arg : args) {
            if (!ROOT_OPTIONS.contains(arg) || arg.equals("-h") || arg.equals("--help")) {
                return false;
            }
            version |= arg.equals("-V") || arg.equals("--version");
        }
        return version;
    }

    /** A new instance of the named command; a switch rather than a table of lambdas, which cost classes too. */
    private static Object newCommand(String name) {
        return switch (name) {
            case "create" -> new CreateCommand();
            case "info" -> new InfoCommand();
            case "check" -> new CheckCommand();
            case "map" -> new MapCommand();
            case "convert" -> new ConvertCommand();
            case "convert-in-place" -> new ConvertInPlaceCommand();
            case "compare" -> new CompareCommand();
            case "resize" -> new ResizeCommand();
            case "commit" -> new CommitCommand();
            case "rebase" -> new RebaseCommand();
            case "amend" -> new AmendCommand();
            case "measure" -> new MeasureCommand();
            case "compact" -> new CompactCommand();
            case "io" -> new IoCommand();
            case "pack" -> new PackCommand();
            case "unpack" -> new UnpackCommand();
            case "demo" -> new DemoCommand();
            default -> throw new IllegalArgumentException("no command " + name);
        };
    }

    /**
     * picocli registers a converter for every java.time and java.sql type by reflection for each command line it
     * builds, which initialises java.time's formatters at every start; no qed option has such a type
     * (LazyCommandsTest checks). A value the user set with -D stays.
     */
    private static void skipUnusedConverters() {
        if (System.getProperty(CONVERTER_EXCLUDES) == null) {
            System.setProperty(CONVERTER_EXCLUDES, "java\\.(time|sql)\\..*"); // one pattern: compiled per type
        }
    }

    /** picocli's system property: regular expressions of the built-in converters' types to leave out. */
    static final String CONVERTER_EXCLUDES = "picocli.converters.excludes";

    /**
     * How {@code qed} runs a parsed command line and reports failures. A class, not three lambdas: each lambda is
     * linked through invokedynamic the first time it runs, which every start paid for.
     */
    private static final class Handlers implements CommandLine.IExecutionStrategy,
            CommandLine.IExecutionExceptionHandler, CommandLine.IParameterExceptionHandler {
        private final CommandLine cl;
        private final PrintWriter err;

        Handlers(CommandLine cl, PrintWriter err) {
            this.cl = cl;
            this.err = err;
        }

        @Override
        public int execute(CommandLine.ParseResult parseResult) {
            if (versionRequested(parseResult)) {
                printVersion(cl.getOut());
                return cl.getCommandSpec().exitCodeOnVersionHelp();
            }
            return new CommandLine.RunLast().execute(parseResult);
        }

        @Override
        public int handleExecutionException(Exception ex, CommandLine commandLine,
                CommandLine.ParseResult parseResult) {
            err.println("qed: " + (ex instanceof ImageLockedException l && l.forceShareWouldOpen()
                    ? describeLockRefusal(l, Options.ForceShare.offeredBy(commandLine.getCommandSpec()))
                    : describe(ex)));
            if (((QedCli) commandLine.getCommandSpec().root().userObject()).debug) {
                ex.printStackTrace(err);
            }
            err.flush();
            return commandLine.getCommandSpec().exitCodeOnExecutionException();
        }

        @Override
        public int handleParseException(CommandLine.ParameterException ex, String[] args) {
            CommandLine c = ex.getCommandLine();
            err.println("qed: " + ex.getMessage() + " (see '" + c.getCommandSpec().qualifiedName() + " --help')");
            err.flush();
            return c.getCommandSpec().exitCodeOnInvalidInput();
        }
    }

    private static void configureLogging(boolean debug) {
        String level = "org.slf4j.simpleLogger.defaultLogLevel";
        if (debug) {
            System.setProperty(level, "debug");
        } else if (System.getProperty(level) == null) { // a level the user set with -D stays
            System.setProperty(level, "off");
        }
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required");
    }

    /**
     * qemu-img's two lines for an image another process writes ({@code Could not open 'F': Failed to get shared
     * "write" lock}, {@code Is another process using the image [F]?}) as one, with the option that reads it anyway
     * when the command has it.
     */
    static String describeLockRefusal(ImageLockedException e, boolean forceShareOption) {
        return "Could not open '" + e.getFile() + "': " + e.getReason() + "; is another process using the image ["
                + e.getFile() + "]?" + (forceShareOption ? " (-U reads it anyway)" : "");
    }

    /** One line for an exception: its message, with the kind of failure when the message alone is just a path. */
    static String describe(Throwable ex) {
        if (ex instanceof NoSuchFileException e) {
            return e.getFile() + ": no such file" + (e.getReason() == null ? "" : " (" + e.getReason() + ")");
        }
        if (ex instanceof FileAlreadyExistsException e) {
            return e.getFile() + ": already exists (refusing to overwrite it)";
        }
        if (ex instanceof AccessDeniedException e) {
            return e.getFile() + ": permission denied" + (e.getReason() == null ? "" : " (" + e.getReason() + ")");
        }
        if (ex instanceof FileSystemException e) {
            return e.getMessage();
        }
        if (ex instanceof InvalidOptionException e) { // the message names Java methods
            return e.problem();
        }
        if (ex instanceof QedFormatException e) { // without the advice on a limit only Java callers can raise
            return e.problem().replace('\n', ' ');
        }
        String m = ex.getMessage();
        if (m == null || m.isBlank()) {
            return ex.getClass().getSimpleName();
        }
        return m.replace('\n', ' ');
    }

    /** Whether {@code --version} was given to {@code qed} or to the command. */
    private static boolean versionRequested(CommandLine.ParseResult parseResult) {
        for (CommandLine.ParseResult r = parseResult; r != null; r = r.subcommand()) {
            if (r.isVersionHelpRequested()) {
                return true;
            }
        }
        return false;
    }

    /**
     * {@code --version}: the version, then whether each native feature is active here, or why not. Asked only
     * here, not in the command model (which picocli builds for every run), so that no other command loads the
     * native calls before it needs them.
     */
    private static void printVersion(PrintWriter out) {
        out.println(VERSION);
        out.println(versionLine("hole skipping", NativeFeatures.holeDetection()));
        out.println(versionLine("preallocation", NativeFeatures.preallocation()));
        out.flush();
    }

    private static String versionLine(String feature, NativeFeatures.State state) {
        return feature + ": " + (state.active() ? "active" : "inactive") + " (" + state.reason() + ")";
    }
}
