package io.github.qednio.internal.storage;

import io.github.qednio.image.ImageLockedException;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds the locks of one file gone when a descriptor of it was closed (by code outside the library, or by an
 * interrupt), and takes them again, as {@link ImageLock} describes: the writer looks its locks up in
 * {@code /proc/locks} at the start of every epoch, at every flush and every {@link #WRITES_PER_CHECK} writes, and
 * every library open or probe of the file looks too. If another process took the image while it was unlocked, the
 * file's entry is marked lost and every later write fails. Guarded by the lock of the file's {@link LockEntry}, except
 * the writer's per-write countdown.
 */
final class LockHealing {
    // Logged under the manager's name, as before it was split, so that logging configurations naming it still apply.
    private static final Logger LOG = LoggerFactory.getLogger(ImageLock.class);
    /** Writes between two checks of the locks within one epoch (an epoch ends at each flush). */
    static final int WRITES_PER_CHECK = 256;

    private final LockEntry entry;
    /** How {@code /proc/locks} names this file ({@code major:minor:inode}), or null if it cannot be checked. */
    String lockToken;
    /** Whether the locks were verified since the last flush (the epoch's first write checks). */
    volatile boolean checked;
    final AtomicInteger writesUntilCheck = new AtomicInteger();

    LockHealing(LockEntry entry) {
        this.entry = entry;
    }

    /**
     * Finds how {@code /proc/locks} names the file, right after the writer's locks were taken: the entry of
     * this process that covers the write-permission byte on the file's inode. Left null (no checking) where
     * there is no {@code /proc/locks} or it does not show the lock (not Linux, no locking).
     */
    void calibrate(Path file) {
        lockToken = null;
        checked = false;
        if (entry.bytes.unlockable) {
            return;
        }
        lockToken = ProcLocks.tokenOf(file, LockBytes.Perm.WRITE.permByte());
        if (lockToken == null) {
            LOG.debug("{}: /proc/locks does not show our lock; lost locks will not be detected", entry.name);
        }
    }

    /** Whether the kernel still has every lock the JVM believes this process holds (true if unknowable). */
    boolean kernelHoldsLocks() throws IOException {
        if (lockToken == null || entry.bytes.unlockable) {
            return true;
        }
        return entry.bytes.coveredBy(ProcLocks.ranges(lockToken));
    }

    /**
     * Whether a write may go on without looking at the locks: counts it, within an epoch already verified.
     * Called without the entry's lock (the writer's hot path).
     */
    boolean writeInCheckedEpoch() {
        return checked && writesUntilCheck.decrementAndGet() > 0;
    }

    /** Ends the epoch (at a flush): the next write looks the locks up again. */
    void endEpoch() {
        checked = false;
    }

    /**
     * Looks the locks up, taking them again if gone; unless {@code always}, not if another thread just did.
     * {@code writerChannel} is the channel of the writer asking, or null for a reader (whose locks are not looked
     * up here).
     */
    void verify(FileChannel writerChannel, boolean always) throws IOException {
        LockEntry e = entry;
        if (!always && checked && writesUntilCheck.get() > 0) {
            return; // verified by another writing thread while this one waited
        }
        if (writerChannel != null && !kernelHoldsLocks()) {
            FileChannel ch = writerChannel;
            if (!ch.isOpen()) {
                // An interrupt closed this user's channel: the call fails on it and FileStorage's reopen
                // takes the locks again before retrying. The epoch stays unchecked.
                return;
            }
            LOG.warn("{}: its image locks are gone (a descriptor of the file was closed in this JVM outside"
                    + " qed-nio, which drops every POSIX lock of the process); taking them again", e.name);
            try {
                retake(ch);
            } catch (ClosedChannelException ex) {
                if (!ch.isOpen()) {
                    return; // closed by an interrupt meanwhile: as above, the reopen relocks
                }
                throw ex;
            } catch (ImageLockedException ex) {
                e.lockLost = new ImageLockedException(e.name, "the image lock was lost (a descriptor of the"
                        + " file was closed in this JVM outside qed-nio, which drops every POSIX lock of the"
                        + " process) and another process took the image meanwhile, so nothing more is"
                        + " written: " + ex.getReason());
                throw e.lockLost;
            }
        }
        writesUntilCheck.set(WRITES_PER_CHECK);
        checked = true;
    }

    /**
     * If a writer holds the file and the kernel no longer has its locks, takes them again (or marks the writer
     * lost and throws). Run whenever the library touches a file that is in use.
     */
    void healIfLost() throws IOException {
        if (entry.writers == 0 || entry.lockLost != null || kernelHoldsLocks()) {
            return;
        }
        LOG.warn("{}: its image locks are gone (a descriptor of the file was closed in this JVM outside"
                + " qed-nio, which drops every POSIX lock of the process); taking them again", entry.name);
        try {
            retakeAfterClose();
        } catch (ImageLockedException e) {
            // The writer is marked lost and fails its next write; whoever came here (a reader, a probe) goes on.
            LOG.warn("{}", e.getMessage());
        }
    }

    /** Takes the writer's and readers' locks again after the kernel dropped them all. */
    void retake(FileChannel writerChannel) throws IOException {
        relock(writerChannel, true);
    }

    /** {@link #retake} on any open channel (a writable one if there is a writer), after a known close. */
    void retakeAfterClose() throws IOException {
        LockEntry e = entry;
        if (e.lockLost != null) {
            throw e.lockLost;
        }
        FileChannel any = null;
        for (FileChannel ch : e.channels) {
            if (ch.isOpen() && (any == null || e.writable.contains(ch))) {
                any = ch;
            }
        }
        if (any == null) {
            return; // every channel is closed: each user's reopen takes the locks again
        }
        try {
            relock(any, e.writable.contains(any));
        } catch (ImageLockedException ex) {
            e.lockLost = new ImageLockedException(e.name, "the image lock was dropped by a descriptor the JDK opened"
                    + " and closed, and another process took the image before it was taken again, so nothing"
                    + " more is written: " + ex.getReason());
            throw e.lockLost;
        }
    }

    /**
     * Takes every lock the users of the file need again, after the kernel dropped them all when one of its
     * descriptors was closed. The JVM still lists the locks of the channels that are open, so they are released
     * first (unlocking bytes the process no longer holds changes nothing). If the only writable channel is
     * closed too, the writer's locks wait for its own {@link LockHandle#reopen}.
     */
    void relock(FileChannel fresh, boolean freshWritable) throws IOException {
        LockEntry e = entry;
        e.bytes.releaseAll();
        // The new channel is nobody's yet, so no interrupt can close it meanwhile; probing for writing needs a
        // writable one.
        FileChannel writableOpen = freshWritable ? fresh : null;
        for (FileChannel ch : e.channels) {
            if (writableOpen == null && ch.isOpen() && e.writable.contains(ch)) {
                writableOpen = ch;
            }
        }
        if (e.writers > 0 && writableOpen != null) {
            e.bytes.lockForWriting(writableOpen);
        }
        if (e.readers + e.writers > 0) {
            e.bytes.lockForReading(fresh, e.consistentReaders > 0);
        }
    }
}
