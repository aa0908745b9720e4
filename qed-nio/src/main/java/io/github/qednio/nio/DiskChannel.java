package io.github.qednio.nio;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.NonReadableChannelException;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A channel on a virtual disk, with the semantics of a Linux block device node: the size is the virtual size and
 * never changes (writes past the end fail with an IOException and write nothing; {@link #truncate} cannot shrink),
 * reads at or past the end return -1, {@link #force} flushes the image (clearing {@code QED_F_NEED_CHECK}), and
 * {@link #discard} discards a range.
 *
 * <p>Safe for many threads. Positional reads and writes take no lock here (the engine runs I/O on different
 * clusters in parallel); relative ones are serialised on the channel's position. {@link #map} is not supported.
 * Locks are advisory and local to this JVM (see {@link LockTable}).
 */
final class DiskChannel extends FileChannel implements Discardable {
    private static final int TRANSFER_CHUNK = 1 << 20;

    private final OpenImage target;
    private final ChannelMode mode;
    private final QedFileSystem owner;
    private final Object positionLock = new Object();
    /**
     * Calls of this channel in progress, so that closing a file system can wait for its channels' calls on an
     * image that stays open (the image's close gate is the engine's; this only counts, it refuses nothing).
     */
    private final AtomicInteger inProgress = new AtomicInteger();
    private volatile long position;

    DiskChannel(OpenImage target, ChannelMode mode, QedFileSystem owner) {
        this.target = target;
        this.mode = mode;
        this.owner = owner;
    }

    OpenImage target() {
        return target;
    }

    // ------------------------------------------------------------------------------------------------ reading

    @Override
    public int read(ByteBuffer dst) throws IOException {
        ensureReadable();
        synchronized (positionLock) {
            int n = readAt(dst, position);
            if (n > 0) {
                position += n;
            }
            return n;
        }
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, dsts.length);
        ensureReadable();
        synchronized (positionLock) {
            long total = 0;
            for (int i = offset; i < offset + length; i++) {
                ByteBuffer b = dsts[i];
                if (!b.hasRemaining()) {
                    continue;
                }
                int n = readAt(b, position);
                if (n < 0) {
                    return total == 0 ? -1 : total;
                }
                position += n;
                total += n;
                if (b.hasRemaining()) {
                    break;
                }
            }
            return total;
        }
    }

    @Override
    public int read(ByteBuffer dst, long pos) throws IOException {
        if (pos < 0) {
            throw new IllegalArgumentException("position " + pos + " is negative");
        }
        ensureReadable();
        return readAt(dst, pos);
    }

    private int readAt(ByteBuffer dst, long pos) throws IOException {
        return io(img -> img.read(dst, pos));
    }


    /**
     * Runs an engine call as an interruptible operation of this channel: an interrupt closes this channel (and
     * gives ClosedByInterruptException), as the FileChannel contract says. The thread's interrupt status is
     * hidden from the engine during the call, because the engine's own file channel would close on it and take
     * the image away from every other channel; it is restored afterwards. The call runs inside the engine's gate
     * ({@link OpenImage#call}), so closing the image waits for it; a channel closed before the call starts gives
     * ClosedChannelException (or AsynchronousCloseException / ClosedByInterruptException as the JDK reports it).
     */
    private int io(OpenImage.Call<Integer> call) throws IOException {
        boolean done = false;
        int n = 0;
        try {
            begin();
            if (!isOpen()) {
                return 0; // closed by an interrupt in begin(); end() reports it
            }
            boolean interrupted = Thread.interrupted();
            inProgress.incrementAndGet();
            try {
                n = target.call(img -> {
                    if (!isOpen()) {
                        throw new ClosedChannelException(); // closed meanwhile
                    }
                    return call.apply(img);
                });
            } finally {
                if (inProgress.decrementAndGet() == 0 && !isOpen()) {
                    synchronized (inProgress) {
                        inProgress.notifyAll();
                    }
                }
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
            done = true;
            return n;
        } finally {
            end(done);
        }
    }

    // ------------------------------------------------------------------------------------------------ writing

    @Override
    public int write(ByteBuffer src) throws IOException {
        ensureWritable();
        synchronized (positionLock) {
            int n = writeAt(src, position);
            position += n;
            return n;
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, srcs.length);
        ensureWritable();
        synchronized (positionLock) {
            long total = 0;
            for (int i = offset; i < offset + length; i++) {
                total += srcs[i].remaining();
            }
            checkFits(position, total);
            for (int i = offset; i < offset + length; i++) {
                position += writeAt(srcs[i], position);
            }
            return total;
        }
    }

    @Override
    public int write(ByteBuffer src, long pos) throws IOException {
        if (pos < 0) {
            throw new IllegalArgumentException("position " + pos + " is negative");
        }
        ensureWritable();
        return writeAt(src, pos);
    }

    private int writeAt(ByteBuffer src, long pos) throws IOException {
        if (!src.hasRemaining()) {
            return 0;
        }
        checkFits(pos, src.remaining());
        return io(img -> {
            int n = img.write(src, pos);
            if (mode.sync()) {
                img.flush();
            }
            return n;
        });
    }

    @Override
    public void discard(long pos, long length) throws IOException {
        if (pos < 0 || length < 0) {
            throw new IllegalArgumentException("position " + pos + " and length " + length + " must not be negative");
        }
        ensureWritable();
        io(img -> {
            img.discard(pos, length);
            if (mode.sync()) {
                img.flush();
            }
            return 0;
        });
    }

    /** A disk never grows: refuse, before writing anything, a write that does not fit. */
    private void checkFits(long pos, long length) throws IOException {
        long size = target.image().size();
        if (pos > size || length > size - pos) {
            throw new IOException(String.format("%s: a write of %d bytes at offset %d does not fit in the disk of"
                    + " %d bytes (a qed: disk never grows; nothing was written)", owner.diskUri(), length, pos,
                    size));
        }
    }

    // ------------------------------------------------------------------------------------ position, size, etc.

    @Override
    public long position() throws IOException {
        ensureOpen();
        return position;
    }

    @Override
    public FileChannel position(long newPosition) throws IOException {
        if (newPosition < 0) {
            throw new IllegalArgumentException("position " + newPosition + " is negative");
        }
        ensureOpen();
        synchronized (positionLock) {
            position = newPosition;
        }
        return this;
    }

    @Override
    public long size() throws IOException {
        ensureOpen();
        return target.image().size();
    }

    /**
     * A disk cannot shrink: a size at or above the virtual size leaves the disk alone (and moves the position back
     * to it if it was beyond), a smaller one is an IOException.
     */
    @Override
    public FileChannel truncate(long size) throws IOException {
        if (size < 0) {
            throw new IllegalArgumentException("size " + size + " is negative");
        }
        ensureWritable();
        long current = target.image().size();
        if (size < current) {
            throw new IOException(owner.diskUri() + ": cannot truncate a disk of " + current + " bytes to " + size
                    + " bytes (a qed: disk has a fixed size)");
        }
        synchronized (positionLock) {
            if (position > size) {
                position = size;
            }
        }
        return this;
    }

    /** Flushes the image: every completed write becomes durable and {@code QED_F_NEED_CHECK} is cleared. */
    @Override
    public void force(boolean metaData) throws IOException {
        ensureOpen();
        io(img -> {
            img.flush();
            return 0;
        });
    }

    @Override
    public long transferTo(long pos, long count, WritableByteChannel dest) throws IOException {
        Objects.requireNonNull(dest, "target");
        if (pos < 0 || count < 0) {
            throw new IllegalArgumentException("position " + pos + " and count " + count + " must not be negative");
        }
        ensureReadable();
        if (!dest.isOpen()) {
            throw new ClosedChannelException();
        }
        long end = Math.min(target.image().size(), pos + Math.min(count, Long.MAX_VALUE - pos));
        ByteBuffer buf = ByteBuffer.allocate((int) Math.max(1, Math.min(TRANSFER_CHUNK, end - pos)));
        long p = pos;
        while (p < end) {
            buf.clear().limit((int) Math.min(buf.capacity(), end - p));
            int n = readAt(buf, p);
            if (n <= 0) {
                break;
            }
            buf.flip();
            while (buf.hasRemaining()) {
                int w = dest.write(buf);
                if (w == 0) {
                    // A non-blocking target is full: report what it took.
                    return p - pos + (n - buf.remaining());
                }
            }
            p += n;
        }
        return p - pos;
    }

    /**
     * Transfers bytes from {@code src} to the disk at {@code pos}, stopping at the end of the disk (a disk never
     * grows), at the end of {@code src}, or after {@code count} bytes.
     */
    @Override
    public long transferFrom(ReadableByteChannel src, long pos, long count) throws IOException {
        Objects.requireNonNull(src, "src");
        if (pos < 0 || count < 0) {
            throw new IllegalArgumentException("position " + pos + " and count " + count + " must not be negative");
        }
        ensureWritable();
        if (!src.isOpen()) {
            throw new ClosedChannelException();
        }
        long size = target.image().size();
        if (pos >= size) {
            return 0;
        }
        long end = pos + Math.min(count, size - pos);
        ByteBuffer buf = ByteBuffer.allocate((int) Math.max(1, Math.min(TRANSFER_CHUNK, end - pos)));
        long p = pos;
        while (p < end) {
            buf.clear().limit((int) Math.min(buf.capacity(), end - p));
            int n = src.read(buf);
            if (n <= 0) {
                break;
            }
            buf.flip();
            writeAt(buf, p);
            p += n;
        }
        return p - pos;
    }

    /** Not supported: a disk's bytes live in clusters scattered through the image file. */
    @Override
    public MappedByteBuffer map(MapMode mapMode, long pos, long size) {
        throw new UnsupportedOperationException("a qed: disk cannot be memory-mapped");
    }

    // ---------------------------------------------------------------------------------------------- locking

    @Override
    public FileLock lock(long pos, long size, boolean shared) throws IOException {
        return tryLock(pos, size, shared);
    }

    /**
     * Takes an advisory lock local to this JVM. As with the JDK's channels, a range overlapping a lock already
     * held in this JVM gives {@link java.nio.channels.OverlappingFileLockException}, so this never blocks.
     */
    @Override
    public FileLock tryLock(long pos, long size, boolean shared) throws IOException {
        if (pos < 0 || size < 0 || pos + size < 0) {
            throw new IllegalArgumentException("lock range at " + pos + " of " + size + " bytes is invalid");
        }
        ensureOpen();
        if (shared && !mode.readable()) {
            throw new NonReadableChannelException();
        }
        if (!shared && !mode.writable()) {
            throw new NonWritableChannelException();
        }
        DiskLock lock = new DiskLock(this, pos, size, shared, target.locks);
        target.locks.add(lock);
        return lock;
    }

    // ---------------------------------------------------------------------------------------------- closing

    /**
     * After this channel was closed: waits, ignoring interrupts (the status is kept), until no call of it is in
     * progress, as closing a {@link FileChannel} waits for the threads inside it.
     */
    void awaitCallsInProgress() {
        boolean interrupted = false;
        synchronized (inProgress) {
            while (inProgress.get() > 0) {
                try {
                    inProgress.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    protected void implCloseChannel() throws IOException {
        target.locks.removeAll(this);
        owner.channelClosed(this);
    }

    private void ensureOpen() throws ClosedChannelException {
        if (!isOpen()) {
            throw new ClosedChannelException();
        }
    }

    private void ensureReadable() throws ClosedChannelException {
        ensureOpen();
        if (!mode.readable()) {
            throw new NonReadableChannelException();
        }
    }

    private void ensureWritable() throws ClosedChannelException {
        ensureOpen();
        if (!mode.writable()) {
            throw new NonWritableChannelException();
        }
    }

    @Override
    public String toString() {
        return "DiskChannel[" + owner.diskUri() + (mode.writable() ? ", rw" : ", ro") + "]";
    }
}
