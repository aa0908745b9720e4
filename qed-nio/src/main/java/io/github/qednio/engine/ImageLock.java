package io.github.qednio.engine;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.FileSystems;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Image locking compatible with QEMU's ({@code block/file-posix.c}, {@code raw_apply_lock_bytes} and
 * {@code raw_check_lock_bytes}): a user of an image holds a shared (read) lock on byte {@code 100 + bit} for each
 * permission it holds, and on byte {@code 200 + bit} for each permission it does not let others have; the
 * permission bits are {@code BLK_PERM_CONSISTENT_READ} 0, {@code WRITE} 1, {@code WRITE_UNCHANGED} 2 and
 * {@code RESIZE} 3. A QEMU writer of a QED image holds bytes 100, 101, 103, 201 and 203 (observed in
 * {@code /proc/locks} with QEMU 7.2); {@code qemu-io -r -U} holds byte 100 only; a plain read-only QEMU user holds
 * 100, 201 and 203 and therefore cannot start while a writer is there.
 *
 * <p>This class takes the same locks: a writer holds 100, 101, 103, 201 and 203 after checking that nobody else
 * holds 200, 201, 203 (permissions we need but others do not share) or 101, 103 (permissions others hold that we do
 * not share); a reader holds only byte 100 and shares everything, like {@code qemu-io -r -U}, so readers never
 * block or wait for writers. QEMU uses open-file-description locks and Java's {@link FileChannel#lock} uses POSIX
 * record locks, which conflict with each other on Linux, so each side sees the other.
 *
 * <p>POSIX locks belong to the process and are all dropped when the process closes <em>any</em> descriptor of the
 * file, and the JVM refuses overlapping locks from two channels. So all opens of one file in this JVM share one
 * {@link Entry}: it counts readers and writers (a second writer is refused here, without asking the kernel), holds
 * the union of the locks they need, and keeps every channel of the file open (reusing given-back ones for later
 * opens) until the last user has closed.
 * Files on other file systems (jimfs, zip) are not locked. Where the kernel refuses locking itself (some network
 * file systems), a warning is logged and the image is opened without a lock, as QEMU does.
 */
final class ImageLock {
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
    private static final Map<Object, Entry> OPEN = new HashMap<>();

    private ImageLock() {
    }

    /** True for files this class locks: those on the default file system. */
    static boolean applies(Path file) {
        return file.getFileSystem() == FileSystems.getDefault();
    }

    /**
     * Opens {@code file} for one user (read-write for a writer) and takes the locks it needs. A channel another
     * user of the file in this JVM has given back is reused, so that repeated opens do not pile up descriptors.
     *
     * @throws ImageLockedException if another writer holds the image
     */
    static Handle open(Path file, boolean writer) throws IOException {
        Object key = fileKey(file);
        synchronized (OPEN) {
            Entry e = OPEN.computeIfAbsent(key, k -> new Entry(file.toString()));
            FileChannel channel = null;
            try {
                channel = e.idleChannel(writer);
                if (channel == null) {
                    channel = writer
                            ? FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)
                            : FileChannel.open(file, StandardOpenOption.READ);
                    e.channels.add(channel);
                    if (writer) {
                        e.writable.add(channel);
                    }
                }
                if (writer) {
                    if (e.writers > 0) {
                        throw new ImageLockedException(file.toString(), "already open for writing in this JVM"
                                + " (close the other QedImage or qed: file system first)");
                    }
                    e.lockForWriting(channel);
                    e.writers++;
                } else {
                    e.lockForReading(channel);
                    e.readers++;
                }
            } catch (IOException | RuntimeException ex) {
                if (writer && e.writers == 0) {
                    try {
                        e.unlockWriting();
                    } catch (IOException suppressed) {
                        ex.addSuppressed(suppressed);
                    }
                }
                if (channel != null) {
                    e.idle.add(channel);
                }
                try {
                    e.release(key);
                } catch (IOException suppressed) {
                    ex.addSuppressed(suppressed);
                }
                throw ex;
            }
            return new Handle(file, key, writer, channel);
        }
    }

    /** Channels this JVM has open on {@code file} through this class (for tests). */
    static int openChannels(Path file) throws IOException {
        synchronized (OPEN) {
            Entry e = OPEN.get(fileKey(file));
            return e == null ? 0 : e.channels.size();
        }
    }

    private static Object fileKey(Path file) throws IOException {
        Object key = Files.readAttributes(file, BasicFileAttributes.class).fileKey();
        return key != null ? key : file.toRealPath(LinkOption.NOFOLLOW_LINKS);
    }

    /** One open of a locked file; {@link #close()} gives its locks and channel back. */
    static final class Handle {
        private final Path file;
        private final Object key;
        private final boolean writer;
        /** Replaced by {@link #reopen} after an interrupt closed it; written under {@link #OPEN}. */
        private volatile FileChannel channel;
        private boolean closed;

        private Handle(Path file, Object key, boolean writer, FileChannel channel) {
            this.file = file;
            this.key = key;
            this.writer = writer;
            this.channel = channel;
        }

        /** The channel to do this user's I/O on (read-write only for a writer). */
        FileChannel channel() {
            return channel;
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
            synchronized (OPEN) {
                if (closed) {
                    throw new ClosedChannelException();
                }
                Entry e = OPEN.get(key);
                if (e.lockLost != null) {
                    throw e.lockLost;
                }
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
                    e.relock(fresh, writer);
                } catch (ImageLockedException ex) {
                    // Unlocked for a moment, someone else got in: this JVM must not write any more.
                    e.lockLost = ex;
                    throw ex;
                }
                LOG.debug("{}: reopened after its channel was closed by an interrupt", e.name);
                return fresh;
            }
        }

        /** Called instead of closing the channel: it is closed once no user of the file is left. */
        void close() throws IOException {
            synchronized (OPEN) {
                if (closed) {
                    return;
                }
                closed = true;
                Entry e = OPEN.get(key);
                if (writer) {
                    e.writers--;
                    e.unlockWriting();
                } else {
                    e.readers--;
                }
                e.idle.add(channel);
                e.release(key);
            }
        }
    }

    /** Every open of one file in this JVM. Guarded by {@link #OPEN}. */
    private static final class Entry {
        final String name;
        final List<FileChannel> channels = new ArrayList<>();
        /** Open channels no user has now, to be reused; a channel cannot be closed while others hold locks. */
        final List<FileChannel> idle = new ArrayList<>();
        final Set<FileChannel> writable = new HashSet<>();
        final Map<Perm, FileLock> permLocks = new EnumMap<>(Perm.class);
        final Map<Perm, FileLock> unsharedLocks = new EnumMap<>(Perm.class);
        int readers;
        int writers;
        boolean unlockable;
        /** Set when the locks could not be taken again after a descriptor was closed; fails every reopen. */
        ImageLockedException lockLost;

        Entry(String name) {
            this.name = name;
        }

        /** An idle channel fit for the user (a writable one for a writer), taken off the idle list, or null. */
        FileChannel idleChannel(boolean writer) {
            for (int i = 0; i < idle.size(); i++) {
                if (!writer || writable.contains(idle.get(i))) {
                    return idle.remove(i);
                }
            }
            return null;
        }

        /** Puts {@code fresh} where the closed {@code old} was. */
        void replace(FileChannel old, FileChannel fresh, boolean writable) {
            channels.remove(old);
            this.writable.remove(old);
            idle.remove(old);
            channels.add(fresh);
            if (writable) {
                this.writable.add(fresh);
            }
        }

        /**
         * Takes every lock the users of the file need again, after the kernel dropped them all when one of its
         * descriptors was closed. The JVM still lists the locks of the channels that are open, so they are released
         * first (unlocking bytes the process no longer holds changes nothing). If the only writable channel is
         * closed too, the writer's locks wait for its own {@link Handle#reopen}.
         */
        void relock(FileChannel fresh, boolean freshWritable) throws IOException {
            for (Map<Perm, FileLock> locks : List.of(permLocks, unsharedLocks)) {
                for (FileLock l : locks.values()) {
                    releaseLock(l);
                }
                locks.clear();
            }
            // The new channel is nobody's yet, so no interrupt can close it meanwhile; probing for writing needs a
            // writable one.
            FileChannel writableOpen = freshWritable ? fresh : null;
            for (FileChannel ch : channels) {
                if (writableOpen == null && ch.isOpen() && writable.contains(ch)) {
                    writableOpen = ch;
                }
            }
            if (writers > 0 && writableOpen != null) {
                lockForWriting(writableOpen);
            }
            if (readers + writers > 0) {
                lockForReading(fresh);
            }
        }

        void lockForReading(FileChannel ch) throws IOException {
            if (!unlockable && !permLocks.containsKey(Perm.CONSISTENT_READ)) {
                lock(ch, Perm.CONSISTENT_READ.permByte(), permLocks, Perm.CONSISTENT_READ);
            }
        }

        void lockForWriting(FileChannel ch) throws IOException {
            if (unlockable) {
                return;
            }
            // Check first: the JVM does not let us test a byte we hold ourselves (QEMU checks after locking with
            // F_OFD_GETLK, which ignores its own locks). The window between check and lock is microseconds.
            for (Perm p : WRITER_PERMS) {
                check(ch, p.sharedByte(), "\"" + p.qemuName + "\" lock: another process does not share the "
                        + p.qemuName + " permission");
            }
            for (Perm p : WRITER_UNSHARED) {
                check(ch, p.permByte(), "shared \"" + p.qemuName + "\" lock: another process holds the "
                        + p.qemuName + " permission");
            }
            for (Perm p : WRITER_PERMS) {
                if (!permLocks.containsKey(p)) {
                    lock(ch, p.permByte(), permLocks, p);
                }
            }
            for (Perm p : WRITER_UNSHARED) {
                lock(ch, p.sharedByte(), unsharedLocks, p);
            }
        }

        void unlockWriting() throws IOException {
            for (Perm p : WRITER_UNSHARED) {
                releaseLock(permLocks.remove(p));
                releaseLock(unsharedLocks.remove(p));
            }
        }

        /** Tests byte {@code b} with an exclusive lock, which fails if anyone else holds any lock on it. */
        private void check(FileChannel ch, int b, String what) throws IOException {
            FileLock probe;
            try {
                probe = ch.tryLock(b, 1, false);
            } catch (OverlappingFileLockException e) {
                probe = null;
            } catch (ClosedChannelException e) {
                throw e; // not a file system without locks
            } catch (IOException | UnsupportedOperationException e) {
                noLocking(e);
                return;
            }
            if (probe == null) {
                throw new ImageLockedException(name, "cannot open for writing: failed to get " + what
                        + " (is QEMU or another process using the image? close it there first)");
            }
            probe.release();
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

        /** Drops locks nobody needs any more and, after the last user, closes every channel. */
        void release(Object key) throws IOException {
            if (readers + writers > 0) {
                return;
            }
            OPEN.remove(key);
            IOException failure = null;
            for (FileChannel ch : channels) {
                try {
                    ch.close();
                } catch (IOException ex) {
                    if (failure == null) {
                        failure = ex;
                    } else {
                        failure.addSuppressed(ex);
                    }
                }
            }
            if (failure != null) {
                throw failure;
            }
        }

        private static void releaseLock(FileLock l) throws IOException {
            if (l != null && l.isValid()) {
                l.release();
            }
        }
    }
}
