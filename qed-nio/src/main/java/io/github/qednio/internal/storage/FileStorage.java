package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@link Storage} over a {@link FileChannel}, whose positional I/O is safe for concurrent use.
 *
 * <p>The JDK closes a FileChannel when a thread is interrupted during I/O on it, and closing a descriptor drops
 * every POSIX lock this process holds on the file. So that one cancelled task does not take the image away from
 * every user, a channel closed under a storage that is itself still open is replaced ({@link #reopen}, which also
 * takes the image locks again): the interrupted thread gets its {@link ClosedByInterruptException}, and other
 * threads whose call failed only because of that close retry it on the new channel (positional reads and writes
 * are idempotent). An interrupt already pending when a call starts is kept aside during the call, so it does not
 * close the channel at all.
 */
public final class FileStorage implements Storage {
    /** Bound on retries of one call: each needs another thread's interrupt to close the channel again. */
    static final int MAX_RETRIES = 16;

    private volatile FileChannel channel;
    private final Path file;
    private final String name;
    /** The image lock when on the default file system, else null. */
    private final LockHandle lock;
    /** Set for read-only opens, whose channel may be a read-write one shared with a writer in this JVM. */
    private final boolean readOnly;
    private volatile boolean closed;
    /** Channels replaced after an interrupt closed them. */
    private int reopens;
    /** This storage's hole probe, opened on first use through the lock manager; null until then or if none. */
    private HoleProbe holes;
    private boolean holesAsked;
    /** A writer's space reservation past the end of the file (shared with the file's other writers), or null. */
    private final Preallocation preallocation;
    /** Run on the calling thread just before each channel call; null for none (only tests give one). */
    private final CallHook callHook;

    /**
     * Acts just before a channel call, as a fault would: interrupts the caller, closes the channel, fails. Given
     * at {@link #open(Path, boolean, boolean, LockTable, CallHook) open}, so that tests make faults deterministic
     * without any state shared with other storages.
     */
    @FunctionalInterface
    interface CallHook {
        void beforeCall(FileChannel ch) throws IOException;
    }

    private FileStorage(FileChannel channel, Path file, LockHandle lock, boolean readOnly,
            Preallocation preallocation, CallHook callHook) {
        this.channel = channel;
        this.file = file;
        this.name = file.toString();
        this.lock = lock;
        this.readOnly = readOnly;
        this.preallocation = preallocation;
        this.callHook = callHook;
    }

    /**
     * Opens the file; on the default file system also takes QEMU-compatible image locks ({@link ImageLock}).
     *
     * @throws ImageLockedException if another process holds the image in a way this open cannot share
     */
    static FileStorage open(Path file, boolean readOnly) throws IOException {
        return open(file, readOnly, false);
    }

    /**
     * As {@link #open(Path, boolean)}; a read-only open with {@code forceShare} takes only the consistent-read lock
     * and shares everything, as {@code qemu-io -r -U}.
     */
    static FileStorage open(Path file, boolean readOnly, boolean forceShare) throws IOException {
        return open(file, readOnly, forceShare, LockTable.jvm(), null);
    }

    /**
     * As {@link #open(Path, boolean, boolean)}, locking through {@code locks} (the JVM's table, or a test's own) and
     * running {@code callHook} (if not null) before each channel call.
     */
    static FileStorage open(Path file, boolean readOnly, boolean forceShare, LockTable locks, CallHook callHook)
            throws IOException {
        if (!ImageLock.applies(file)) {
            return new FileStorage(openUnlocked(file, readOnly), file, null, readOnly, null, callHook);
        }
        LockHandle lock = locks.open(file, !readOnly, forceShare);
        try {
            return new FileStorage(lock.channel(), file, lock, readOnly, lock.preallocation(), callHook);
        } catch (IOException | RuntimeException e) {
            try {
                lock.close();
            } catch (IOException | RuntimeException c) {
                e.addSuppressed(c);
            }
            throw e;
        }
    }

    /**
     * Creates {@code file}, which must not exist, and opens it for writing through the lock manager like any image,
     * so that its descriptor, too, is closed only when no lock on the file is held.
     *
     * @throws java.nio.file.FileAlreadyExistsException if it exists
     */
    public static FileStorage createNew(Path file) throws IOException {
        Files.createFile(file); // a new inode: nobody can hold a lock on it yet, so this close drops none
        try {
            return open(file, false);
        } catch (IOException | RuntimeException e) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException | RuntimeException d) {
                e.addSuppressed(d);
            }
            throw e;
        }
    }

    private static FileChannel openUnlocked(Path file, boolean readOnly) throws IOException {
        return readOnly
                ? FileChannel.open(file, StandardOpenOption.READ)
                : FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    /**
     * Where the file's data and holes are ({@link HoleProbe}), or null where that cannot be found (another file
     * system, before Java 22, no native access). Opened once, through the lock manager, which owns its descriptor.
     */
    synchronized HoleProbe holeProbe() throws IOException {
        if (closed) {
            throw new ClosedChannelException();
        }
        if (!holesAsked) {
            holesAsked = true;
            holes = lock != null ? lock.holeProbe() : null;
        }
        return holes;
    }

    /** The channel, for byte-range locking. */
    FileChannel channel() {
        return channel;
    }

    /** How many times a channel closed by an interrupt was replaced. */
    synchronized int reopens() {
        return reopens;
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        int start = dst.position();
        return io(ch -> ch.read(dst.position(start), position), "read", dst.remaining(), position);
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        checkWritable();
        if (lock != null) {
            lock.beforeWrite();
        }
        int start = src.position();
        io(ch -> {
            src.position(start);
            for (long pos = position; src.hasRemaining(); ) {
                pos += ch.write(src, pos);
            }
            return null;
        }, "write", src.remaining(), position);
    }

    @Override
    public long size() throws IOException {
        return io(FileChannel::size, "size", -1, -1);
    }

    @Override
    public void truncate(long size) throws IOException {
        checkWritable();
        if (lock != null) {
            lock.beforeWrite();
        }
        io(ch -> ch.truncate(size), "truncate to " + size + " bytes", -1, -1);
        if (preallocation != null) {
            preallocation.truncated(size);
        }
    }

    @Override
    public void startWriteback() {
        if (preallocation != null) {
            preallocation.startWriteback();
        }
    }

    @Override
    public void appending(long offset, long end) {
        if (preallocation != null) {
            preallocation.appending(offset, end);
        }
    }

    @Override
    public void force() throws IOException {
        if (lock != null && !readOnly) {
            lock.beforeFlush();
        }
        io(ch -> {
            ch.force(true);
            return null;
        }, "flush", -1, -1);
    }

    /** One call on the channel; it starts over from the same state when retried. */
    private interface ChannelCall<T> {
        T run(FileChannel ch) throws IOException;
    }

    /**
     * Runs {@code call}, retrying it on a channel reopened after another thread's interrupt. {@code op},
     * {@code bytes} and {@code offset} (-1 when they do not apply) only describe the call in error messages, so
     * the hot path builds no message.
     */
    private <T> T io(ChannelCall<T> call, String op, long bytes, long offset) throws IOException {
        boolean interrupted = false;
        try {
            for (int attempt = 0; ; attempt++) {
                // A pending interrupt would make the JDK close the channel as soon as the call starts.
                interrupted |= Thread.interrupted();
                FileChannel ch = channel;
                try {
                    CallHook hook = callHook;
                    if (hook != null) {
                        hook.beforeCall(ch);
                    }
                    return call.run(ch);
                } catch (ClosedByInterruptException e) {
                    interrupted = true;
                    Thread.interrupted(); // the locks must be taken again without this interrupt in the way
                    if (!closed) {
                        try {
                            reopen(ch);
                        } catch (IOException failed) {
                            e.addSuppressed(failed);
                        }
                    }
                    throw e;
                } catch (ClosedChannelException e) {
                    // AsynchronousCloseException included: another thread's interrupt closed the channel.
                    if (closed || attempt >= MAX_RETRIES) {
                        throw e;
                    }
                    reopenAfter(ch, e);
                } catch (IOException e) {
                    throw located(e, op, bytes, offset);
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void reopenAfter(FileChannel failed, IOException cause) throws IOException {
        try {
            reopen(failed);
        } catch (IOException e) {
            e.addSuppressed(cause);
            throw e;
        }
    }

    /** Replaces {@code failed} if it is still this storage's channel and closed, unless the storage is closed. */
    private synchronized void reopen(FileChannel failed) throws IOException {
        if (closed) {
            throw new ClosedChannelException();
        }
        if (channel != failed || failed.isOpen()) {
            return;
        }
        // The thread whose interrupt closed it may still be closing the descriptor (after the threads inside calls
        // have left them): close() returns once that is done, so the locks taken next are not dropped by it.
        failed.close();
        channel = lock != null ? lock.reopen() : openUnlocked(file, readOnly);
        reopens++;
    }

    /**
     * Adds the file and the operation to a bare I/O error (EIO, ENOSPC), which the JDK reports without either.
     * Subclasses (closed channel, access denied, ...) already say what happened and keep their type.
     */
    private IOException located(IOException e, String op, long bytes, long offset) {
        if (e.getClass() != IOException.class) {
            return e;
        }
        String what = bytes < 0 ? op : op + " of " + bytes + " bytes at offset " + offset;
        return new IOException(name + ": " + what + " failed: " + e.getMessage(), e);
    }

    private void checkWritable() throws IOException {
        if (readOnly) {
            throw new AccessDeniedException(name, null, "opened read-only");
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public void close() throws IOException {
        HoleProbe probe;
        synchronized (this) {
            closed = true;
            probe = holes;
            holes = null;
        }
        if (probe != null) {
            lock.giveBack(probe);
        }
        if (lock == null) {
            channel.close();
        } else {
            // Closing this channel now would drop every POSIX lock this process holds on the file.
            lock.close();
        }
    }
}
