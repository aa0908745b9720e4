package io.github.qednio.cli;

import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.Progress;
import io.github.qednio.image.ImageFormat;
import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The options several commands share, as picocli mixins: each is declared once, with one description. */
final class Options {
    private Options() {
    }

    /** {@code --output=human|json}, as qemu-img takes it. */
    static final class Output {
        @Option(names = "--output", paramLabel = "FMT", description = "human (default) or json.")
        OutputFormat format = OutputFormat.human;

        boolean json() {
            return format == OutputFormat.json;
        }
    }

    /** {@code -f FMT}: the format of the image, or null to probe it. */
    static final class Format {
        @Option(names = "-f", paramLabel = "FMT", description = "The image's format: raw, qed or qcow2"
                + " (default: probed).")
        String format;

        /** The format given, or null to probe it. */
        ImageFormat orNull() {
            return format == null ? null : ImageFormat.parse(format);
        }
    }

    /** {@code -p}: a progress bar on standard error when it is a terminal. */
    static final class ProgressBar {
        @Option(names = "-p", description = "Show a progress bar on standard error (only when it is a terminal).")
        boolean progress;

        /** The listener that draws the bar, or {@link Progress#NONE} without {@code -p} or without a terminal. */
        Progress listener(CommandSpec spec) {
            return progress ? TerminalProgress.forStderr(spec.commandLine().getErr()) : Progress.NONE;
        }
    }

    /** {@code -q}: print nothing on success, as qemu-img's quiet mode. */
    static final class Quiet {
        @Option(names = "-q", description = "Quiet: print nothing on success.")
        boolean quiet;

        /** Prints {@code line} on the command's standard output unless quiet. */
        void println(CommandSpec spec, String line) {
            if (!quiet) {
                spec.commandLine().getOut().println(line);
            }
        }
    }

    /** {@code -U, --force-share}, as qemu-img's: read an image another process writes. */
    static final class ForceShare {
        @Option(names = {"-U", "--force-share"}, description = "Read the image even while another process (QEMU, a"
                + " VM) writes it, as qemu-img -U; what is read may then change or be inconsistent. Without it such an"
                + " image is refused.")
        boolean forceShare;
        /** Set when the command is to write the image: then {@code -U} is refused and no error suggests it. */
        private boolean writing;

        /** Read-only open options, sharing the image with writers if {@code -U} was given. */
        OpenOptions readOnly() {
            return OpenOptions.readOnlyDefaults().withForceShare(forceShare);
        }

        /** The command is to write the image ({@code why}): refuses {@code -U}, as qemu-img does. */
        void refuseForWriting(String why) {
            writing = true;
            if (forceShare) {
                throw new IllegalArgumentException("-U (--force-share) is only for reading, and " + why);
            }
        }

        /** Whether {@code -U} would read an image another process writes: the command reads it. */
        boolean offered() {
            return !writing;
        }

        /** Whether {@code spec}'s command has {@code -U} and {@link #offered() offers} it. */
        static boolean offeredBy(CommandSpec spec) {
            for (CommandSpec m : spec.mixins().values()) {
                if (m.userObject() instanceof ForceShare f) {
                    return f.offered();
                }
            }
            return false;
        }
    }

    /** {@code -t CACHE} for commands that write an existing image: writeback unless asked otherwise. */
    static final class WriteCache {
        @Option(names = "-t", paramLabel = "CACHE", description = "Cache mode for writing: writeback (default) or"
                + " unsafe.")
        String cache = "writeback";

        /** Read-write open options with this cache mode. */
        OpenOptions openOptions() {
            return OpenOptions.defaults().withCacheMode(ConvertCommand.parseCacheMode(cache));
        }
    }

    /**
     * qemu-img's {@code -o key=value,...}: the pairs in order (a key without {@code =} has the value "").
     */
    static java.util.Map<String, String> keyValues(java.util.List<String> options) {
        java.util.Map<String, String> out = new java.util.LinkedHashMap<>();
        for (String o : options) {
            int eq = o.indexOf('=');
            out.put(eq < 0 ? o.trim() : o.substring(0, eq).trim(), eq < 0 ? "" : o.substring(eq + 1).trim());
        }
        return out;
    }

    /** The image a command works on: its first positional parameter. */
    static final class Image {
        @Parameters(index = "0", paramLabel = "FILE", description = "The image file.")
        Path file;
    }
}
