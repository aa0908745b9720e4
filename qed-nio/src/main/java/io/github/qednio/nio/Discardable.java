package io.github.qednio.nio;

import java.io.IOException;

/**
 * A channel on a {@code qed:} disk that can discard ranges, as a block device's discard (TRIM) does: afterwards the
 * range reads as zeros, and the image clusters that held it are reused by later writes (or cut off the end of the
 * image file). Every channel the {@code qed:} provider opens on a disk implements it.
 *
 * <pre>{@code
 * try (FileChannel ch = FileChannel.open(disk, StandardOpenOption.WRITE)) {
 *     ((Discardable) ch).discard(1 << 20, 4 << 20);
 * }
 * }</pre>
 *
 * <p>Whole clusters of the image stop holding data; partial clusters are written with zeros. The space comes back
 * crash-safely: a freed cluster is handed out again only after the table update that freed it is durable
 * ({@link java.nio.channels.FileChannel#force} makes it durable, or the next allocation does). See
 * {@link io.github.qednio.image.QedImage#discard(long, long)}.
 */
public interface Discardable {
    /**
     * Discards {@code [position, position + length)} of the disk; the channel's position is not changed.
     *
     * @param position disk offset of the first byte, non-negative
     * @param length number of bytes, non-negative; the range must lie inside the disk
     * @throws IllegalArgumentException if {@code position} or {@code length} is negative
     * @throws java.nio.channels.NonWritableChannelException if the channel was not opened for writing
     * @throws java.nio.channels.ClosedChannelException if the channel is closed
     * @throws IOException if the range passes the end of the disk (nothing is discarded then) or a write fails
     */
    void discard(long position, long length) throws IOException;
}
