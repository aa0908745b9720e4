package io.github.qednio.engine;

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
 * {@link HoleProbe} through the Foreign Function API (Java 22+, Linux): {@code open(2)} of the path read-only,
 * {@code lseek(2)} with {@code SEEK_DATA}/{@code SEEK_HOLE}, {@code close(2)}. Only in the multi-release jar's
 * {@code META-INF/versions/22}; {@link HoleProbe} loads it by name.
 */
final class NativeHoleProbe extends HoleProbe {
    private static final Logger LOG = LoggerFactory.getLogger(NativeHoleProbe.class);
    // Linux's values, the same on x86-64 and AArch64 (asm-generic).
    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 0x80000;
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;
    private static final int EINTR = 4;
    private static final int ENXIO = 6;
    private static final int EINVAL = 22;
    private static final int EOPNOTSUPP = 95;

    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static volatile MethodHandle open;
    private static volatile MethodHandle lseek;
    private static volatile MethodHandle close;

    private final int fd;
    private final String name;
    /** Set when the file system turned out not to know SEEK_DATA: from then on, everything is data. */
    private volatile boolean unsupported;
    private boolean closed;

    private NativeHoleProbe(int fd, String name) {
        this.fd = fd;
        this.name = name;
    }

    /** Called by {@link HoleProbe} by reflection: the opener, or null where this cannot work. */
    static HoleProbe.Opener opener() {
        if (!System.getProperty("os.name", "").startsWith("Linux")) {
            LOG.debug("hole detection off: SEEK_DATA's value is only known here for Linux");
            return null;
        }
        if (!NativeHoleProbe.class.getModule().isNativeAccessEnabled()) {
            LOG.debug("hole detection off: run with --enable-native-access={} to let qed-nio call lseek(SEEK_DATA)",
                    NativeHoleProbe.class.getModule().isNamed()
                            ? NativeHoleProbe.class.getModule().getName() : "ALL-UNNAMED");
            return null;
        }
        try {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            Linker.Option errno = Linker.Option.captureCallState("errno");
            // open(const char *, int, ...): variadic after the flags, so the mode is passed as a variadic int.
            open = linker.downcallHandle(libc.find("open").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                    errno, Linker.Option.firstVariadicArg(2));
            lseek = linker.downcallHandle(libc.find("lseek").orElseThrow(),
                    FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT), errno);
            close = linker.downcallHandle(libc.find("close").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT), errno);
        } catch (RuntimeException e) {
            LOG.warn("hole detection off: cannot link open/lseek/close", e);
            return null;
        }
        return NativeHoleProbe::openProbe;
    }

    private static HoleProbe openProbe(Path file, Object fileKey) throws IOException {
        int fd;
        int err;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment path = arena.allocateFrom(file.toAbsolutePath().toString());
            do {
                fd = (int) open.invokeExact(state, path, O_RDONLY | O_CLOEXEC, 0);
                err = fd < 0 ? (int) ERRNO.get(state, 0L) : 0;
            } while (fd < 0 && err == EINTR);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (fd < 0) {
            LOG.debug("{}: hole detection off: open(2) failed with errno {}", file, err);
            return null;
        }
        NativeHoleProbe probe = new NativeHoleProbe(fd, file.toString());
        // The path may name another file by now (renamed over): probing that one would skip the wrong regions. The
        // kernel's link to our descriptor is stat'ed, which opens nothing (so drops no lock).
        Object key;
        try {
            key = Files.readAttributes(Path.of("/proc/self/fd/" + fd), BasicFileAttributes.class).fileKey();
        } catch (IOException e) {
            key = null;
        }
        if (key == null || !key.equals(fileKey)) {
            LOG.debug("{}: hole detection off: descriptor {} is not the file the lock manager holds", file, fd);
            probe.close();
            return null;
        }
        return probe;
    }

    @Override
    synchronized long nextData(long pos) throws IOException {
        return seek(pos, SEEK_DATA);
    }

    @Override
    synchronized long nextHole(long pos) throws IOException {
        return seek(pos, SEEK_HOLE);
    }

    /** Called with the monitor held, so that a close cannot run meanwhile and the descriptor be reused. */
    private long seek(long pos, int whence) throws IOException {
        if (closed) {
            throw new IOException(name + ": hole probe is closed");
        }
        if (unsupported) {
            return whence == SEEK_DATA ? pos : Long.MAX_VALUE;
        }
        long r;
        int err;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            r = (long) lseek.invokeExact(state, fd, pos, whence);
            err = r < 0 ? (int) ERRNO.get(state, 0L) : 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r >= 0) {
            return r;
        }
        if (err == ENXIO) {
            return -1; // no data at or after pos (SEEK_DATA), or pos at or past the end
        }
        if (err == EINVAL || err == EOPNOTSUPP) {
            // A file system without SEEK_DATA (Linux before 3.1, some FUSE): everything is data from now on.
            LOG.debug("{}: the file system does not support SEEK_DATA/SEEK_HOLE (errno {})", name, err);
            unsupported = true;
            return whence == SEEK_DATA ? pos : Long.MAX_VALUE;
        }
        throw new IOException(name + ": lseek(" + (whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE") + ") at offset "
                + pos + " failed with errno " + err);
    }

    /** Closes the descriptor: only the lock manager calls this, once no lock on the file is held. */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        int r;
        try (Arena arena = Arena.ofConfined()) {
            r = (int) close.invokeExact(arena.allocate(CALL_STATE), fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r < 0) {
            throw new IOException(name + ": close(2) of the hole probe's descriptor " + fd + " failed");
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
