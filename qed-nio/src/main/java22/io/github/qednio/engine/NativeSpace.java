package io.github.qednio.engine;

import java.io.IOException;
import java.nio.file.Path;

/**
 * {@link Preallocation.Space} through the Foreign Function API (Java 22+, Linux; {@link Libc}): {@code fallocate(2)},
 * {@code ftruncate(2)} and {@code sync_file_range(2)} on a descriptor of its own, opened read-write. Only in the
 * multi-release jar's {@code META-INF/versions/22}; {@link Preallocation} loads it by name.
 */
final class NativeSpace implements Preallocation.Space {
    // Linux's values (linux/falloc.h).
    private static final int FALLOC_FL_KEEP_SIZE = 0x01;
    // linux/fs.h
    private static final int SYNC_FILE_RANGE_WRITE = 2;

    private final Libc libc;
    private final int fd;
    private final String name;
    private boolean closed;

    private NativeSpace(Libc libc, int fd, String name) {
        this.libc = libc;
        this.fd = fd;
        this.name = name;
    }

    /** Called by {@link Preallocation} by reflection: the opener, or null where this cannot work. */
    static Preallocation.Opener opener() {
        Libc libc = Libc.get();
        return libc == null ? null : (file, fileKey) -> open(libc, file, fileKey);
    }

    private static NativeSpace open(Libc libc, Path file, Object fileKey) throws IOException {
        int fd = libc.openChecked(file, Libc.O_RDWR, fileKey);
        return fd < 0 ? null : new NativeSpace(libc, fd, file.toString());
    }

    @Override
    public synchronized int cutTo(long length) throws IOException {
        ensureOpen();
        return libc.ftruncate(fd, length);
    }

    @Override
    public synchronized int reserve(long offset, long length) throws IOException {
        ensureOpen();
        return libc.fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length);
    }

    @Override
    public synchronized int startWriteback() throws IOException {
        ensureOpen();
        return libc.syncFileRange(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    }

    /** Called with the monitor held, so that a close cannot run meanwhile and the descriptor be reused. */
    private void ensureOpen() throws IOException {
        if (closed) {
            throw new IOException(name + ": preallocation descriptor is closed");
        }
    }

    /** Closes the descriptor: only the lock manager calls this, once no lock on the file is held. */
    @Override
    public synchronized void close() throws IOException {
        if (!closed) {
            closed = true;
            libc.close(fd, name + " (preallocation)");
        }
    }
}
