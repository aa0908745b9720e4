package io.github.qednio.internal.storage;

import io.github.qednio.image.ImageLockedException;
import io.github.qednio.internal.JvmState;
import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * The lock manager's table: every file open through the library, by file identity ({@code fileKey()}, device and
 * inode), each with its {@link LockEntry}. Every open, probe and descriptor-closing operation on an image file goes
 * through the one table of the JVM ({@link #jvm()}, reached through {@link ImageLock}), because POSIX locks belong
 * to the process; see {@link ImageLock} for the rule and the guarantee. Each entry has its own lock, so the file
 * I/O of one image (opens, lock calls, closes) never waits for another's.
 *
 * <p>Tests make tables of their own, with an {@link IoHook} that runs under a file's entry lock before its file
 * I/O; the JVM's table has none.
 */
final class LockTable {
    private final ConcurrentMap<Object, LockEntry> open = new ConcurrentHashMap<>();
    /** Run under a file's entry lock before its file I/O; null for none (the JVM's table). */
    private final IoHook ioHook;

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

    /** A file operation that opens and closes a descriptor of its own, inside the JDK. */
    @FunctionalInterface
    interface ClosingOperation {
        void run() throws IOException;
    }

    /** A table without a hook. */
    LockTable() {
        this(null);
    }

    /** A table that runs {@code ioHook} (if not null) under a file's entry lock before the file's I/O. */
    LockTable(IoHook ioHook) {
        this.ioHook = ioHook;
    }

    /** The JVM's table, which every library open of an image file goes through. */
    static LockTable jvm() {
        return JvmState.jvm().part(LockTable.class, LockTable::new);
    }

    /** The file's entry, created if needed, returned locked; never one that is being retired. */
    private LockEntry lockEntry(Object key, Path file) {
        for (;;) {
            LockEntry e = open.computeIfAbsent(key, k -> new LockEntry(this, k, file));
            e.lock.lock();
            if (!e.retired) {
                return e;
            }
            e.lock.unlock();
        }
    }

    /** Drops a retired entry, so that the next user of its file makes a new one. */
    void forget(LockEntry e) {
        open.remove(e.key, e);
    }

    void beforeIo(Path file) throws IOException {
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
    LockHandle open(Path file, boolean writer) throws IOException {
        return open(file, writer, false);
    }

    /**
     * As {@link #open(Path, boolean)}; a reader with {@code forceShare} takes only the consistent-read lock and
     * shares every permission, as {@code qemu-io -r -U}: it reads an image another process writes.
     *
     * @throws ImageLockedException if another process (or, for a writer, another writer in this JVM) holds the
     *         image in a way this open cannot share
     */
    LockHandle open(Path file, boolean writer, boolean forceShare) throws IOException {
        boolean consistent = !writer && !forceShare;
        Object key = fileKey(file);
        LockEntry e = lockEntry(key, file);
        try {
            beforeIo(file);
            e.healing.healIfLost();
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
                    e.bytes.lockForWriting(channel);
                    e.writers++;
                    e.healing.calibrate(file);
                } else {
                    e.bytes.lockForReading(channel, consistent);
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
            return new LockHandle(file, e, writer, consistent, channel);
        } finally {
            e.lock.unlock();
        }
    }

    /**
     * Reads {@code file} without ever dropping a lock this JVM holds on it: on a channel the manager already has
     * open when the file is in use, otherwise on a channel opened and closed while no user of the file in this
     * JVM can take a lock (the file's entry is locked). {@code read} must use positional reads.
     */
    <T> T read(Path file, ChannelRead<T> read) throws IOException {
        if (!ImageLock.applies(file)) {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                return read.read(ch);
            }
        }
        Object key = fileKey(file);
        LockEntry e = lockEntry(key, file);
        boolean interrupted = false;
        try {
            beforeIo(file);
            // The caller may come right after foreign code closed a descriptor (FileSystems.newFileSystem asks the
            // JDK's zip provider first, which opens and closes the file): take the locks again now if so.
            e.healing.healIfLost();
            // A pending interrupt would make the JDK close the (shared) channel at once, dropping the locks.
            interrupted = Thread.interrupted();
            for (FileChannel ch : e.channels) {
                if (ch.isOpen()) {
                    try {
                        return read.read(ch);
                    } catch (ClosedByInterruptException ex) {
                        // Interrupted during the read: the JDK closed a shared descriptor; relock on another.
                        try {
                            e.healing.retakeAfterClose();
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

    /**
     * Runs {@code op}, which opens and closes its own descriptor of {@code file} where the library cannot give it
     * one, and then takes the file's locks again at once, under the file's entry lock (see
     * {@link ImageLock#closing}).
     *
     * @throws ImageLockedException naming the image if the locks could not be taken again
     */
    void closing(Path file, ClosingOperation op) throws IOException {
        if (!ImageLock.applies(file)) {
            op.run();
            return;
        }
        LockEntry e = lockEntry(fileKey(file), file);
        try {
            beforeIo(file);
            op.run();
            if (e.readers + e.writers > 0) {
                e.healing.retakeAfterClose();
            }
        } finally {
            try {
                e.release();
            } finally {
                e.lock.unlock();
            }
        }
    }

    /** Channels this table has open on {@code file}: none once nobody in this JVM uses the file. */
    int openChannels(Path file) throws IOException {
        LockEntry e = open.get(fileKey(file));
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

    /** How many threads wait for the entry of {@code file}. */
    int waiters(Path file) throws IOException {
        LockEntry e = open.get(fileKey(file));
        return e == null ? 0 : e.lock.getQueueLength();
    }

    /** Whether the table keeps an entry for {@code file} (none is left once nobody uses the file). */
    boolean tracks(Path file) throws IOException {
        return open.containsKey(fileKey(file));
    }

    private static Object fileKey(Path file) throws IOException {
        BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
        if (attributes.isDirectory()) { // reading it would fail with the system's "Is a directory", naming no file
            throw new FileSystemException(file.toString(), null, "is a directory, not an image file");
        }
        Object key = attributes.fileKey();
        return key != null ? key : file.toRealPath(LinkOption.NOFOLLOW_LINKS);
    }
}
