package io.github.qednio.cli;

import io.github.qednio.image.Progress;
import java.io.PrintWriter;

/**
 * qemu-img's {@code -p} progress line, {@code "    (42.00/100%)"} redrawn in place with a carriage return, on
 * standard error. Drawn only when the JVM has a terminal ({@link System#console()}), so that logs and pipes get
 * nothing, as qemu-img prints nothing when its output is not a terminal; {@code -Dqed.progress=always} draws it
 * anyway (for a log that should show progress, and for tests that follow it).
 */
final class TerminalProgress implements Progress {
    private final PrintWriter err;
    private int lastShown = -1;

    TerminalProgress(PrintWriter err) {
        this.err = err;
    }

    /** A bar on {@code err} if the JVM runs on a terminal, else {@link Progress#NONE}. */
    static Progress forStderr(PrintWriter err) {
        boolean always = "always".equals(System.getProperty("qed.progress"));
        return System.console() != null || always ? new TerminalProgress(err) : Progress.NONE;
    }

    @Override
    public synchronized void update(long done, long total) {
        // Redrawn per hundredth of a percent at most, so a fast copy does not flood the terminal.
        int shown = total <= 0 ? 10000 : (int) Math.min(10000, done * 10000 / total);
        if (shown == lastShown) {
            return;
        }
        lastShown = shown;
        err.print("    (" + CFormat.fixed(shown / 100.0, 2) + "/100%)\r");
        if (shown == 10000) {
            err.println();
        }
        err.flush();
    }
}
