package io.github.qednio.internal.storage;

import io.github.qednio.image.ImageLockedException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.FileSystems;
import java.nio.file.Path;

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
 * {@link LockEntry}, which counts readers and writers (a second writer is refused here, without asking the kernel),
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
 * every {@link LockHealing#WRITES_PER_CHECK} writes within an epoch, and whenever the library opens or probes the
 * file (so {@code FileSystems.newFileSystem(image, env)}, which lets the JDK's zip provider open and close the file
 * before the {@code qed:} provider is asked, is repaired by our provider's probe). Found gone, they are taken again after
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
 *
 * <h2>The parts</h2>
 * This class is the manager's entry point: its methods act on the JVM's one {@link LockTable}. The table keeps a
 * {@link LockEntry} per file (its users, descriptors and idle channels), each user holds a {@link LockHandle}, the
 * bytes are taken and checked by {@link LockBytes} (QEMU's protocol), and {@link LockHealing} finds and repairs
 * locks dropped by a foreign close.
 */
public final class ImageLock {
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
    static LockHandle open(Path file, boolean writer) throws IOException {
        return LockTable.jvm().open(file, writer);
    }

    /**
     * As {@link #open(Path, boolean)}; a reader with {@code forceShare} takes only the consistent-read lock and
     * shares every permission, as {@code qemu-io -r -U}: it reads an image another process writes.
     *
     * @throws ImageLockedException if another process (or, for a writer, another writer in this JVM) holds the
     *         image in a way this open cannot share
     */
    static LockHandle open(Path file, boolean writer, boolean forceShare) throws IOException {
        return LockTable.jvm().open(file, writer, forceShare);
    }

    /**
     * Reads {@code file} without ever dropping a lock this JVM holds on it: on a channel the manager already has
     * open when the file is in use, otherwise on a channel opened and closed while no user of the file in this
     * JVM can take a lock (the file's entry is locked). Every library read of a file that may be an open image
     * outside an engine (format probes, raw sources) goes through here. {@code read} must use positional reads.
     */
    static <T> T read(Path file, LockTable.ChannelRead<T> read) throws IOException {
        return LockTable.jvm().read(file, read);
    }

    /**
     * Runs {@code op}, which opens and closes its own descriptor of {@code file} where the library cannot give it
     * one (the JDK's {@code setTimes} does, for {@code futimens}), and then takes the file's locks again at once,
     * under the file's entry lock: closing that descriptor dropped them. If another process took the image in the
     * microseconds between, the writer is marked lost (every later write fails) and this throws.
     *
     * @throws ImageLockedException naming the image if the locks could not be taken again
     */
    static void closing(Path file, LockTable.ClosingOperation op) throws IOException {
        LockTable.jvm().closing(file, op);
    }

    /**
     * Channels this JVM has open on {@code file} through the library: none once nobody uses the file, which is
     * how tests see that every descriptor was given back.
     */
    public static int openChannels(Path file) throws IOException {
        return LockTable.jvm().openChannels(file);
    }
}
