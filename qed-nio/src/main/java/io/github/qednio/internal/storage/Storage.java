package io.github.qednio.internal.storage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The byte store under an image: in production a {@link java.nio.channels.FileChannel} on any file system
 * ({@link #open}), in tests a wrapper that injects faults (lost writes, torn writes, failed forces, a full disk).
 *
 * <p>The engine reaches its file only through this interface, so every durability point is a call to
 * {@link #force()} and every byte it puts on disk goes through {@link #write}. Implementations must allow
 * concurrent positional reads and writes from many threads.
 */
public interface Storage extends Closeable {

    /**
     * Reads up to {@code dst.remaining()} bytes at {@code position}.
     *
     * @return the number of bytes read, or -1 at end of file
     */
    int read(ByteBuffer dst, long position) throws IOException;

    /** Writes all of {@code src} at {@code position}, extending the file if needed. */
    void write(ByteBuffer src, long position) throws IOException;

    /** Current length of the file in bytes. */
    long size() throws IOException;

    /** Cuts the file to {@code size} bytes (never grows it). */
    void truncate(long size) throws IOException;

    /**
     * A hint that {@code [offset, end)}, at or past the end of the file, is about to be written (clusters the
     * allocator took at the end): an implementation may reserve disk space ahead ({@link Preallocation}). Never
     * fails; does nothing by default.
     */
    default void appending(long offset, long end) {
    }

    /**
     * A hint that the data written so far will be flushed later: an implementation may start writing it back to disk
     * now, without waiting ({@link EarlyWriteback}). Never fails; does nothing by default.
     */
    default void startWriteback() {
    }

    /** Makes every completed write durable (data and file length). */
    void force() throws IOException;

    /** A name for messages, usually the file's path. */
    String name();

    /**
     * Reads exactly {@code dst.remaining()} bytes at {@code position}.
     *
     * @throws java.io.EOFException naming the file and offsets if the file ends first
     */
    default void readFully(ByteBuffer dst, long position) throws IOException {
        int wanted = dst.remaining();
        int got = Buffers.fill(this::read, dst, position);
        if (got < wanted) {
            throw new java.io.EOFException(name() + ": unexpected end of file at offset " + (position + got)
                    + " (needed " + (wanted - got) + " more bytes from offset " + position + ")");
        }
    }

    /**
     * Opens a file through its own file system provider (default, jimfs, ...).
     *
     * @param readOnly if true the file is opened for reading only, so nothing can write to it
     */
    static Storage open(java.nio.file.Path file, boolean readOnly) throws IOException {
        return FileStorage.open(file, readOnly);
    }

    /**
     * As {@link #open(java.nio.file.Path, boolean)}; a read-only open with {@code forceShare} lets other processes
     * write the file meanwhile ({@link OpenOptions#withForceShare}).
     */
    static Storage open(java.nio.file.Path file, boolean readOnly, boolean forceShare) throws IOException {
        return FileStorage.open(file, readOnly, forceShare);
    }
}
