package io.github.qednio.internal.storage;

import io.github.qednio.image.ImageLockedException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystems;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Image locking compatible with QEMU's ({@code block/file-posix.c}, {@code raw_apply_lock_bytes} and
 * {@code raw_check_lock_bytes}): a user of an image holds a shared (read) lock on byte {@code 100 + bit} for each
 * permission it holds, and on byte {@code 200 + bit} for each permission it does not let others have; the
 * permission bits are {@code BLK_PERM_CONSISTENT_READ} 0, {@code WRITE} 1, {@code WRITE_UNCHANGED} 2 and
 * {@code RESIZE} 3. A QEMU writer of a QED image holds bytes 100, 101, 103, 201 and 203 (observed in
 * {@code /proc/locks} with QEMU 7.2); a read-only QEMU user ({@code qemu-img info}, {@code qemu-io -r}) holds 100,
 * 201 and 203, and so does QEMU for every backing file it opens, below a writer too: it reads consistently and lets
 * nobody write or resize meanwhile; {@code qemu-io -r -U} ({@code --force-share}) holds byte 100 only, its backing
 * files too.
 *
 * <p>This class takes the same locks: a writer holds 100, 101, 103, 201 and 203 after checking that nobody else
 * holds 200, 201, 203 (permissions we need but others do not share) or 101, 103 (permissions others hold that we do
 * not share); a reader holds 100, 201 and 203 after checking that nobody else holds 200, 101 or 103, so it is
 * refused while another process writes the image and keeps other processes from starting to write it; a reader
 * with force-share holds only byte 100 and shares everything, like {@code qemu-io -r -U}, so it neither waits for
 * nor blocks a writer. Within this JVM readers and the writer of one file share its locks and never refuse each
 * other. QEMU uses open-file-description locks and Java's {@link FileChannel#lock} uses POSIX record locks, which
 * conflict with each other on Linux, so each side sees the other.
 *
 * <h2>The kernel rule, and how no lock is lost</h2>
 * POSIX record locks ({@code fcntl(F_SETLK)}, which {@link FileChannel#lock} uses on Linux) belong to the process
 * and the inode, not to a descriptor: when the process closes <em>any</em> descriptor of the file, the kernel drops
 * every POSIX lock the process holds on it, and the JVM, which keeps its own table of {@link FileLock}s, does not
 * notice. The JVM also refuses overlapping locks from two channels. So every open of an image file by the library
 * (engines, backing files, format probes, the {@code qed:} provider, the CLI) goes through this one JVM-wide
 * manager, keyed by the file's identity ({@code fileKey()}, i.e. device and inode): all opens of one file share one
 * {@link Entry}, which counts readers and writers (a second writer is refused here, without asking the kernel),
 * holds the union of the locks they need, and keeps every channel of the file open, reusing given-back ones for
 * later opens, until the last user has gone. A probe that only reads ({@link #read}) uses a channel the entry
 * already has, or opens and closes its own only while nobody in this JVM holds a lock on the file. This is the
 * same answer SQLite's unix VFS gives to the same rule: descriptors are not closed while locks are held. The
 * descriptors a {@link HoleProbe} opens itself with {@code open(2)} (Java 22+) belong to the entry the same way.
 *
 * <h2>If a lock is lost anyway</h2>
 * Code outside the library (for example {@code Files.readAllBytes(image)}) can still close a descriptor of a locked
 * image. A writer looks its locks up in {@code /proc/locks} ({@link ProcLocks}; no descriptor of the image is
 * opened) before the first write of every epoch (after opening and after each flush), before every flush, and
 * every {@link #WRITES_PER_CHECK} writes within an epoch, and whenever the library opens or probes the file (so
 * {@code FileSystems.newFileSystem(image, env)}, which lets the JDK's zip provider open and close the file before
 * the {@code qed:} provider is asked, is repaired by our provider's probe). Found gone, they are taken again after
 * checking that no other process took the image meanwhile; if one did, that write and every later write or flush
 * fail with an {@link ImageLockedException} naming the image. So the writer never starts an epoch, nor flushes,
 * unlocked; writes inside an epoch after a foreign close and before the next check (at most
 * {@code WRITES_PER_CHECK}) are not covered, since looking per write (15-50 µs) would cost more than the write.
 * Where {@code /proc/locks} does not show the locks (not Linux), no loss is detected.
 *
 * <p>Files on other file systems (jimfs, zip) are not locked. Where the kernel refuses locking itself (some network
 * file systems), a warning is logged and the image is opened without a lock, as QEMU does.
 *
 * <p>Each file's entry has its own lock; the file I/O of one image (opens, lock calls, closes) runs under it only,
 * so it never waits for another image's I/O.
 */
public final class ImageLock {
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
    /**
     * Every file this JVM has open through the library, by file identity. Each {@link Entry} has its own lock, so
     * the file I/O of one image (opens, lock calls, closes) never waits for another's.
     */
    private static final ConcurrentMap<Object, Entry> OPEN = new ConcurrentHashMap<>();
    /** Writes between two checks of the locks within one epoch (an epoch ends at each flush). */
    static final int WRITES_PER_CHECK = 256;
    /** Test hook, run under a file's entry lock before its file I/O; null in production. */
    static volatile IoHook ioHook;

    /** Called before the manager does file I/O on {@code file} (tests block it to prove files are independent). */
    @FunctionalInterface
    interface IoHook {
        void beforeIo(Path file) throws IOException;
    }

    /** Reads a file the manager may hold open and locked. */
    @FunctionalInterface
    interface ChannelRead<T> {
        T read(FileChannel channel) throws IOException;
    }

    private ImageLock() {
    }

    /** True for files this class locks: those on the default file system. */
    static boolean applies(Path file) {
        return file.getFileSystem() == FileSystems.getDefault();
    }

    /** The file's entry, created if needed, returned locked; never one that is being retired. */
    private static Entry lockEntry(Object key, Path file) {
        for (;;) {
            Entry e = OPEN.computeIfAbsent(key, k -> new Entry(k, file));
            e.lock.lock();
            if (!e.retired) {
                return e;
            }
            e.lock.unlock();
        }
    }

    private static void beforeIo(Path file) throws IOException {
        IoHook h = ioHook;
        if (h != null) {
            h.beforeIo(file);
        }
    }

    /**
     * Opens {@code file} for one user (read-write for a writer) and takes the locks it needs. A channel another
     * user of the file in this JVM has given back is reused, so that repeated opens do not pile up descriptors.
     *
     * @throws ImageLockedException if another writer holds the image
     */
    static Handle open(Path file, boolean writer) throws IOException {
        return open(file, writer, false);
    }

    /**
     * As {@link #open(Path, boolean)}; a reader with {@code forceShare} takes only the consistent-read lock and
     * shares every permission, as {@code qemu-io -r -U}: it reads an image another process writes.
     *
     * @throws ImageLockedException if another process (or, for a writer, another writer in this JVM) holds the
     *         image in a way this open cannot share
     */
    static Handle open(Path file, boolean writer, boolean forceShare) throws IOException {
        boolean consistent = !writer && !forceShare;
        Object key = fileKey(file);
        Entry e = lockEntry(key, file);
        try {
            beforeIo(file);
            e.healIfLost();
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
                    e.calibrate(file);
                } else {
                    e.lockForReading(channel, consistent);
                    e.readers++;
                    if (consistent) {
                        e.consistentReaders++;
                    }
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
                    e.release();
                } catch (IOException suppressed) {
                    ex.addSuppressed(suppressed);
                }
                throw ex;
            }
            return new Handle(file, e, writer, consistent, channel);
        } finally {
            e.lock.unlock();
        }
    }

    /**
     * Reads {@code file} without ever dropping a lock this JVM holds on it: on a channel the manager already has
     * open when the file is in use, otherwise on a channel opened and closed while no user of the file in this
     * JVM can take a lock (the file's entry is locked). Every library read of a file that may be an open image
     * outside an engine (format probes, raw sources) goes through here. {@code read} must use positional reads.
     */
    static <T> T read(Path file, ChannelRead<T> read) throws IOException {
        if (!applies(file)) {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                return read.read(ch);
            }
        }
        Object key = fileKey(file);
        Entry e = lockEntry(key, file);
        boolean interrupted = false;
        try {
            beforeIo(file);
            // The caller may come right after foreign code closed a descriptor (FileSystems.newFileSystem asks the
            // JDK's zip provider first, which opens and closes the file): take the locks again now if so.
            e.healIfLost();
            // A pending interrupt would make the JDK close the (shared) channel at once, dropping the locks.
            interrupted = Thread.interrupted();
            for (FileChannel ch : e.channels) {
                if (ch.isOpen()) {
                    try {
                        return read.read(ch);
                    } catch (ClosedByInterruptException ex) {
                        // Interrupted during the read: the JDK closed a shared descriptor; relock on another.
                        try {
                            e.retakeAfterClose();
                        } catch (IOException suppressed) {
                            ex.addSuppressed(suppressed);
                        }
                        throw ex;
                    }
                }
            }
            // No user: nothing is locked through the library, so this descriptor may be closed.
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                return read.read(ch);
            }
        } finally {
            try {
                e.release();
            } finally {
                e.lock.unlock();
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /** A file operation that opens and closes a descriptor of its own, inside the JDK. */
    @FunctionalInterface
    interface ClosingOperation {
        void run() throws IOException;
    }

    /**
     * Runs {@code op}, which opens and closes its own descriptor of {@code file} where the library cannot give it
     * one (the JDK's {@code setTimes} does, for {@code futimens}), and then takes the file's locks again at once,
     * under the file's entry lock: closing that descriptor dropped them. If another process took the image in the
     * microseconds between, the writer is marked lost (every later write fails) and this throws.
     *
     * @throws ImageLockedException naming the image if the locks could not be taken again
     */
    static void closing(Path file, ClosingOperation op) throws IOException {
        if (!applies(file)) {
            op.run();
            return;
        }
        Entry e = lockEntry(fileKey(file), file);
        try {
            beforeIo(file);
            op.run();
            if (e.readers + e.writers > 0) {
                e.retakeAfterClose();
            }
        } finally {
            try {
                e.release();
            } finally {
                e.lock.unlock();
            }
        }
    }

    /** Channels this JVM has open on {@code file} through this class (for tests). */
    public static int openChannels(Path file) throws IOException {
        Entry e = OPEN.get(fileKey(file));
        if (e == null) {
            return 0;
        }
        e.lock.lock();
        try {
            return e.retired ? 0 : e.channels.size();
        } finally {
            e.lock.unlock();
        }
    }

    /** How many threads wait for the entry of {@code file} (for tests). */
    static int waiters(Path file) throws IOException {
        Entry e = OPEN.get(fileKey(file));
        return e == null ? 0 : e.lock.getQueueLength();
    }

    /** Whether the manager keeps an entry for {@code file} (for tests: none is left once nobody uses the file). */
    static boolean tracks(Path file) throws IOException {
        return OPEN.containsKey(fileKey(file));
    }

    private static Object fileKey(Path file) throws IOException {
        BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
        if (attributes.isDirectory()) { // reading it would fail with the system's "Is a directory", naming no file
            throw new FileSystemException(file.toString(), null, "is a directory, not an image file");
        }
        Object key = attributes.fileKey();
        return key != null ? key : file.toRealPath(LinkOption.NOFOLLOW_LINKS);
    }

    /** One open of a locked file; {@link #close()} gives its locks and channel back. */
    static final class Handle {
        private final Path file;
        private final Entry entry;
        private final boolean writer;
        /** A reader that keeps other processes from writing (one without force-share). */
        private final boolean consistent;
        /** Replaced by {@link #reopen} after an interrupt closed it; written under the entry's lock. */
        private volatile FileChannel channel;
        private boolean closed;

        private Handle(Path file, Entry entry, boolean writer, boolean consistent, FileChannel channel) {
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
        private void ensureUsable(Entry e) throws IOException {
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
            Entry e = entry;
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
                    e.relock(fresh, writer);
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
         * after opening or after a flush), at a flush, and every {@link #WRITES_PER_CHECK} writes within an epoch,
         * when the locks are looked up in {@code /proc/locks}. If the kernel no longer has them (a descriptor of
         * the file was closed outside the library), they are taken again; if another process got the image
         * meanwhile, this and every later write fails.
         *
         * @throws ImageLockedException naming the image if the locks were lost and cannot be taken again
         */
        void beforeWrite() throws IOException {
            Entry e = entry;
            if (e.checked && e.writesUntilCheck.decrementAndGet() > 0) {
                return;
            }
            verifyLocks(false);
        }

        /** Verifies the locks now (before a flush) and starts a new epoch: the next write checks again. */
        void beforeFlush() throws IOException {
            verifyLocks(true);
            entry.checked = false;
        }

        /** Looks the locks up, taking them again if gone; unless {@code always}, not if another thread just did. */
        private void verifyLocks(boolean always) throws IOException {
            Entry e = entry;
            e.lock.lock();
            try {
                ensureUsable(e);
                if (!always && e.checked && e.writesUntilCheck.get() > 0) {
                    return; // verified by another writing thread while this one waited
                }
                if (writer && !e.kernelHoldsLocks()) {
                    FileChannel ch = channel;
                    if (!ch.isOpen()) {
                        // An interrupt closed this user's channel: the call fails on it and FileStorage's reopen
                        // takes the locks again before retrying. The epoch stays unchecked.
                        return;
                    }
                    LOG.warn("{}: its image locks are gone (a descriptor of the file was closed in this JVM outside"
                            + " qed-nio, which drops every POSIX lock of the process); taking them again", e.name);
                    try {
                        e.retake(ch);
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
                e.writesUntilCheck.set(WRITES_PER_CHECK);
                e.checked = true;
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
            Entry e = entry;
            e.lock.lock();
            try {
                ensureUsable(e);
                if (!e.idleProbes.isEmpty()) {
                    return e.idleProbes.remove(e.idleProbes.size() - 1);
                }
                beforeIo(file);
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
            Entry e = entry;
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
            Entry e = entry;
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
        private void trimPreallocation(Entry e) {
            try {
                verifyLocks(true);
                e.preallocation.trim(channel.size());
            } catch (IOException ex) {
                LOG.debug("{}: space reserved past the end not given back", e.name, ex);
            }
        }

        /** Called instead of closing the channel: it is closed once no user of the file is left. */
        void close() throws IOException {
            Entry e = entry;
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
                    e.lockToken = null;
                } else {
                    e.readers--;
                    if (consistent && --e.consistentReaders == 0 && e.writers == 0) {
                        e.releaseUnshared();
                    }
                }
                e.idle.add(channel);
                e.release();
            } finally {
                e.lock.unlock();
            }
        }
    }

    /** Every open of one file in this JVM. Guarded by {@link #lock}. */
    private static final class Entry {
        final Object key;
        final Path file;
        final String name;
        final ReentrantLock lock = new ReentrantLock();
        /** Set when the entry leaves {@link #OPEN}: a thread that finds it retired looks the file up again. */
        boolean retired;
        final List<FileChannel> channels = new ArrayList<>();
        /** Open channels no user has now, to be reused; a channel cannot be closed while others hold locks. */
        final List<FileChannel> idle = new ArrayList<>();
        final Set<FileChannel> writable = new HashSet<>();
        /** Hole probes' descriptors ({@link Handle#holeProbe}): closed with the channels, never before. */
        final List<HoleProbe> probes = new ArrayList<>();
        /** Probes no user has now, to be reused. */
        final List<HoleProbe> idleProbes = new ArrayList<>();
        /** The writers' preallocation ({@link Handle#preallocation}), closed with the channels; null until asked. */
        Preallocation preallocation;
        final Map<Perm, FileLock> permLocks = new EnumMap<>(Perm.class);
        final Map<Perm, FileLock> unsharedLocks = new EnumMap<>(Perm.class);
        int readers;
        /** The readers without force-share: while there are any, the file's write and resize stay unshared. */
        int consistentReaders;
        int writers;
        boolean unlockable;
        /** Set when the locks could not be taken again after a descriptor was closed; fails every reopen. */
        ImageLockedException lockLost;
        /** How {@code /proc/locks} names this file ({@code major:minor:inode}), or null if it cannot be checked. */
        String lockToken;
        /** Whether the locks were verified since the last flush (the epoch's first write checks). */
        volatile boolean checked;
        final AtomicInteger writesUntilCheck = new AtomicInteger();

        Entry(Object key, Path file) {
            this.key = key;
            this.file = file;
            this.name = file.toString();
        }

        /**
         * Finds how {@code /proc/locks} names the file, right after the writer's locks were taken: the entry of
         * this process that covers the write-permission byte on the file's inode. Left null (no checking) where
         * there is no {@code /proc/locks} or it does not show the lock (not Linux, no locking).
         */
        void calibrate(Path file) {
            lockToken = null;
            checked = false;
            if (unlockable) {
                return;
            }
            lockToken = ProcLocks.tokenOf(file, Perm.WRITE.permByte());
            if (lockToken == null) {
                LOG.debug("{}: /proc/locks does not show our lock; lost locks will not be detected", name);
            }
        }

        /** Whether the kernel still has every lock the JVM believes this process holds (true if unknowable). */
        boolean kernelHoldsLocks() throws IOException {
            if (lockToken == null || unlockable) {
                return true;
            }
            List<long[]> held = ProcLocks.ranges(lockToken);
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
         * If a writer holds the file and the kernel no longer has its locks, takes them again (or marks the writer
         * lost and throws). Run whenever the library touches a file that is in use.
         */
        void healIfLost() throws IOException {
            if (writers == 0 || lockLost != null || kernelHoldsLocks()) {
                return;
            }
            LOG.warn("{}: its image locks are gone (a descriptor of the file was closed in this JVM outside"
                    + " qed-nio, which drops every POSIX lock of the process); taking them again", name);
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
            if (lockLost != null) {
                throw lockLost;
            }
            FileChannel any = null;
            for (FileChannel ch : channels) {
                if (ch.isOpen() && (any == null || writable.contains(ch))) {
                    any = ch;
                }
            }
            if (any == null) {
                return; // every channel is closed: each user's reopen takes the locks again
            }
            try {
                relock(any, writable.contains(any));
            } catch (ImageLockedException ex) {
                lockLost = new ImageLockedException(name, "the image lock was dropped by a descriptor the JDK opened"
                        + " and closed, and another process took the image before it was taken again, so nothing"
                        + " more is written: " + ex.getReason());
                throw lockLost;
            }
        }

        /** The file has no user left (or only a probe had it): closes its channels and retires the entry. */
        void release() throws IOException {
            if (readers + writers > 0) {
                return;
            }
            if (!channels.isEmpty() || !probes.isEmpty()) {
                beforeIo(file);
            }
            IOException failure = null;
            List<Closeable> descriptors = new ArrayList<>(probes);
            if (preallocation != null) {
                descriptors.add(preallocation);
            }
            descriptors.addAll(channels);
            for (Closeable ch : descriptors) {
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
            // The lists are not cleared: a retired entry is never used again (lockEntry skips it, and no handle on
            // it is left open). Only now, with every channel (and so every lock in the JVM's lock table) gone, may a
            // new entry for the file be made: one made earlier would find the JVM refusing its locks as overlapping
            // ours.
            retired = true;
            OPEN.remove(key, this);
            if (failure != null) {
                throw failure;
            }
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
                lockForReading(fresh, consistentReaders > 0);
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

        void unlockWriting() throws IOException {
            for (Perm p : WRITER_UNSHARED) {
                releaseLock(permLocks.remove(p));
            }
            if (consistentReaders == 0) {
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
}
