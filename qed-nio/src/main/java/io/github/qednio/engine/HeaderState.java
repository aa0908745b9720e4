package io.github.qednio.engine;

import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.ReentrantLock;

import static io.github.qednio.format.QedHeader.QED_F_NEED_CHECK;

/**
 * The image's header as it is now, and every change to it: {@code QED_F_NEED_CHECK} set durably before the first
 * allocation and cleared once everything is durable, the virtual size, the backing file reference and the
 * autoclear bits. Every change is made under the image's allocation lock, so the header in memory and the one on
 * disk only ever differ while that lock is held.
 */
final class HeaderState {
    private final Storage storage;
    private final ReentrantLock lock;
    private volatile QedHeader header;

    HeaderState(Storage storage, ReentrantLock lock, QedHeader header) {
        this.storage = storage;
        this.lock = lock;
        this.header = header;
    }

    QedHeader current() {
        return header;
    }

    long imageSize() {
        return header.imageSize();
    }

    boolean needsCheck() {
        return header.hasFeature(QED_F_NEED_CHECK);
    }

    /** Sets {@code QED_F_NEED_CHECK} durably before the first allocation after a clean state. Lock held. */
    void setNeedCheck() throws IOException {
        QedHeader h = header;
        if (h.hasFeature(QED_F_NEED_CHECK)) {
            return;
        }
        header = h.withFeatures(h.features() | QED_F_NEED_CHECK);
        try {
            writeHeader();
            storage.force();
        } catch (IOException | RuntimeException e) {
            header = h;
            throw e;
        }
    }

    /**
     * Clears {@code QED_F_NEED_CHECK} once everything written before is durable: the caller has just forced the
     * storage. Lock held.
     */
    void clearNeedCheck() throws IOException {
        QedHeader h = header;
        if (h.hasFeature(QED_F_NEED_CHECK)) {
            header = h.withFeatures(h.features() & ~QED_F_NEED_CHECK);
            writeHeader();
            storage.force();
        }
    }

    /** Read-write open: drops autoclear bits this implementation does not know, as QEMU does. */
    void clearUnknownAutoclear() throws IOException {
        lock.lock();
        try {
            QedHeader h = header;
            header = h.withAutoclearFeatures(h.autoclearFeatures() & QedHeader.QED_AUTOCLEAR_FEATURE_MASK);
            writeHeader();
            storage.force();
        } finally {
            lock.unlock();
        }
    }

    /** Sets {@code image_size}; the caller has validated it. */
    void setImageSize(long newSize) throws IOException {
        lock.lock();
        try {
            header = header.withImageSize(newSize);
            writeHeader();
            storage.force();
        } finally {
            lock.unlock();
        }
    }

    /** Writes the backing file reference: the name at offset 64, the features as given. */
    void setBackingFile(long features, byte[] name) throws IOException {
        lock.lock();
        try {
            header = header.withFeatures(features).withBackingFilename(QedHeader.HEADER_LENGTH, name.length);
            ByteBuffer buf = ByteBuffer.allocate(QedHeader.HEADER_LENGTH + name.length);
            buf.put(header.encode()).put(name).flip();
            storage.write(buf, 0);
            storage.force();
        } finally {
            lock.unlock();
        }
    }

    private void writeHeader() throws IOException {
        storage.write(header.encode(), 0);
    }
}
