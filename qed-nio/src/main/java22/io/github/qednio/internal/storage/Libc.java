package io.github.qednio.internal.storage;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The few C library calls the engine makes through the Foreign Function API (Java 22+, Linux): {@code open},
 * {@code close}, {@code lseek}, {@code fallocate}, {@code ftruncate} and {@code sync_file_range}, each returning its
 * result or {@code -errno}. Linked once, on first use, and only where the library's module has native access, so
 * the JDK never prints its restricted-method warning on our behalf. Descriptors opened here are owned by the lock manager ({@link ImageLock}): closing one
 * drops every POSIX lock the process holds on the file.
 */
final class Libc {
    private static final Logger LOG = LoggerFactory.getLogger(Libc.class);
    // Linux's values, the same on x86-64 and AArch64 (asm-generic).
    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    private static final int O_CLOEXEC = 0x80000;
    static final int EINTR = 4;

    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Libc INSTANCE;
    /** Why {@link #INSTANCE} is null, as {@link #link} found it; null when it is not. */
    private static final String UNAVAILABLE;

    static {
        String[] why = new String[1];
        INSTANCE = link(why);
        UNAVAILABLE = why[0];
    }

    private final MethodHandle open;
    private final MethodHandle close;
    private final MethodHandle lseek;
    private final MethodHandle fallocate;
    private final MethodHandle ftruncate;
    private final MethodHandle syncFileRange;

    private Libc(MethodHandle open, MethodHandle close, MethodHandle lseek, MethodHandle fallocate,
            MethodHandle ftruncate, MethodHandle syncFileRange) {
        this.open = open;
        this.close = close;
        this.lseek = lseek;
        this.fallocate = fallocate;
        this.ftruncate = ftruncate;
        this.syncFileRange = syncFileRange;
    }

    /** The linked calls, or null where they cannot be used here (not Linux, no native access, linking failed). */
    static Libc get() {
        return INSTANCE;
    }

    /** Why {@link #get} is null, in a few words ({@link Natives#unavailable} calls it by reflection), or null. */
    static String unavailable() {
        return UNAVAILABLE;
    }

    /** Links the calls, or returns null with the reason in {@code why[0]}. */
    private static Libc link(String[] why) {
        if (!System.getProperty("os.name", "").startsWith("Linux")) {
            LOG.debug("native file calls off: the constants used are only known here for Linux");
            why[0] = "not Linux (the native calls use Linux's constants)";
            return null;
        }
        Module module = Libc.class.getModule();
        if (!module.isNativeAccessEnabled()) {
            String name = module.isNamed() ? module.getName() : "ALL-UNNAMED";
            LOG.debug("native file calls off (hole detection, preallocation): run with --enable-native-access={}",
                    name);
            why[0] = "no native access: run java with --enable-native-access=" + name;
            return null;
        }
        try {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            Linker.Option errno = Linker.Option.captureCallState("errno");
            return new Libc(
                    // open(const char *, int, ...): variadic after the flags, so the mode is a variadic int.
                    linker.downcallHandle(libc.find("open").orElseThrow(),
                            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                            errno, Linker.Option.firstVariadicArg(2)),
                    linker.downcallHandle(libc.find("close").orElseThrow(),
                            FunctionDescriptor.of(JAVA_INT, JAVA_INT), errno),
                    linker.downcallHandle(libc.find("lseek").orElseThrow(),
                            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT), errno),
                    linker.downcallHandle(libc.find("fallocate").orElseThrow(),
                            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), errno),
                    linker.downcallHandle(libc.find("ftruncate").orElseThrow(),
                            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG), errno),
                    linker.downcallHandle(libc.find("sync_file_range").orElseThrow(),
                            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT), errno));
        } catch (RuntimeException e) {
            LOG.warn("native file calls off: cannot link open/close/lseek/fallocate/ftruncate/sync_file_range", e);
            why[0] = "the C library calls could not be linked: " + e;
            return null;
        }
    }

    /**
     * Opens {@code file} with {@code flags} ({@link #O_RDONLY} or {@link #O_RDWR}) and checks that the descriptor is
     * the file the lock manager knows as {@code fileKey} (the path may name another file by now, renamed over).
     *
     * @return the descriptor, or -1 if the file cannot be opened or is another file (logged at debug level)
     */
    int openChecked(Path file, int flags, Object fileKey) throws IOException {
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment path = arena.allocateFrom(file.toAbsolutePath().toString());
            do {
                fd = (int) open.invokeExact(state, path, flags | O_CLOEXEC, 0);
                fd = fd < 0 ? -(int) ERRNO.get(state, 0L) : fd;
            } while (fd == -EINTR);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (fd < 0) {
            LOG.debug("{}: open(2) failed with errno {}", file, -fd);
            return -1;
        }
        // The kernel's link to our descriptor is stat'ed, which opens nothing (so drops no lock).
        Object key;
        try {
            key = Files.readAttributes(Path.of("/proc/self/fd/" + fd), BasicFileAttributes.class).fileKey();
        } catch (IOException e) {
            key = null;
        }
        if (key == null || !key.equals(fileKey)) {
            LOG.debug("{}: descriptor {} is not the file the lock manager holds", file, fd);
            close(fd, file.toString());
            return -1;
        }
        return fd;
    }

    /** {@code lseek(fd, pos, whence)}: the offset, or {@code -errno}. */
    long lseek(int fd, long pos, int whence) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            long r = (long) lseek.invokeExact(state, fd, pos, whence);
            return r < 0 ? -(int) ERRNO.get(state, 0L) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code fallocate(fd, mode, offset, length)}, retried on EINTR: 0, or {@code -errno}. */
    int fallocate(int fd, int mode, long offset, long length) throws IOException {
        return call(state -> (int) fallocate.invokeExact(state, fd, mode, offset, length));
    }

    /** {@code ftruncate(fd, length)}, retried on EINTR: 0, or {@code -errno}. */
    int ftruncate(int fd, long length) throws IOException {
        return call(state -> (int) ftruncate.invokeExact(state, fd, length));
    }

    /** {@code sync_file_range(fd, offset, length, flags)}, retried on EINTR: 0, or {@code -errno}. */
    int syncFileRange(int fd, long offset, long length, int flags) throws IOException {
        return call(state -> (int) syncFileRange.invokeExact(state, fd, offset, length, flags));
    }

    /** A call returning 0 or -1 with errno in the captured call state. */
    @FunctionalInterface
    private interface IntCall {
        int run(MemorySegment state) throws Throwable;
    }

    private static int call(IntCall c) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int r;
            do {
                r = c.run(state);
                r = r < 0 ? -(int) ERRNO.get(state, 0L) : 0;
            } while (r == -EINTR);
            return r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code close(fd)}; {@code name} is for the message. */
    void close(int fd, String name) throws IOException {
        int r;
        try (Arena arena = Arena.ofConfined()) {
            r = (int) close.invokeExact(arena.allocate(CALL_STATE), fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r < 0) {
            throw new IOException(name + ": close(2) of descriptor " + fd + " failed");
        }
    }

    private static IOException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IOException(t);
    }
}
