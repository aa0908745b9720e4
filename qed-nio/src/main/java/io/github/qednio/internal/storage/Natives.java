package io.github.qednio.internal.storage;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds the classes the multi-release jar adds for Java 22 and later ({@code META-INF/versions/22}: native file calls
 * through the Foreign Function API). Each has a static {@code opener()} returning its factory, or null where it
 * cannot work (not Linux, no native access); before Java 22, or outside a multi-release jar, there is none.
 */
final class Natives {
    private static final Logger LOG = LoggerFactory.getLogger(Natives.class);
    /** The Java 22+ class that links the C library calls; every native class goes through it. */
    private static final String LIBC_CLASS = "io.github.qednio.internal.storage.Libc";

    private Natives() {
    }

    /** {@code className}'s {@code opener()}, or null; {@code what} names the feature in the log. */
    static <T> T opener(String className, Class<T> type, String what) {
        if (Runtime.version().feature() < 22) {
            return null;
        }
        try {
            return type.cast(Class.forName(className).getDeclaredMethod("opener").invoke(null));
        } catch (ClassNotFoundException e) {
            LOG.debug("{} off: {} is not on the class path (not a multi-release jar?)", what, className);
            return null;
        } catch (ReflectiveOperationException | LinkageError | ClassCastException e) {
            LOG.warn("{} off: {} failed to load", what, className, e);
            return null;
        }
    }

    /**
     * Why the native calls cannot be used in this JVM, in a few words for a user ({@link NativeFeatures}), or null
     * where they can.
     */
    static String unavailable() {
        int feature = Runtime.version().feature();
        if (feature < 22) {
            return "this JVM is Java " + feature;
        }
        try {
            return (String) Class.forName(LIBC_CLASS).getDeclaredMethod("unavailable").invoke(null);
        } catch (ClassNotFoundException e) {
            return "built without the Java 22+ part";
        } catch (ReflectiveOperationException | LinkageError | ClassCastException e) {
            return "the Java 22+ part failed to load: " + e;
        }
    }
}
