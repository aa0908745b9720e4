package io.github.qednio.internal.storage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Executor;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Disk space reserved ahead of an image file's end while a writer allocates clusters there: {@code fallocate(fd,
 * FALLOC_FL_KEEP_SIZE, end, n)}, which gives the file unwritten blocks past its end without changing its length.
 *
 * <p>Why: the engine allocates at the end of the file (notes §1), so an image being filled grows by one write per
 * cluster. On a delayed-allocation file system (ext4, XFS) each such write past the end makes the kernel reserve
 * space and record a delayed extent page by page; a write into blocks already reserved skips that, and the extents
 * are converted once, at write-back. Measured on Linux 6.18/ext4: sequential 64 KiB writes of a new 1 GiB file
 * take 175 ms into reserved space against 242 ms without, and 648 against 710 ms including the final
 * {@code fsync} (docs/PERFORMANCE.md). QEMU's QED driver does not do this.
 *
 * <p>What a reader sees does not change: the file's length is only ever set by writes, and reserved blocks past the
 * end are not part of the file. Only reservations past the end of the file are made (the allocator's
 * {@link ClusterAllocator#allocateAtEnd} tells where), so holes inside the file (a new image's sparse L1 table) are
 * never filled. When the last writer of the file in this JVM closes, the space still reserved past the end is given
 * back ({@code ftruncate} to the file's own length, with the image locks verified just before); after a crash it
 * stays reserved until a writer next extends the file and closes.
 *
 * <p>The same descriptor serves {@link EarlyWriteback} ({@link #startWriteback}).
 *
 * <p>Only where the native calls exist (Java 22+ with native access, Linux; {@link Natives}) and the file system
 * supports {@code fallocate}: on the first refusal it is off for the file. It never fails a write. The system
 * property {@value #ENABLE_PROPERTY} set to {@code false} turns it off (to compare, or for a file system where it
 * does not pay). The descriptor belongs to the lock manager, like a {@link HoleProbe}'s.
 */
final class Preallocation implements Closeable {
    private static final Logger LOG = LoggerFactory.getLogger(Preallocation.class);
    /** The system property that turns preallocation off when {@code false}. */
    static final String ENABLE_PROPERTY = "qednio.preallocate";
    /** How far past the end a reservation reaches: one {@code fallocate} per 256 sequential 64 KiB clusters. */
    static final long AHEAD = 16L << 20;
    private static final long GRAIN = 1L << 20;
    /**
     * The native calls, looked up on the first reservation (on the reserver's thread): loading the Foreign Function
     * API's classes and linking the calls takes tens of milliseconds, which an image's open should not pay.
     */
    private static final class Native {
        static final Opener OPENER = Natives.opener("io.github.qednio.internal.storage.NativeSpace", Opener.class,
                "preallocation");
    }

    private static final Opener LAZY_NATIVE = (file, fileKey) -> {
        Opener native22 = Native.OPENER;
        return native22 == null ? null : native22.open(file, fileKey);
    };
    /**
     * Makes the reservations, off the writers' threads: daemon threads, as many as files being reserved for at once
     * (each file has at most one reservation under way), ended after a minute idle.
     */
    private static final Executor RESERVER = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 60, TimeUnit.SECONDS,
            new SynchronousQueue<>(), r -> {
                Thread t = new Thread(r, "qed-preallocate");
                t.setDaemon(true);
                return t;
            });

    /** The native calls on the writers' own descriptor of the file. */
    interface Space extends Closeable {
        /** Reserves {@code [offset, offset + length)} without changing the file's length: 0, or {@code -errno}. */
        int reserve(long offset, long length) throws IOException;

        /**
         * Cuts the file to {@code length} bytes, its length now, which frees the blocks reserved past it
         * ({@code ftruncate} to the same length: {@code FALLOC_FL_PUNCH_HOLE} does nothing past the end on ext4):
         * 0, or {@code -errno}.
         */
        int cutTo(long length) throws IOException;

        /** Starts writing the file's dirty pages back without waiting for them: 0, or {@code -errno}. */
        int startWriteback() throws IOException;
    }

    /** Opens a {@link Space} on {@code file}, checked to be {@code fileKey}, or returns null where it cannot. */
    @FunctionalInterface
    interface Opener {
        Space open(Path file, Object fileKey) throws IOException;
    }

    private final Path file;
    private final Object fileKey;
    private final Opener opener;
    private final Executor reserver;
    /** An allocation ending past this asks for the next reservation: read without the monitor on every one. */
    private volatile long threshold;
    /** The end of the space reserved (or the file's length before any reservation). */
    private long reservedEnd;
    /** A reservation is being made on the reserver's thread. */
    private boolean pending;
    private Space space;
    private boolean off;
    private boolean writebackOff;
    private boolean closed;

    Preallocation(Path file, Object fileKey, long fileLength, Opener opener, Executor reserver) {
        this.file = file;
        this.fileKey = fileKey;
        this.opener = opener;
        this.reserver = reserver;
        this.reservedEnd = fileLength;
        this.off = opener == null || "false".equalsIgnoreCase(System.getProperty(ENABLE_PROPERTY));
        this.threshold = off ? Long.MAX_VALUE : fileLength;
    }

    /** For the file's first writer (the lock manager): {@code fileLength} is the file's length now. */
    static Preallocation of(Path file, Object fileKey, long fileLength) {
        return new Preallocation(file, fileKey, fileLength, Runtime.version().feature() >= 22 ? LAZY_NATIVE : null,
                RESERVER);
    }

    /** Whether this JVM can preallocate (for tests and diagnostics). */
    static boolean available() {
        return Native.OPENER != null;
    }

    /**
     * {@code [offset, end)}, at or past the end of the file, is about to be written: once the writes come within
     * half of {@link #AHEAD} of the end of the reservation, the next one (up to {@code AHEAD} past {@code end}, and
     * from {@code offset} on at the lowest, so nothing below the end of the file is filled) is made on another
     * thread. The writer never waits for it ({@code fallocate} starts a journal transaction and can wait for the
     * file system's journal); a write past the reservation is simply an ordinary write. Never fails: a refusal
     * turns preallocation off.
     */
    void appending(long offset, long end) {
        if (end > threshold) {
            request(offset, end);
        }
    }

    private synchronized void request(long offset, long end) {
        if (pending || off || end <= threshold) { // closing turns it off
            return;
        }
        long from = Math.max(reservedEnd, offset);
        long to = (end + AHEAD + GRAIN - 1) / GRAIN * GRAIN;
        pending = true;
        threshold = Long.MAX_VALUE; // until this one is done
        try {
            reserver.execute(() -> reserve(from, to));
        } catch (RuntimeException e) { // rejected: no thread to be had
            pending = false;
            turnOff(e.toString());
        }
    }

    /** On the reserver's thread, without the monitor: a slow call blocks no writer. */
    private void reserve(long from, long to) {
        String failure = null;
        try {
            Space s = space();
            int r = s == null ? 0 : s.reserve(from, to - from);
            if (s == null) {
                failure = "no descriptor of the file could be opened";
            } else if (r != 0) {
                failure = "fallocate(FALLOC_FL_KEEP_SIZE) at offset " + from + " failed with errno " + -r;
            }
        } catch (IOException | RuntimeException e) {
            failure = e.toString();
        }
        synchronized (this) {
            pending = false;
            if (failure != null) {
                turnOff(failure);
            } else if (!off) {
                reservedEnd = Math.max(reservedEnd, to);
                threshold = reservedEnd - AHEAD / 2;
            }
            notifyAll();
        }
    }

    private synchronized Space space() throws IOException {
        return openSpace() ? space : null;
    }

    /** Opens the descriptor on first use (monitor held); false where none can be. */
    private boolean openSpace() throws IOException {
        if (space == null && opener != null && !closed) {
            space = opener.open(file, fileKey);
        }
        return space != null;
    }

    /**
     * Starts writing the file's dirty pages back to disk without waiting ({@code sync_file_range} with
     * {@code SYNC_FILE_RANGE_WRITE}), so that a later flush has less left to do ({@link EarlyWriteback}). Best
     * effort, and independent of whether space is reserved: nothing happens where the native calls do not exist.
     */
    synchronized void startWriteback() {
        if (writebackOff) {
            return;
        }
        try {
            int r = openSpace() ? space.startWriteback() : -1;
            if (r != 0) {
                writebackOff = true;
                LOG.debug("{}: early write-back off: {}", file,
                        r == -1 ? "no descriptor of the file" : "sync_file_range failed with errno " + -r);
            }
        } catch (IOException | RuntimeException e) {
            writebackOff = true;
            LOG.debug("{}: early write-back off", file, e);
        }
    }

    private void turnOff(String why) {
        LOG.debug("{}: preallocation off: {}", file, why);
        off = true;
        threshold = Long.MAX_VALUE;
    }

    /** The file was cut to {@code length} bytes, and with it everything reserved past that. */
    synchronized void truncated(long length) {
        awaitReservation();
        if (length < reservedEnd) {
            reservedEnd = length;
            if (!off) {
                threshold = length;
            }
        }
    }

    /** With the monitor held: waits until no reservation is being made (it would land after what follows). */
    private void awaitReservation() {
        boolean interrupted = false;
        while (pending) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Whether {@link #trim} may have something to give back: a descriptor was opened (once the reservation under way,
     * if any, is done). Lets the last writer's close skip the lock check when nothing was ever reserved.
     */
    synchronized boolean opened() {
        awaitReservation();
        return space != null;
    }

    /**
     * Gives back the space reserved past {@code fileLength}, the file's length once its last writer is done (called
     * by the lock manager before it releases the write lock), and with it whatever a writer that crashed left
     * reserved. Best effort: a failure only leaves space reserved.
     */
    synchronized void trim(long fileLength) {
        awaitReservation();
        if (space == null) { // nothing reserved, or closed
            return;
        }
        try {
            int r = space.cutTo(fileLength);
            if (r != 0) {
                LOG.debug("{}: space reserved past the end not given back: ftruncate failed with errno {}", file, -r);
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("{}: space reserved past the end not given back", file, e);
        }
        reservedEnd = fileLength;
        if (!off) {
            threshold = fileLength;
        }
    }

    /** Closes the descriptor: only the lock manager calls this, once no lock on the file is held. */
    @Override
    public synchronized void close() throws IOException {
        awaitReservation();
        closed = true;
        off = true;
        writebackOff = true;
        threshold = Long.MAX_VALUE;
        if (space != null) {
            Space s = space;
            space = null;
            s.close();
        }
    }
}
