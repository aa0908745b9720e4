package io.github.qednio.image;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.NonWritableChannelException;
import java.nio.file.Path;
import java.util.List;

/**
 * A virtual disk of a fixed size: a QED image, a qcow2 image (read-only) or a raw file, each with its backing chain.
 * Everything in the library that reads or writes guest bytes does it through this class: backing chains, whole-image
 * operations, in-place conversion, fixtures, archives and the {@code qed} tool.
 *
 * <p>The disk's size is enforced here, once, for every format: {@link #read} stops at the end, {@link #readFully}
 * refuses to pass it, {@link #readPadded} reads zeros past it (as a backing file shorter than its overlay does), and
 * writes, write-zeroes and discards that pass it are refused before a format sees them. A format implements the
 * {@code ...Within} methods, which are only ever called with a range inside the disk.
 *
 * <pre>{@code
 * try (BlockDevice disk = QedImage.open(Path.of("vm.qed"), OpenOptions.readOnlyDefaults())) {
 *     ByteBuffer mbr = ByteBuffer.allocate(512);
 *     disk.readFully(mbr, 0);
 *     List<MappedExtent> runs = disk.map(0, disk.size());
 * }
 * }</pre>
 */
public abstract class BlockDevice implements Closeable {

    /** For subclasses. */
    protected BlockDevice() {
    }

    /**
     * The format of the image this device reads.
     *
     * @return its format
     */
    public abstract ImageFormat format();

    /**
     * The file this device reads, as it was opened.
     *
     * @return its path
     */
    public abstract Path path();

    /**
     * The guest-visible size in bytes.
     *
     * @return the virtual disk's size
     * @throws IOException if it cannot be read (a raw file's length)
     */
    public abstract long size() throws IOException;

    /**
     * Whether writes are refused.
     *
     * @return true for a device opened read-only, a qcow2 image or a backing file
     */
    public abstract boolean isReadOnly();

    /**
     * Reads up to {@code dst.remaining()} bytes at guest offset {@code position}, stopping at the end of the disk.
     *
     * @param dst filled from its position; advanced by the bytes read
     * @param position guest offset, non-negative
     * @return bytes read, or -1 if {@code position} is at or past the end and {@code dst} has room
     * @throws IllegalArgumentException if {@code position} is negative
     * @throws IOException if the image or a backing file cannot be read
     */
    public final int read(ByteBuffer dst, long position) throws IOException {
        if (position < 0) {
            throw new IllegalArgumentException(path() + ": read position " + position + " is negative");
        }
        if (!dst.hasRemaining()) {
            return 0;
        }
        long size = size();
        if (position >= size) {
            return -1;
        }
        int n = (int) Math.min(dst.remaining(), size - position);
        int limit = dst.limit();
        dst.limit(dst.position() + n);
        try {
            readWithin(dst, position);
        } finally {
            dst.limit(limit);
        }
        return n;
    }

    /**
     * Reads exactly {@code dst.remaining()} bytes at guest offset {@code position}.
     *
     * @param dst filled from its position to its limit
     * @param position guest offset of the first byte
     * @throws EOFException naming the image if the range is negative or passes the size (nothing is read then)
     * @throws IOException if the image or a backing file cannot be read
     */
    public final void readFully(ByteBuffer dst, long position) throws IOException {
        long size = size();
        if (position < 0 || position > size - dst.remaining()) {
            throw new EOFException(String.format("%s: cannot read %d bytes at offset %d: the disk is %d bytes",
                    path(), dst.remaining(), position, size));
        }
        readWithin(dst, position);
    }

    /**
     * Fills {@code dst} with the guest bytes at {@code position}, zeros for the part at or past the end: how an
     * overlay reads a backing file shorter than itself.
     *
     * @param dst filled from its position to its limit
     * @param position guest offset, non-negative
     * @throws IllegalArgumentException if {@code position} is negative
     * @throws IOException if the image or a backing file cannot be read
     */
    public final void readPadded(ByteBuffer dst, long position) throws IOException {
        read(dst, position);
        while (dst.hasRemaining()) {
            dst.put((byte) 0);
        }
    }

    /**
     * Writes {@code src.remaining()} bytes at guest offset {@code position}.
     *
     * @param src the bytes; advanced past them
     * @param position guest offset of the first byte
     * @return bytes written: all of {@code src}
     * @throws NonWritableChannelException if the device is read-only
     * @throws EOFException naming the image if the range is negative or passes the size (nothing is written then)
     * @throws IOException if the write fails
     */
    public final int write(ByteBuffer src, long position) throws IOException {
        int n = src.remaining();
        requireWritable();
        requireWithin(position, n, "write");
        writeWithin(src, position);
        return n;
    }

    /**
     * Makes {@code [position, position + length)} read as zeros, without writing zeros where the format can record
     * them instead.
     *
     * @param position guest offset of the first byte
     * @param length number of bytes
     * @throws NonWritableChannelException if the device is read-only
     * @throws EOFException naming the image if the range is negative or passes the size
     * @throws IOException if the write fails
     */
    public final void writeZeroes(long position, long length) throws IOException {
        requireWritable();
        requireWithin(position, length, "write zeroes to");
        writeZeroesWithin(position, length);
    }

    /**
     * Gives back {@code [position, position + length)}: afterwards it reads as zeros and the space it held may be
     * reused.
     *
     * @param position guest offset of the first byte
     * @param length number of bytes
     * @throws NonWritableChannelException if the device is read-only
     * @throws EOFException naming the image if the range is negative or passes the size
     * @throws IOException if the write fails
     */
    public final void discard(long position, long length) throws IOException {
        requireWritable();
        requireWithin(position, length, "discard");
        discardWithin(position, length);
    }

    /**
     * Makes every write that returned before this call durable.
     *
     * @throws IOException if the device cannot be flushed
     */
    public abstract void flush() throws IOException;

    /**
     * The runs covering guest range {@code [offset, offset + length)} (clipped to the size), in order, adjacent runs
     * with the same mapping merged, as {@code qemu-img map} reports them, through the whole backing chain.
     *
     * @param offset guest offset where the mapping starts, non-negative
     * @param length number of bytes to map, non-negative; clipped to the size
     * @return the runs in guest order, covering the clipped range without gaps; empty if it is empty
     * @throws IllegalArgumentException if {@code offset} or {@code length} is negative
     * @throws IOException if a table of the chain cannot be read
     */
    public abstract List<MappedExtent> map(long offset, long length) throws IOException;

    /**
     * Reads {@code dst.remaining()} bytes at {@code position}; the range lies within the disk.
     *
     * @param dst filled from its position to its limit
     * @param position guest offset
     * @throws IOException if the image or a backing file cannot be read
     */
    protected abstract void readWithin(ByteBuffer dst, long position) throws IOException;

    /**
     * Writes all of {@code src} at {@code position}; the range lies within the disk and the device is writable.
     * Read-only formats keep this default, which is never reached.
     *
     * @param src the bytes
     * @param position guest offset
     * @throws IOException if the write fails
     */
    protected void writeWithin(ByteBuffer src, long position) throws IOException {
        throw new NonWritableChannelException();
    }

    /**
     * As {@link #writeZeroes}, on a range within the disk of a writable device.
     *
     * @param position guest offset
     * @param length number of bytes
     * @throws IOException if the write fails
     */
    protected void writeZeroesWithin(long position, long length) throws IOException {
        throw new NonWritableChannelException();
    }

    /**
     * As {@link #discard}, on a range within the disk of a writable device.
     *
     * @param position guest offset
     * @param length number of bytes
     * @throws IOException if the write fails
     */
    protected void discardWithin(long position, long length) throws IOException {
        throw new NonWritableChannelException();
    }

    private void requireWritable() {
        if (isReadOnly()) {
            throw new NonWritableChannelException();
        }
    }

    private void requireWithin(long position, long length, String what) throws IOException {
        long size = size();
        if (position < 0 || length < 0 || position > size - length) {
            throw new EOFException(String.format("%s: cannot %s %d bytes at offset %d: the disk is %d bytes",
                    path(), what, length, position, size));
        }
    }
}
