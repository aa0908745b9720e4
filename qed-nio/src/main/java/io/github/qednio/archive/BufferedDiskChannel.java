package io.github.qednio.archive;

import io.github.qednio.image.Progress;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;

/**
 * Gathers the archivers' small writes into large ones that end on multiples of the buffer size (a multiple of the
 * cluster size), so that each reaches the image as whole clusters: zero detection then sees whole zero clusters and
 * the engine does one lookup per cluster rather than one per 512-byte tar record. Writes out of sequence (a zip or
 * 7z header patched after its data) flush what is pending and go straight through.
 */
final class BufferedDiskChannel implements SeekableByteChannel {
    private final SeekableByteChannel disk;
    /** The disk's size: a write past it is the archive outgrowing a fixed size, reported as such. */
    private final long diskSize;
    private final String image;
    private final ByteBuffer buffer;
    private final Progress progress;
    /** The end of the furthest write: the archive's length. */
    private long end;
    /** Disk offset of {@code buffer}'s first byte. */
    private long bufferStart;
    private long position;

    BufferedDiskChannel(SeekableByteChannel disk, long diskSize, String image, int capacity, Progress progress) {
        this.disk = disk;
        this.diskSize = diskSize;
        this.image = image;
        this.buffer = ByteBuffer.allocate(capacity);
        this.progress = progress;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        int n = src.remaining();
        if (position != bufferStart + buffer.position()) {
            flush();
            bufferStart = position;
        }
        int capacity = buffer.capacity();
        while (src.hasRemaining()) {
            // Fill up to the next multiple of the capacity, so that flushes start and end there.
            int toBoundary = capacity - (int) Math.floorMod(position, (long) capacity);
            int k = Math.min(Math.min(toBoundary, buffer.remaining()), src.remaining());
            buffer.put(buffer.position(), src, src.position(), k);
            buffer.position(buffer.position() + k);
            src.position(src.position() + k);
            position += k;
            end = Math.max(end, position);
            if (k == toBoundary || !buffer.hasRemaining()) {
                flush();
            }
        }
        return n;
    }

    /** Writes out what is pending. */
    void flush() throws IOException {
        if (bufferStart + buffer.position() > diskSize) {
            throw new ArchiveException(image + ": the archive does not fit on its disk of " + diskSize + " bytes"
                    + " (it needs more than " + (bufferStart + buffer.position()) + "); use the automatic size or a"
                    + " larger one");
        }
        buffer.flip();
        disk.position(bufferStart);
        while (buffer.hasRemaining()) {
            disk.write(buffer);
        }
        bufferStart += buffer.limit();
        buffer.clear();
        progress.update(Math.min(bufferStart, diskSize), diskSize);
    }

    /** The length of the archive written: the end of the furthest write. */
    long end() {
        return end;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        flush();
        bufferStart = position;
        disk.position(position);
        int n = disk.read(dst);
        if (n > 0) {
            position += n;
            bufferStart = position;
        }
        return n;
    }

    @Override
    public long position() {
        return position;
    }

    @Override
    public SeekableByteChannel position(long newPosition) {
        position = newPosition;
        return this;
    }

    @Override
    public long size() throws IOException {
        return Math.max(disk.size(), bufferStart + buffer.position());
    }

    @Override
    public SeekableByteChannel truncate(long size) throws IOException {
        flush();
        disk.truncate(size);
        return this;
    }

    @Override
    public boolean isOpen() {
        return disk.isOpen();
    }

    @Override
    public void close() throws IOException {
        try {
            flush();
            progress.update(diskSize, diskSize); // all written: what is left of the disk is past the archive's end
        } finally {
            disk.close();
        }
    }
}
