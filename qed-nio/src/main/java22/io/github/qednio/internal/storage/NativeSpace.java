package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantReadWriteLock;

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
    /** Calls share it, close takes it alone: no call runs on a closed (perhaps reused) descriptor. */
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
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
    public int cutTo(long length) throws IOException {
        return call(() -> libc.ftruncate(fd, length));
    }

    @Override
    public int reserve(long offset, long length) throws IOException {
        return call(() -> libc.fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length));
    }

    @Override
    public int startWriteback() throws IOException {
        return call(() -> libc.syncFileRange(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
    }

    private interface Call {
        int run() throws IOException;
    }

    private int call(Call c) throws IOException {
        lock.readLock().lock();
        try {
            if (closed) {
                throw new IOException(name + ": preallocation descriptor is closed");
            }
            return c.run();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Closes the descriptor: only the lock manager calls this, once no lock on the file is held. */
    @Override
    public void close() throws IOException {
        lock.writeLock().lock();
        try {
            if (!closed) {
                closed = true;
                libc.close(fd, name + " (preallocation)");
            }
        } finally {
            lock.writeLock().unlock();
        }
    }
}
