package io.github.qednio.testing;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Assertions;

/**
 * The archive tools that judge the archives {@code qed pack} writes ({@code unzip}, 7-Zip), found on the PATH. As
 * with {@link Qemu#crossChecks()}, a test checks with them only when they are installed, and fails instead when the
 * system property {@code qed.requireQemu} is true (CI sets it and installs them).
 */
public final class SystemTools {
    private SystemTools() {
    }

    /**
     * The first of {@code names} on the PATH, to cross-check with; empty without any of them, or a failure when
     * {@code -Dqed.requireQemu=true}.
     */
    public static Optional<String> crossCheck(String... names) {
        Optional<String> found = optional(names);
        if (found.isEmpty() && Boolean.getBoolean("qed.requireQemu")) {
            Assertions.fail(String.join(" or ", names) + " is not on the PATH, and qed.requireQemu=true forbids"
                    + " skipping its cross-checks (install the unzip and 7zip packages)");
        }
        return found;
    }

    /** 7-Zip's command: {@code 7zz} (Debian 12's 7zip package) or {@code 7z}; see {@link #crossCheck}. */
    public static Optional<String> sevenZip() {
        return crossCheck("7zz", "7z");
    }

    /** The first of {@code names} on the PATH, never required (for tools CI does not install, such as bsdtar). */
    public static Optional<String> optional(String... names) {
        for (String name : names) {
            for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
                if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, name))) {
                    return Optional.of(name);
                }
            }
        }
        return Optional.empty();
    }
}
