package io.github.qednio.internal.storage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Where a file stores data and where it has holes, as the file system knows it: {@code lseek(fd, pos, SEEK_DATA)}
 * and {@code SEEK_HOLE}, which Java's own API cannot ask. Those calls need a descriptor, and Java gives none out,
 * so a probe opens its own with {@code open(2)}; closing it would drop every POSIX lock this process holds on the
 * file (see {@link ImageLock}), so a probe is only ever opened and closed by the lock manager
 * ({@link LockHandle#holeProbe}), which keeps it open until no user of the file is left.
 *
 * <p>On Java 17 to 21 there is no probe (everything is data). On Java 22 and later, the multi-release jar adds
 * {@code NativeHoleProbe}, which calls {@code lseek} through the Foreign Function API on Linux, when the library's
 * module (or, on the class path, {@code ALL-UNNAMED}) has native access ({@code --enable-native-access}); without it
 * the probe stays off, so the JDK never prints its restricted-method warning on our behalf. Setting the system
 * property {@value #ENABLE_PROPERTY} to {@code false} turns it off too (to compare, or if a file system answers
 * wrongly).
 */
abstract class HoleProbe implements Closeable {
    /** The system property that turns hole detection off when {@code false}. */
    static final String ENABLE_PROPERTY = "qednio.seekHoles";
    /** The class the multi-release jar adds for Java 22 and later (META-INF/versions/22). */
    private static final String NATIVE_CLASS = "io.github.qednio.internal.storage.NativeHoleProbe";
    private static final Opener NATIVE = Natives.opener(NATIVE_CLASS, Opener.class, "hole detection");

    /** Opens a probe of a file, or returns null where the platform or the file system cannot say. */
    @FunctionalInterface
    interface Opener {
        HoleProbe open(Path file, Object fileKey) throws IOException;
    }

    /**
     * The first offset at or after {@code pos} that holds data, or -1 if none does (the rest of the file is a hole,
     * or {@code pos} is at or past its end); {@code pos} itself where the file system cannot tell (all is data).
     */
    abstract long nextData(long pos) throws IOException;

    /**
     * The first offset at or after {@code pos} where a hole starts (the file's end counts as one), or -1 if
     * {@code pos} is at or past the end; {@link Long#MAX_VALUE} where the file system cannot tell (no hole known).
     */
    abstract long nextHole(long pos) throws IOException;

    /**
     * Opens a probe of {@code file} (known to the lock manager as {@code fileKey}), or returns null when holes cannot
     * be found here: before Java 22, without native access, off Linux, turned off, or if the descriptor opened is
     * not the file's. Only the lock manager calls this.
     */
    static HoleProbe open(Path file, Object fileKey) throws IOException {
        if (NATIVE == null || "false".equalsIgnoreCase(System.getProperty(ENABLE_PROPERTY))) {
            return null;
        }
        return NATIVE.open(file, fileKey);
    }

    /** Whether this JVM finds holes (for tests and diagnostics). */
    static boolean available() {
        return NATIVE != null;
    }
}
