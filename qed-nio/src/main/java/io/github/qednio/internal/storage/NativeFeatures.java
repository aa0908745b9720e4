package io.github.qednio.internal.storage;

/**
 * Whether the engine's optional native file calls work in this JVM, and why not where they do not. Both make the
 * library faster, never different in what it reads or writes:
 * <ul>
 * <li>hole detection ({@code lseek} with {@code SEEK_DATA}/{@code SEEK_HOLE}): a conversion skips the holes of a
 * sparse source file without reading them;</li>
 * <li>preallocation ({@code fallocate} with {@code FALLOC_FL_KEEP_SIZE}): a writer reserves disk space ahead of a
 * growing image (and, with it, starts write-back early where asked, {@code sync_file_range}).</li>
 * </ul>
 * Each needs Java 22 or later, the multi-release jar's Java 22+ part ({@code META-INF/versions/22}), Linux and
 * native access for the library ({@code --enable-native-access=io.github.qednio}, or {@code =ALL-UNNAMED} on the
 * class path); each is turned off by its system property ({@code -Dqednio.seekHoles=false},
 * {@code -Dqednio.preallocate=false}). Preallocation can still be refused by a file system for one file; this
 * class answers for the JVM.
 */
public final class NativeFeatures {
    private NativeFeatures() {
    }

    /**
     * One feature's state in this JVM.
     *
     * @param active whether the feature is used
     * @param reason why not, in a few words (for example {@code "this JVM is Java 17"}); when active, what makes it
     *     work
     */
    public record State(boolean active, String reason) {
    }

    /**
     * Whether holes in files are found through the file system (hole skipping in conversions).
     *
     * @return the state of hole detection in this JVM
     */
    public static State holeDetection() {
        return state(HoleProbe.available(), HoleProbe.ENABLE_PROPERTY);
    }

    /**
     * Whether space is reserved ahead of a growing image.
     *
     * @return the state of preallocation in this JVM
     */
    public static State preallocation() {
        return state(Preallocation.available(), Preallocation.ENABLE_PROPERTY);
    }

    private static State state(boolean available, String property) {
        if (!available) {
            String why = Natives.unavailable();
            return new State(false, why != null ? why : "the Java 22+ part failed to load (see the log)");
        }
        if ("false".equalsIgnoreCase(System.getProperty(property))) {
            return new State(false, "turned off by -D" + property + "=false");
        }
        return new State(true, "Java 22+ native access");
    }
}
