package io.github.qednio.internal.storage;

import io.github.qednio.image.ImageLockedException;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One open of a locked file ({@link LockTable#open}); {@link #close()} gives its locks and channel back. */
final class LockHandle {
    // Logged under the manager's name, as before it was split, so that logging configurations naming it still apply.
    private static final Logger LOG = LoggerFactory.getLogger(ImageLock.class);
    private final Path file;
    private final LockEntry entry;
    private final boolean writer;
    /** A reader that keeps other processes from writing (one without force-share). */
    private final boolean consistent;
    /** Replaced by {@link #reopen} after an interrupt closed it; written under the entry's lock. */
    private volatile FileChannel channel;
    private boolean closed;

    LockHandle(Path file, LockEntry entry, boolean writer, boolean consistent, FileChannel channel) {
        this.file = file;
        this.entry = entry;
        this.writer = writer;
        this.consistent = consistent;
        this.channel = channel;
    }

    /** The channel to do this user's I/O on (read-write only for a writer). */
    FileChannel channel() {
        return channel;
    }

    /** With {@code e.lock} held: refuses a closed handle, or one whose image another process took. */
    private void ensureUsable(LockEntry e) throws IOException {
        if (closed) {
            throw new ClosedChannelException();
        }
        if (e.lockLost != null) {
            throw e.lockLost;
        }
    }

    /**
     * Gives this user a new channel after its own was closed under it (a thread interrupted during I/O on it)
     * and takes the file's image locks again: closing that descriptor dropped every POSIX lock this process
     * held on the file, those of the other users in this JVM included. Does nothing if the channel is open.
     *
     * @return the channel to use from now on
     * @throws ClosedChannelException if this handle was closed
     * @throws ImageLockedException if another process took the image while it was unlocked
     */
    FileChannel reopen() throws IOException {
        LockEntry e = entry;
        e.lock.lock();
        try {
            ensureUsable(e);
            if (channel.isOpen()) {
                return channel;
            }
            channel.close(); // waits for a close by an interrupt to finish dropping the locks
            FileChannel fresh = writer
                    ? FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)
                    : FileChannel.open(file, StandardOpenOption.READ);
            e.replace(channel, fresh, writer);
            channel = fresh;
            try {
                e.healing.relock(fresh, writer);
            } catch (ImageLockedException ex) {
                // Unlocked for a moment, someone else got in: this JVM must not write any more.
                e.lockLost = ex;
                throw ex;
            }
            LOG.debug("{}: reopened after its channel was closed by an interrupt", e.name);
            return fresh;
        } finally {
            e.lock.unlock();
        }
    }

    /**
     * Called by a writer before each write and flush: cheap except at the start of an epoch (the first write
     * after opening or after a flush), at a flush, and every {@link LockHealing#WRITES_PER_CHECK} writes within an
     * epoch, when the locks are looked up in {@code /proc/locks}. If the kernel no longer has them (a descriptor of
     * the file was closed outside the library), they are taken again; if another process got the image
     * meanwhile, this and every later write fails.
     *
     * @throws ImageLockedException naming the image if the locks were lost and cannot be taken again
     */
    void beforeWrite() throws IOException {
        if (entry.healing.writeInCheckedEpoch()) {
            return;
        }
        verifyLocks(false);
    }

    /** Verifies the locks now (before a flush) and starts a new epoch: the next write checks again. */
    void beforeFlush() throws IOException {
        verifyLocks(true);
        entry.healing.endEpoch();
    }

    /** Looks the locks up, taking them again if gone; unless {@code always}, not if another thread just did. */
    private void verifyLocks(boolean always) throws IOException {
        LockEntry e = entry;
        e.lock.lock();
        try {
            ensureUsable(e);
            e.healing.verify(writer ? channel : null, always);
        } finally {
            e.lock.unlock();
        }
    }

    /**
     * A {@link HoleProbe} of this file for this user, or null where holes cannot be found. Its descriptor is the
     * entry's: like the channels, it is closed only when no user of the file is left (closing it earlier would
     * drop every POSIX lock this process holds on the file), and a probe given back ({@link #giveBack}) is
     * reused by the next user who asks, so repeated probes do not pile up descriptors.
     */
    HoleProbe holeProbe() throws IOException {
        LockEntry e = entry;
        e.lock.lock();
        try {
            ensureUsable(e);
            if (!e.idleProbes.isEmpty()) {
                return e.idleProbes.remove(e.idleProbes.size() - 1);
            }
            e.table.beforeIo(file);
            HoleProbe p = HoleProbe.open(file, e.key);
            if (p != null) {
                e.probes.add(p);
            }
            return p;
        } finally {
            e.lock.unlock();
        }
    }

    /**
     * The file's {@link Preallocation}, shared by its writers in this JVM, or null for a reader. Its descriptor,
     * opened on first use, is the entry's: closed only when no user of the file is left; the space it reserved
     * past the end is given back when the last writer closes.
     */
    Preallocation preallocation() throws IOException {
        if (!writer) {
            return null;
        }
        LockEntry e = entry;
        e.lock.lock();
        try {
            ensureUsable(e);
            if (e.preallocation == null) {
                e.preallocation = Preallocation.of(file, e.key, channel.size());
            }
            return e.preallocation;
        } finally {
            e.lock.unlock();
        }
    }

    /** Gives a probe from {@link #holeProbe} back, to be reused or closed with the file's channels. */
    void giveBack(HoleProbe probe) {
        LockEntry e = entry;
        e.lock.lock();
        try {
            if (!e.retired && e.probes.contains(probe)) {
                e.idleProbes.add(probe);
            }
        } finally {
            e.lock.unlock();
        }
    }

    /**
     * The last writer is leaving, so the file's length is final for now: gives back what is reserved past it.
     * Only with the locks verified just before: cutting the file to a length read earlier is safe only while
     * no other process can write it.
     */
    private void trimPreallocation(LockEntry e) {
        try {
            verifyLocks(true);
            e.preallocation.trim(channel.size());
        } catch (IOException ex) {
            LOG.debug("{}: space reserved past the end not given back", e.name, ex);
        }
    }

    /** Called instead of closing the channel: it is closed once no user of the file is left. */
    void close() throws IOException {
        LockEntry e = entry;
        e.lock.lock();
        try {
            if (closed) {
                return;
            }
            if (writer && e.writers == 1 && e.preallocation != null && e.preallocation.opened()) {
                trimPreallocation(e); // while this handle is open: the lock check refuses a closed one
            }
            closed = true;
            if (writer) {
                e.writers--;
                e.unlockWriting();
                e.healing.lockToken = null;
            } else {
                e.readers--;
                if (consistent && --e.consistentReaders == 0 && e.writers == 0) {
                    e.bytes.releaseUnshared();
                }
            }
            e.idle.add(channel);
            e.release();
        } finally {
            e.lock.unlock();
        }
    }
}
