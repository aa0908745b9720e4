package io.github.qednio.image;

import io.github.qednio.internal.storage.ForwardingStorage;
import io.github.qednio.internal.storage.Storage;

/**
 * Whether an image's flushes reach the disk, with the names of QEMU's {@code cache=} modes. Set it with
 * {@link OpenOptions#withCacheMode(CacheMode)}; the default is {@link #WRITEBACK}.
 *
 * <p>The mode changes only the durability points, never what is written or in which order: in both modes the engine
 * sets {@code QED_F_NEED_CHECK} before the first allocation, writes data before the tables that point to it, and
 * clears the bit on a clean {@link QedImage#flush()} or {@link QedImage#close()}, so an image closed cleanly is a
 * consistent image either way. What {@link #UNSAFE} gives up is only what survives a power loss or an operating
 * system crash.
 */
public enum CacheMode {
    /**
     * Every flush is an {@code fsync}: when {@link QedImage#flush()} or {@link QedImage#close()} returns, the data
     * written before it and the header's state are on stable storage, and the crash-ordering barriers inside an
     * allocating write are real barriers. The default, as QEMU's {@code cache=writeback}.
     */
    WRITEBACK,

    /**
     * Flushes never reach the disk, as {@code qemu-img}'s {@code -t unsafe} ({@code cache=unsafe}, the default of
     * {@code qemu-img convert}): the image is written in the same order as with {@link #WRITEBACK} and a clean close
     * still leaves {@code QED_F_NEED_CHECK} clear, but no {@code fsync} is made, so the bytes become durable only when
     * the operating system writes its page cache back. A process crash loses nothing the kernel already has; a power
     * loss or kernel crash may leave the image with any mix of old and new blocks (even a clear NEED_CHECK over
     * tables that never reached the disk). Meant for images that are useless if interrupted anyway, such as the
     * target of a conversion.
     */
    UNSAFE;

    /**
     * {@code storage} with this mode's flush behaviour (internal: the storage type is not part of the API).
     *
     * @param storage the image's storage
     * @return {@code storage}, or a view of it whose flushes do nothing for {@link #UNSAFE}
     */
    public Storage apply(Storage storage) {
        return this == UNSAFE ? new UnsyncedStorage(storage) : storage;
    }

    /** Storage whose {@link #force()} does nothing: {@link #UNSAFE}. */
    private static final class UnsyncedStorage extends ForwardingStorage {
        UnsyncedStorage(Storage delegate) {
            super(delegate);
        }

        @Override
        public void force() {
            // cache=unsafe: the write order is kept, only the sync is skipped
        }
    }
}
