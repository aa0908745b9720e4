package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.FileTime;

/**
 * Operations on image files that never drop an image lock this JVM holds. The QEMU-compatible locks are POSIX
 * record locks, which the kernel drops for the whole process when <em>any</em> descriptor of the file is closed; so
 * code that reads or touches an image file beside an open {@link QedImage} (a format probe, a times update) must go
 * through here rather than open the file itself. See {@link ImageLock} for the rule and the guarantee.
 */
public final class LockSafeFiles {
    /** The format name of a file no other format claims. */
    public static final String RAW = "raw";
    /** The format name of a QED image. */
    public static final String QED = "qed";

    private LockSafeFiles() {
    }

    /**
     * The format of {@code file} as QEMU would probe it from its first bytes: {@link #QED}, {@link #RAW}, or the
     * QEMU name of another format ({@code "qcow2"}, {@code "vmdk"}, {@code "vdi"}, {@code "vhdx"}, {@code "vpc"},
     * {@code "luks"}, ...). Safe on an image this JVM holds open and locked.
     *
     * @param file the file to probe
     * @return the format's QEMU name, lower case, never null
     * @throws java.nio.file.NoSuchFileException if the file does not exist
     * @throws IOException if its first bytes cannot be read
     */
    public static String probeFormat(Path file) throws IOException {
        return FormatProbe.probe(file);
    }

    /**
     * Whether {@code file} is a QED image. Safe on an image this JVM holds locked.
     *
     * @param file the file to probe
     * @return true if it starts with the QED magic
     * @throws java.nio.file.NoSuchFileException if the file does not exist
     * @throws IOException if its first bytes cannot be read
     */
    public static boolean isQed(Path file) throws IOException {
        return QED.equals(probeFormat(file));
    }

    /**
     * Sets the file's times ({@link BasicFileAttributeView#setTimes}; null leaves one unchanged). The JDK opens and
     * closes a descriptor of its own to do it, which drops this process's locks on the file; they are taken again
     * at once, before any other library operation on the file can run.
     *
     * @param file the image file
     * @param lastModified the new last-modified time, or null to leave it
     * @param lastAccess the new last-access time, or null to leave it
     * @param created the new creation time, or null to leave it (ignored where the file system has none)
     * @throws ImageLockedException naming the image if another process took it in between (the writer then fails
     *         every later write rather than write unlocked)
     */
    public static void setTimes(Path file, FileTime lastModified, FileTime lastAccess, FileTime created)
            throws IOException {
        ImageLock.closing(file, () -> Files.getFileAttributeView(file, BasicFileAttributeView.class)
                .setTimes(lastModified, lastAccess, created));
    }

    /**
     * Opens {@code file} for reading through the lock manager: a read-only channel whose close never drops an image
     * lock this JVM holds on the file (unlike {@link java.nio.channels.FileChannel#open}, whose close drops them
     * all). Use it to read an image file beside an open {@link QedImage}, for example as raw bytes. On the default
     * file system it locks the file as {@code qemu-io -r} does: refused while another process writes it, and no
     * other process can start writing it while the channel is open.
     *
     * @param file the file to read, on any file system
     * @return a channel that reads from position 0; {@code write} and {@code truncate} throw
     *         {@link java.nio.channels.NonWritableChannelException}
     * @throws java.nio.file.NoSuchFileException if the file does not exist
     * @throws ImageLockedException if another process writes the file
     * @throws IOException if it cannot be opened
     */
    public static SeekableByteChannel newReadChannel(Path file) throws IOException {
        return newReadChannel(file, false);
    }

    /**
     * As {@link #newReadChannel(Path)}; with {@code forceShare} the file is read even while another process writes
     * it, as {@code qemu-io -r -U} ({@link OpenOptions#withForceShare}).
     *
     * @param file       the file to read, on any file system
     * @param forceShare true to share the file with writers in other processes
     * @return a channel that reads from position 0; {@code write} and {@code truncate} throw
     *         {@link java.nio.channels.NonWritableChannelException}
     * @throws java.nio.file.NoSuchFileException if the file does not exist
     * @throws ImageLockedException if another process writes the file and {@code forceShare} is false
     * @throws IOException if it cannot be opened
     */
    public static SeekableByteChannel newReadChannel(Path file, boolean forceShare) throws IOException {
        return new ReadChannel(FileStorage.open(file, true, forceShare));
    }

    /**
     * Where the next data of a file opened with {@link #newReadChannel} starts, at or after {@code position}, as the
     * file system knows it ({@code lseek(SEEK_DATA)}): the bytes before it are a hole and read as zeros, without
     * reading them. Found on Java 22 and later on Linux, when the library has native access
     * ({@code --enable-native-access=io.github.qednio}, or {@code ALL-UNNAMED} on the class path); otherwise, on a
     * file system that cannot tell, or for any other channel, every byte counts as data and this returns
     * {@code position}. The descriptor this opens belongs to the lock manager, so it drops no image lock.
     *
     * @param channel  a channel from {@link #newReadChannel}
     * @param position where to start looking, not negative
     * @return the offset of the next data, {@code position} when unknown, or the channel's size if only a hole
     *         follows (also when {@code position} is at or past the end)
     * @throws IllegalArgumentException if {@code position} is negative
     * @throws IOException if the file system fails the query, or the channel is closed
     */
    public static long nextData(SeekableByteChannel channel, long position) throws IOException {
        return seek(channel, position, false);
    }

    /**
     * Where the next hole of a file opened with {@link #newReadChannel} starts, at or after {@code position}
     * ({@code lseek(SEEK_HOLE)}; the file's end counts as a hole). Where holes cannot be found (see
     * {@link #nextData}) this returns the channel's size.
     *
     * @param channel  a channel from {@link #newReadChannel}
     * @param position where to start looking, not negative
     * @return the offset of the next hole, at most the channel's size
     * @throws IllegalArgumentException if {@code position} is negative
     * @throws IOException if the file system fails the query, or the channel is closed
     */
    public static long nextHole(SeekableByteChannel channel, long position) throws IOException {
        return seek(channel, position, true);
    }

    /** {@link #nextHole} or {@link #nextData}: without a probe, all is data (no hole before the end). */
    private static long seek(SeekableByteChannel channel, long position, boolean hole) throws IOException {
        if (position < 0) {
            throw new IllegalArgumentException("negative position " + position);
        }
        long size = channel.size();
        if (position >= size) {
            return size;
        }
        HoleProbe probe = probeOf(channel);
        if (probe == null) {
            return hole ? size : position;
        }
        long found = hole ? probe.nextHole(position) : probe.nextData(position);
        return found < 0 ? size : Math.min(found, size);
    }

    private static HoleProbe probeOf(SeekableByteChannel channel) throws IOException {
        if (!(channel instanceof ReadChannel rc) || !(rc.storage instanceof FileStorage fs)) {
            return null;
        }
        return fs.holeProbe();
    }

    /** A read-only {@link SeekableByteChannel} over a {@link Storage}. */
    private static final class ReadChannel implements SeekableByteChannel {
        private final Storage storage;
        private long position;
        private volatile boolean open = true;

        ReadChannel(Storage storage) {
            this.storage = storage;
        }

        private void ensureOpen() throws ClosedChannelException {
            if (!open) {
                throw new ClosedChannelException();
            }
        }

        @Override
        public synchronized int read(ByteBuffer dst) throws IOException {
            ensureOpen();
            int n = storage.read(dst, position);
            if (n > 0) {
                position += n;
            }
            return n;
        }

        @Override
        public int write(ByteBuffer src) {
            throw new NonWritableChannelException();
        }

        @Override
        public synchronized long position() throws IOException {
            ensureOpen();
            return position;
        }

        @Override
        public synchronized SeekableByteChannel position(long newPosition) throws IOException {
            ensureOpen();
            if (newPosition < 0) {
                throw new IllegalArgumentException(storage.name() + ": negative position " + newPosition);
            }
            position = newPosition;
            return this;
        }

        @Override
        public long size() throws IOException {
            ensureOpen();
            return storage.size();
        }

        @Override
        public SeekableByteChannel truncate(long size) {
            throw new NonWritableChannelException();
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public synchronized void close() throws IOException {
            if (open) {
                open = false;
                storage.close();
            }
        }
    }
}
