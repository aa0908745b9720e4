package io.github.qednio.cli;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The one line on standard error that says a read-write open checked and repaired an image that was not closed
 * cleanly. The library logs the repair only at INFO, which the tool prints only with {@code --debug}; a user must
 * know it happened, so the command says it, with the figures of the repair's result.
 */
final class RepairNotice {
    private RepairNotice() {
    }

    /** Repairs {@code file} now if it needs it (for commands whose library call opens the image itself). */
    static void repairFirst(CommandSpec spec, Path file) throws IOException {
        print(spec, file, QedImage.repairIfNeeded(file));
    }

    /** Prints the line for {@link QedImage#repairAtOpen()}, if there was a repair. */
    static void print(CommandSpec spec, Path file, Optional<CheckResult> repair) {
        repair.ifPresent(r -> spec.commandLine().getErr().println("qed: " + file
                + " was not closed cleanly; checked it: " + count(r.corruptionsFixed(), "corruption") + " fixed, "
                + r.corruptions() + " remain, " + count(r.leaks(), "leaked cluster")
                + (r.checkErrors() == 0 ? "" : ", " + count(r.checkErrors(), "L2 table") + " unreadable")));
    }

    private static String count(long n, String what) {
        return n + " " + what + (n == 1 ? "" : "s");
    }
}
