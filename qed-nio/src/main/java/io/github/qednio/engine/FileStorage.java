package io.github.qednio.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** {@link Storage} over a {@link FileChannel}, whose positional I/O is safe for concurrent use. */
final class FileStorage implements Storage {
    private final FileChannel channel;
    private final String name;
    /** The image lock when on the default file system, else null. */
    private final ImageLock.Handle lock;
    /** Set for read-only opens, whose channel may be a read-write one shared with a writer in this JVM. */
    private final boolean readOnly;

    private FileStorage(FileChannel channel, String name, ImageLock.Handle lock, boolean readOnly) {
        this.channel = channel;
        this.name = name;
        this.lock = lock;
        this.readOnly = readOnly;
    }

    /**
     * Opens the file; on the default file system also takes QEMU-compatible image locks ({@link ImageLock}).
     *
     * @throws ImageLockedException if {@code readOnly} is false and another writer has the image open
     */
    static FileStorage open(Path file, boolean readOnly) throws IOException {
        if (!ImageLock.applies(file)) {
            FileChannel ch = readOnly
                    ? FileChannel.open(file, StandardOpenOption.READ)
                    : FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
            return new FileStorage(ch, file.toString(), null, readOnly);
        }
        ImageLock.Handle lock = ImageLock.open(file, !readOnly);
        return new FileStorage(lock.channel(), file.toString(), lock, readOnly);
    }

    static FileStorage createNew(Path file) throws IOException {
        return new FileStorage(FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE,
                StandardOpenOption.CREATE_NEW), file.toString(), null, false);
    }

    /** The channel, for byte-range locking. */
    FileChannel channel() {
        return channel;
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        try {
            return channel.read(dst, position);
        } catch (IOException e) {
            throw located(e, "read of " + dst.remaining() + " bytes at offset " + position);
        }
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        checkWritable();
        long pos = position;
        try {
            while (src.hasRemaining()) {
                pos += channel.write(src, pos);
            }
        } catch (IOException e) {
            throw located(e, "write of " + src.remaining() + " bytes at offset " + pos);
        }
    }

    @Override
    public long size() throws IOException {
        return channel.size();
    }

    @Override
    public void truncate(long size) throws IOException {
        checkWritable();
        try {
            channel.truncate(size);
        } catch (IOException e) {
            throw located(e, "truncate to " + size + " bytes");
        }
    }

    @Override
    public void force() throws IOException {
        try {
            channel.force(true);
        } catch (IOException e) {
            throw located(e, "flush");
        }
    }

    /**
     * Adds the file and the operation to a bare I/O error (EIO, ENOSPC), which the JDK reports without either.
     * Subclasses (closed channel, access denied, ...) already say what happened and keep their type.
     */
    private IOException located(IOException e, String what) {
        if (e.getClass() != IOException.class) {
            return e;
        }
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
        if (lock == null) {
            channel.close();
        } else {
            // Closing this channel now would drop every POSIX lock this process holds on the file.
            lock.close();
        }
    }
}
