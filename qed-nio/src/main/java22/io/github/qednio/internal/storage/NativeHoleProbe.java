package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link HoleProbe} through the Foreign Function API (Java 22+, Linux; {@link Libc}): {@code open(2)} of the path
 * read-only, {@code lseek(2)} with {@code SEEK_DATA}/{@code SEEK_HOLE}, {@code close(2)}. Only in the multi-release
 * jar's {@code META-INF/versions/22}; {@link HoleProbe} loads it by name.
 */
final class NativeHoleProbe extends HoleProbe {
    private static final Logger LOG = LoggerFactory.getLogger(NativeHoleProbe.class);
    // Linux's values (asm-generic).
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;
    private static final int ENXIO = 6;
    private static final int EINVAL = 22;
    private static final int EOPNOTSUPP = 95;

    private final Libc libc;
    private final int fd;
    private final String name;
    /** Set when the file system turned out not to know SEEK_DATA: from then on, everything is data. */
    private volatile boolean unsupported;
    private boolean closed;

    private NativeHoleProbe(Libc libc, int fd, String name) {
        this.libc = libc;
        this.fd = fd;
        this.name = name;
    }

    /** Called by {@link HoleProbe} by reflection: the opener, or null where this cannot work. */
    static HoleProbe.Opener opener() {
        Libc libc = Libc.get();
        return libc == null ? null : (file, fileKey) -> openProbe(libc, file, fileKey);
    }

    private static HoleProbe openProbe(Libc libc, Path file, Object fileKey) throws IOException {
        int fd = libc.openChecked(file, Libc.O_RDONLY, fileKey);
        if (fd < 0) {
            LOG.debug("{}: hole detection off for this file", file);
            return null;
        }
        return new NativeHoleProbe(libc, fd, file.toString());
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
        long r = libc.lseek(fd, pos, whence);
        if (r >= 0) {
            return r;
        }
        int err = (int) -r;
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
        libc.close(fd, name + " (hole probe)");
    }
}
