package io.github.qednio.internal.storage;

import io.github.qednio.image.ImageLockedException;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * QEMU's lock-byte protocol ({@code raw_apply_lock_bytes}, {@code raw_check_lock_bytes}) on one file: the bytes
 * this process holds for the users of the file in this JVM, taken and checked as {@link ImageLock} describes. The
 * file's locks are the union of what its users need, so a byte is taken once whoever comes first and given up when
 * the last user needing it goes. Guarded by the lock of the file's {@link LockEntry}.
 */
final class LockBytes {
    // Logged under the manager's name, as before it was split, so that logging configurations naming it still apply.
    private static final Logger LOG = LoggerFactory.getLogger(ImageLock.class);
    static final int LOCK_BASE_PERM = 100;
    static final int LOCK_BASE_SHARED = 200;

    /** QEMU's {@code BLK_PERM_*} bits, by bit number. */
    enum Perm {
        CONSISTENT_READ("consistent read"), WRITE("write"), WRITE_UNCHANGED("write unchanged"), RESIZE("resize");

        final String qemuName;

        Perm(String qemuName) {
            this.qemuName = qemuName;
        }

        int permByte() {
            return LOCK_BASE_PERM + ordinal();
        }

        int sharedByte() {
            return LOCK_BASE_SHARED + ordinal();
        }
    }

    private static final Perm[] WRITER_PERMS = {Perm.CONSISTENT_READ, Perm.WRITE, Perm.RESIZE};
    private static final Perm[] WRITER_UNSHARED = {Perm.WRITE, Perm.RESIZE};

    private final Path file;
    private final String name;
    final Map<Perm, FileLock> permLocks = new EnumMap<>(Perm.class);
    final Map<Perm, FileLock> unsharedLocks = new EnumMap<>(Perm.class);
    /** Set once the file system refused a lock call: nothing is locked or checked from then on. */
    boolean unlockable;

    LockBytes(Path file, String name) {
        this.file = file;
        this.name = name;
    }

    /** Whether every byte held is within {@code held}, the ranges {@code /proc/locks} lists for this process. */
    boolean coveredBy(List<long[]> held) {
        for (Map<Perm, FileLock> locks : List.of(permLocks, unsharedLocks)) {
            for (FileLock l : locks.values()) {
                if (!ProcLocks.covers(held, l.position())) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * Forgets every byte held, releasing it in the JVM's table (unlocking bytes the process no longer holds, after
     * the kernel dropped them, changes nothing in the kernel).
     */
    void releaseAll() throws IOException {
        for (Map<Perm, FileLock> locks : List.of(permLocks, unsharedLocks)) {
            for (FileLock l : locks.values()) {
                releaseLock(l);
            }
            locks.clear();
        }
    }

    /**
     * Takes a reader's locks: the consistent-read permission and, for a {@code consistent} reader, write and
     * resize unshared, after checking that no other process holds them (or does not share consistent read).
     * Nothing is checked when this JVM's writer or another consistent reader already holds them: the file's
     * locks are the union of what its users in this JVM need.
     */
    void lockForReading(FileChannel ch, boolean consistent) throws IOException {
        if (unlockable) {
            return;
        }
        if (!permLocks.containsKey(Perm.CONSISTENT_READ)) {
            lock(ch, Perm.CONSISTENT_READ.permByte(), permLocks, Perm.CONSISTENT_READ);
        }
        if (!consistent || unsharedLocks.containsKey(Perm.WRITE)) {
            return;
        }
        // As QEMU does: lock, then look for others' locks, so that of a reader and a writer starting at once at
        // least one sees the other. Java tests a byte only by locking it exclusively, which needs a writable
        // descriptor, so /proc/locks is read instead; where it does not list locks (not Linux) the reader opens
        // without looking, holding its locks all the same. QEMU's order (raw_check_lock_bytes): by permission
        // bit, the byte of what we need, then of what we do not share.
        try {
            lockUnshared(ch);
            String token = unlockable ? null : ProcLocks.tokenOf(file, Perm.CONSISTENT_READ.permByte());
            if (token != null) {
                if (ProcLocks.othersHold(token, Perm.CONSISTENT_READ.sharedByte())) {
                    throw new ImageLockedException(name, "Failed to get \"" + Perm.CONSISTENT_READ.qemuName
                            + "\" lock (another process does not let others read the image; is another process"
                            + " using it?)");
                }
                for (Perm p : WRITER_UNSHARED) {
                    if (ProcLocks.othersHold(token, p.permByte())) {
                        throw new ImageLockedException(name, "Failed to get shared \"" + p.qemuName + "\" lock",
                                true);
                    }
                }
            }
        } catch (IOException | RuntimeException ex) {
            releaseUnshared(); // nobody else in this JVM held them: they were not held before
            throw ex;
        }
    }

    /** Holds write and resize unshared (bytes 201, 203), for the writer or the consistent readers. */
    private void lockUnshared(FileChannel ch) throws IOException {
        for (Perm p : WRITER_UNSHARED) {
            if (!unsharedLocks.containsKey(p)) {
                lock(ch, p.sharedByte(), unsharedLocks, p);
            }
        }
    }

    /** Lets others write and resize again (the last consistent reader or the writer is gone). */
    void releaseUnshared() throws IOException {
        for (Perm p : WRITER_UNSHARED) {
            releaseLock(unsharedLocks.remove(p));
        }
    }

    void lockForWriting(FileChannel ch) throws IOException {
        if (unlockable) {
            return;
        }
        // Check first: the JVM does not let us test a byte we hold ourselves (QEMU checks after locking with
        // F_OFD_GETLK, which ignores its own locks). The window between check and lock is microseconds. This
        // JVM's consistent readers hold 201 and 203, so those are given up for the check and taken back by the
        // writer (or for the readers again if it is refused); another process may start reading meanwhile,
        // which is no harm.
        boolean readersHold = !unsharedLocks.isEmpty();
        releaseUnshared();
        try {
            for (Perm p : WRITER_PERMS) {
                if (!free(ch, p.sharedByte())) {
                    throw writerRefused("\"" + p.qemuName + "\" lock: another process does not share the "
                            + p.qemuName + " permission");
                }
            }
            for (Perm p : WRITER_UNSHARED) {
                if (!free(ch, p.permByte())) {
                    throw writerRefused("shared \"" + p.qemuName + "\" lock: another process holds the "
                            + p.qemuName + " permission");
                }
            }
            for (Perm p : WRITER_PERMS) {
                if (!permLocks.containsKey(p)) {
                    lock(ch, p.permByte(), permLocks, p);
                }
            }
            lockUnshared(ch);
        } catch (IOException | RuntimeException ex) {
            if (readersHold) {
                try {
                    lockUnshared(ch);
                } catch (IOException | RuntimeException suppressed) {
                    ex.addSuppressed(suppressed);
                }
            }
            throw ex;
        }
    }

    private ImageLockedException writerRefused(String what) {
        return new ImageLockedException(name, "cannot open for writing: failed to get " + what
                + " (is QEMU or another process using the image? close it there first)");
    }

    /** Gives up the writer's permissions; write and resize stay unshared while {@code consistentReaders} remain. */
    void unlockWriting(boolean consistentReaders) throws IOException {
        for (Perm p : WRITER_UNSHARED) {
            releaseLock(permLocks.remove(p));
        }
        if (!consistentReaders) {
            releaseUnshared();
        }
    }

    /**
     * Whether no other process holds byte {@code b}: tested with an exclusive lock, which fails if anyone else
     * holds any lock on it. True where the file system refuses locks.
     */
    private boolean free(FileChannel ch, int b) throws IOException {
        FileLock probe;
        try {
            probe = ch.tryLock(b, 1, false);
        } catch (OverlappingFileLockException e) {
            probe = null;
        } catch (ClosedChannelException e) {
            throw e; // not a file system without locks
        } catch (IOException | UnsupportedOperationException e) {
            noLocking(e);
            return true;
        }
        if (probe == null) {
            return false;
        }
        probe.release();
        return true;
    }

    private void lock(FileChannel ch, int b, Map<Perm, FileLock> into, Perm p) throws IOException {
        if (unlockable) {
            return;
        }
        FileLock l;
        try {
            l = ch.tryLock(b, 1, true);
        } catch (OverlappingFileLockException e) {
            l = null;
        } catch (ClosedChannelException e) {
            throw e; // not a file system without locks
        } catch (IOException | UnsupportedOperationException e) {
            noLocking(e);
            return;
        }
        if (l == null) {
            throw new ImageLockedException(name, "failed to lock byte " + b + " (is another process using the"
                    + " image?)");
        }
        into.put(p, l);
    }

    private void noLocking(Exception e) {
        if (!unlockable) {
            LOG.warn("{}: the file system refuses byte-range locks ({}); the image is not protected against a"
                    + " second writer", name, e.toString());
            unlockable = true;
        }
    }

    private static void releaseLock(FileLock l) throws IOException {
        if (l != null && l.isValid()) {
            l.release();
        }
    }
}
