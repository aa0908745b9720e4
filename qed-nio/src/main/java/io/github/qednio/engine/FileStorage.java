package io.github.qednio.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** {@link Storage} over a {@link FileChannel}, whose positional I/O is safe for concurrent use. */
final class FileStorage implements Storage {
    private final FileChannel channel;
    private final String name;
    /** The image lock when on the default file system, else null. */
    private final ImageLock.Handle lock;

    private FileStorage(FileChannel channel, String name, ImageLock.Handle lock) {
        this.channel = channel;
        this.name = name;
        this.lock = lock;
    }

    /**
     * Opens the file; on the default file system also takes QEMU-compatible image locks ({@link ImageLock}).
     *
     * @throws ImageLockedException if {@code readOnly} is false and another writer has the image open
     */
    static FileStorage open(Path file, boolean readOnly) throws IOException {
        FileChannel ch = readOnly
                ? FileChannel.open(file, StandardOpenOption.READ)
                : FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        if (!ImageLock.applies(file)) {
            return new FileStorage(ch, file.toString(), null);
        }
        // On failure register closes the channel, or keeps it until this file's other users in the JVM are done.
        return new FileStorage(ch, file.toString(), ImageLock.register(file, ch, !readOnly));
    }

    static FileStorage createNew(Path file) throws IOException {
        return new FileStorage(FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE,
                StandardOpenOption.CREATE_NEW), file.toString(), null);
    }

    /** The channel, for byte-range locking. */
    FileChannel channel() {
        return channel;
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        return channel.read(dst, position);
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        long pos = position;
        while (src.hasRemaining()) {
            pos += channel.write(src, pos);
        }
    }

    @Override
    public long size() throws IOException {
        return channel.size();
    }

    @Override
    public void truncate(long size) throws IOException {
        channel.truncate(size);
    }

    @Override
    public void force() throws IOException {
        channel.force(true);
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
