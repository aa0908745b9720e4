package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.Storage;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.ReentrantLock;

import static io.github.qednio.format.QedHeader.QED_F_BACKING_FILE;
import static io.github.qednio.format.QedHeader.QED_F_BACKING_FORMAT_NO_PROBE;
import static io.github.qednio.format.QedHeader.QED_F_NEED_CHECK;

/**
 * The image's header as it is now, and every change to it: {@code QED_F_NEED_CHECK} set durably before the first
 * allocation and cleared once everything is durable, the virtual size, the backing file reference and the
 * autoclear bits. Every change is validated and applied under the image's allocation lock, so the header in memory
 * and the one on disk only ever differ while that lock is held, and a failed write leaves them in agreement.
 */
public final class HeaderState {
    private final Storage storage;
    private final ReentrantLock lock;
    private volatile QedHeader header;

    public HeaderState(Storage storage, ReentrantLock lock, QedHeader header) {
        this.storage = storage;
        this.lock = lock;
        this.header = header;
    }

    public QedHeader current() {
        return header;
    }

    public long imageSize() {
        return header.imageSize();
    }

    public boolean needsCheck() {
        return header.hasFeature(QED_F_NEED_CHECK);
    }

    /** Sets {@code QED_F_NEED_CHECK} durably before the first allocation after a clean state. Lock held. */
    void setNeedCheck() throws IOException {
        QedHeader h = header;
        if (!h.hasFeature(QED_F_NEED_CHECK)) {
            apply(h.withFeatures(h.features() | QED_F_NEED_CHECK), new byte[0]);
        }
    }

    /**
     * Clears {@code QED_F_NEED_CHECK} once everything written before is durable: the caller has just forced the
     * storage. Lock held.
     */
    public void clearNeedCheck() throws IOException {
        QedHeader h = header;
        if (h.hasFeature(QED_F_NEED_CHECK)) {
            apply(h.withFeatures(h.features() & ~QED_F_NEED_CHECK), new byte[0]);
        }
    }

    /**
     * Points {@code l1_table_offset} at {@code offset}, durably: the table there must be complete and durable
     * already. If the write fails, {@link #current()} tells which table the file names. Lock held.
     */
    void moveL1(long offset) throws IOException {
        apply(header.withL1TableOffset(offset), new byte[0]);
    }

    /** Read-write open: drops autoclear bits this implementation does not know, as QEMU does. */
    public void clearUnknownAutoclear() throws IOException {
        lock.lock();
        try {
            QedHeader h = header;
            apply(h.withAutoclearFeatures(h.autoclearFeatures() & QedHeader.QED_AUTOCLEAR_FEATURE_MASK),
                    new byte[0]);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Grows {@code image_size} to {@code newSize}, validating against the size at that moment, so two concurrent
     * grows can never leave the smaller size. {@code beforeGrow} runs under the same lock before the new size is
     * visible (it makes the newly covered tables available).
     *
     * @throws IllegalArgumentException if {@code newSize} is smaller than the size now, not a multiple of 512
     *                                  or above {@code maxSize}
     */
    public void grow(long newSize, long maxSize, String name, IoAction beforeGrow) throws IOException {
        lock.lock();
        try {
            long size = header.imageSize();
            if (newSize < size || newSize % 512 != 0 || newSize > maxSize) {
                throw new IllegalArgumentException(String.format("%s: new size %d must be a multiple of 512 in"
                        + " [%d, %d] (from the size now to the largest the geometry allows)", name, newSize, size,
                        maxSize));
            }
            beforeGrow.run();
            apply(header.withImageSize(newSize), new byte[0]);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Shrinks {@code image_size} to {@code newSize} under the allocation lock, after {@code firstAllocatedFrom}
     * (run under the same lock, so no allocation races it) has found nothing the image holds at or past the new
     * end: QED has no way to drop table entries, so data left there would come back if the image grew again.
     *
     * @throws IllegalArgumentException if {@code newSize} is above the size now, negative or not a multiple of 512
     * @throws IOException naming the image and the offset if the image holds data or zero clusters past the end
     */
    public void shrink(long newSize, String name, IoQuery firstAllocatedFrom) throws IOException {
        lock.lock();
        try {
            long size = header.imageSize();
            if (newSize > size || newSize < 0 || newSize % 512 != 0) {
                throw new IllegalArgumentException(String.format("%s: new size %d must be a multiple of 512 in"
                        + " [0, %d] to shrink", name, newSize, size));
            }
            long at = firstAllocatedFrom.get(newSize, size);
            if (at >= 0) {
                throw new IOException(String.format("%s: cannot shrink to %d bytes: the image holds data (or zero"
                        + " clusters) at guest offset %d, at or past the new end; QED cannot drop them, so they would"
                        + " come back if the image grew again. Make that range unallocated first (e.g. convert"
                        + " the image), or shrink less", name, newSize, at));
            }
            apply(header.withImageSize(newSize), new byte[0]);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Writes the backing file reference, as {@code qemu-img rebase -u} does: the name at offset 64 and the features
     * BACKING_FILE and BACKING_FORMAT_NO_PROBE set as given (notes §9.4).
     *
     * @param name the name's bytes, or null to remove the backing file
     * @param raw  whether the backing file is recorded as raw (no probing)
     */
    public void setBackingFile(byte[] name, boolean raw, String imageName) throws IOException {
        lock.lock();
        try {
            QedHeader h = header;
            if (name != null && (h.compatFeatures() & ~QedHeader.QED_COMPAT_FEATURE_MASK) != 0) {
                throw new QedFormatException("compat_features", imageName + ": cannot set a backing file while"
                        + " unknown compat features 0x" + Long.toHexString(h.compatFeatures()) + " are present");
            }
            long f = h.features() & ~(QED_F_BACKING_FILE | QED_F_BACKING_FORMAT_NO_PROBE);
            byte[] bytes = name == null ? new byte[0] : name;
            if (name != null) {
                f |= QED_F_BACKING_FILE;
                if (raw) {
                    f |= QED_F_BACKING_FORMAT_NO_PROBE;
                }
            }
            apply(h.withFeatures(f).withBackingFilename(QedHeader.HEADER_LENGTH, bytes.length), bytes);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Writes {@code next} (followed by {@code tail} at offset 64) and forces it. On failure the file may hold the
     * new bytes, the old ones or a mix: the header in memory is set to what the file holds, restoring the old
     * bytes if they were torn, so that memory and file agree whatever happened.
     */
    private void apply(QedHeader next, byte[] tail) throws IOException {
        QedHeader prev = header;
        ByteBuffer bytes = ByteBuffer.allocate(QedHeader.HEADER_LENGTH + tail.length);
        bytes.put(next.encode()).put(tail).flip();
        byte[] oldTail = tail.length == 0 ? tail : readAt(QedHeader.HEADER_LENGTH, tail.length);
        header = next;
        try {
            storage.write(bytes.duplicate(), 0);
            storage.force();
        } catch (IOException | RuntimeException e) {
            header = reconcile(prev, bytes, oldTail, e);
            throw e;
        }
    }

    /** The header that the file holds after a failed write of {@code written}, restoring {@code prev} if torn. */
    private QedHeader reconcile(QedHeader prev, ByteBuffer written, byte[] oldTail, Exception failure) {
        try {
            byte[] onDisk = readAt(0, written.remaining());
            if (ByteBuffer.wrap(onDisk).equals(written)) {
                return QedHeader.decode(ByteBuffer.wrap(onDisk), storage.name());
            }
            ByteBuffer old = ByteBuffer.allocate(written.remaining());
            old.put(prev.encode()).put(oldTail).flip();
            if (!ByteBuffer.wrap(onDisk).equals(old)) {
                storage.write(old, 0);
                storage.force();
            }
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        }
        return prev;
    }

    private byte[] readAt(long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        storage.readFully(b, offset);
        return b.array();
    }

    /** An action that may fail with an IOException. */
    @FunctionalInterface
    public interface IoAction {
        void run() throws IOException;
    }

    /** The first guest offset in {@code [start, end)} the image holds itself, or -1. */
    @FunctionalInterface
    public interface IoQuery {
        long get(long start, long end) throws IOException;
    }
}
