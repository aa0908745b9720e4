package io.github.qednio.internal.storage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * An image file as plain bytes, opened through the library's lock manager: for code that reads or rewrites an
 * image's metadata in a format the engine does not model (the in-place converter, the qcow2 reader). A read-write
 * open takes QEMU's writer lock, as a read-write {@link QedImage} does; closing it never drops a lock another
 * user in this JVM holds on the file.
 *
 * <p>{@link #force()} is the only durability point: a write is durable once a later force has returned.
 */
public final class RawImageFile implements Closeable {
    private final Storage storage;

    public RawImageFile(Storage storage) {
        this.storage = storage;
    }

    /**
     * Opens an image file.
     *
     * @param file the file, on any file system (image locks apply on the default one)
     * @param readOnly true to open it for reading only
     * @return the open file; the caller closes it
     * @throws java.nio.file.NoSuchFileException if it does not exist
     * @throws ImageLockedException if {@code readOnly} is false and another writer has the image open
     * @throws IOException if it cannot be opened
     */
    public static RawImageFile open(Path file, boolean readOnly) throws IOException {
        return new RawImageFile(Storage.open(file, readOnly));
    }

    /**
     * Reads exactly {@code dst.remaining()} bytes at {@code position}.
     *
     * @param dst where the bytes go
     * @param position the file offset of the first byte
     * @throws java.io.EOFException naming the file and offsets if the file ends first
     * @throws IOException if the read fails
     */
    public void readFully(ByteBuffer dst, long position) throws IOException {
        storage.readFully(dst, position);
    }

    /**
     * Reads up to {@code dst.remaining()} bytes at {@code position}; fewer only at the end of the file.
     *
     * @param dst where the bytes go
     * @param position the file offset of the first byte
     * @return the number of bytes read (0 at or past the end of the file)
     * @throws IOException if the read fails
     */
    public int read(ByteBuffer dst, long position) throws IOException {
        return Math.max(0, Buffers.fill(storage::read, dst, position));
    }

    /**
     * Writes all of {@code src} at {@code position}, extending the file if needed.
     *
     * @param src the bytes
     * @param position the file offset of the first byte
     * @throws IOException if the write fails (part of it may have reached the file)
     */
    public void write(ByteBuffer src, long position) throws IOException {
        storage.write(src, position);
    }

    /**
     * The file's length.
     *
     * @return the length in bytes
     * @throws IOException if it cannot be read
     */
    public long size() throws IOException {
        return storage.size();
    }

    /**
     * Makes every completed write durable.
     *
     * @throws IOException if the flush fails (then nothing written since the last force may be durable)
     */
    public void force() throws IOException {
        storage.force();
    }

    /**
     * A name for messages.
     *
     * @return usually the file's path
     */
    public String name() {
        return storage.name();
    }

    @Override
    public void close() throws IOException {
        storage.close();
    }
}
