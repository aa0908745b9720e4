package io.github.qednio.internal;

import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.function.Supplier;

/**
 * The library's state that is shared by everything in the JVM (one instance per class loader), in one place
 * instead of in static fields of the classes that use it. Its parts, each made on first use and kept for the life
 * of the class loader:
 * <ul>
 * <li>the per-file table of image locks and open descriptors ({@code internal.storage.LockTable}), which every open
 *     of an image file goes through, because POSIX locks belong to the process;</li>
 * <li>the backing files shared between overlays ({@code internal.chain.SharedBackings});</li>
 * <li>the registry of images open through the {@code qed:} file system ({@code nio.ImageRegistry}) and the
 *     provider used when the service loader did not install one ({@code nio.QedFileSystemProvider}).</li>
 * </ul>
 * Each part is an ordinary object whose class has no static state: tests make their own instances (with their
 * hooks passed to the constructor) instead of changing the JVM's.
 *
 * <p>Parts are keyed by their class, so that this package needs none of the packages that use it (they sit above
 * it; a field per part would make each of them and this package need each other).
 */
public final class JvmState {
    private static final JvmState JVM = new JvmState();

    private final ConcurrentMap<Class<?>, Object> parts = new ConcurrentHashMap<>();

    private JvmState() {
    }

    /**
     * The JVM's state.
     *
     * @return the one instance of this class loader
     */
    public static JvmState jvm() {
        return JVM;
    }

    /**
     * The part of type {@code type}, made by {@code create} on first use. If two threads ask for a missing part at
     * once, both may call {@code create}, and all get the one that was stored first: parts must be cheap to make and
     * hold nothing open until used.
     *
     * @param <T> the part's type
     * @param type the part's class, its key
     * @param create makes the part; called without any lock held, so it may ask for other parts
     * @return the JVM's one instance of the part
     */
    public <T> T part(Class<T> type, Supplier<? extends T> create) {
        Object p = parts.get(type);
        if (p == null) {
            T made = Objects.requireNonNull(create.get(), "part");
            Object prev = parts.putIfAbsent(type, made);
            p = prev != null ? prev : made;
        }
        return type.cast(p);
    }
}
