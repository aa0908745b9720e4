package io.github.qednio.nio;

import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One image open in this JVM: the engine, every channel on it, and its byte-range locks. All channels on an image
 * share this engine and its cache.
 *
 * <p>The engine's own gate is the image's one close gate: {@link #call} adds no lock of its own. Close first marks
 * the image closing (so later calls fail here with {@link ClosedChannelException}) and then closes the engine, which
 * refuses new operations and waits for those in progress, so no byte reaches the file after close returns. The
 * upgrade swaps the read-only engine for a read-write one and then closes the read-only one the same way; a call
 * that the old engine refused meanwhile (it can have had no effect: that engine wrote nothing) runs again on the
 * new one. Close and upgrade are serialised by {@link #swapLock}, so an upgrade never installs an engine that a
 * close would miss.
 */
final class OpenImage {
    private static final Logger LOG = LoggerFactory.getLogger(OpenImage.class);

    /** The image's real path: the registry key. */
    final Path key;
    /** The file system this image belongs to (for an implicit one, the file system that first needed it). */
    final QedFileSystem owner;
    /** Opened by a channel on a path with no explicit file system: closed when its last channel closes. */
    final boolean implicit;
    final Set<DiskChannel> channels = ConcurrentHashMap.newKeySet();
    final LockTable locks = new LockTable();

    private final OpenOptions options;
    /** Serialises {@link #close} and {@link #upgrade}; never taken by calls. */
    private final ReentrantLock swapLock = new ReentrantLock();
    /** Completed by the registry once the engine is closed (normally or not) and the entry is gone. */
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private volatile QedImage image;
    /** Set (under this object's monitor) once the image is closing: no channel may be added any more. */
    private volatile boolean closing;

    OpenImage(Path key, QedImage image, QedFileSystem owner, boolean implicit, OpenOptions options) {
        this.key = key;
        this.image = image;
        this.owner = owner;
        this.implicit = implicit;
        this.options = options;
    }

    /** Something to do with the engine. */
    interface Call<T> {
        T apply(QedImage image) throws IOException;
    }

    /**
     * Runs {@code call} on the engine unless the image is closing; the engine's gate makes a close wait for it.
     *
     * @throws ClosedChannelException if the image is closing or closed
     */
    <T> T call(Call<T> call) throws IOException {
        while (true) {
            if (isClosing()) {
                throw new ClosedChannelException();
            }
            QedImage engine = image;
            try {
                return call.apply(engine);
            } catch (ClosedChannelException e) {
                if (image == engine || isClosing()) {
                    throw e;
                }
                // The read-only engine that an upgrade replaced refused the call: run it on the new one.
            }
        }
    }

    /** The engine now (it changes once, on an upgrade); for calls that need no gate (size, read-only flag). */
    QedImage image() {
        return image;
    }

    /** Adds a channel unless the image is closing; returns whether it was added. */
    synchronized boolean addChannel(DiskChannel ch) {
        if (closing) {
            return false;
        }
        channels.add(ch);
        return true;
    }

    /**
     * Removes a channel; for an implicit image whose last channel this was, marks the image closing and returns
     * true: the caller must then {@link #close} it.
     */
    synchronized boolean removeChannel(DiskChannel ch) {
        channels.remove(ch);
        if (implicit && channels.isEmpty() && !closing) {
            closing = true;
            return true;
        }
        return false;
    }

    /** Marks the image closing (no channel can be added) and returns its channels; false if it already was. */
    synchronized List<DiskChannel> beginClose() {
        if (closing) {
            return null;
        }
        closing = true;
        return new ArrayList<>(channels);
    }

    boolean isClosing() {
        return closing;
    }

    /** Completes once the engine is closed. */
    CompletableFuture<Void> closedFuture() {
        return closed;
    }

    /**
     * Waits for every call in progress, then flushes and closes the engine. The caller has marked the image
     * closing ({@link #beginClose} or {@link #removeChannel}); {@link ImageRegistry#release} then forgets the entry
     * and completes {@link #closedFuture()}.
     */
    void close() throws IOException {
        swapLock.lock();
        try {
            image.close();
        } finally {
            swapLock.unlock();
        }
    }

    /**
     * Makes the engine read-write: an image opened for reading only (a read channel on an implicit path) is
     * reopened read-write, with the repair of a read-write open, when the first write channel needs it. The
     * read-only engine keeps serving until the read-write one is open, so a refusal leaves readers undisturbed.
     *
     * @throws io.github.qednio.image.ImageLockedException if another writer holds the image
     * @throws QedReadOnlyFileSystemException if the image file cannot be written
     * @throws ClosedChannelException if the image is closing
     */
    void upgrade(Path file) throws IOException {
        if (!image.isReadOnly()) {
            return;
        }
        swapLock.lock();
        try {
            if (isClosing()) {
                throw new ClosedChannelException();
            }
            QedImage old = image;
            if (!old.isReadOnly()) {
                return;
            }
            if (options.readOnly()) {
                throw new QedReadOnlyFileSystemException(file, "it is open read-only (env readOnly)");
            }
            QedImage rw;
            try {
                rw = QedImage.open(file, options.withReadOnly(false));
            } catch (AccessDeniedException e) {
                QedReadOnlyFileSystemException r = new QedReadOnlyFileSystemException(file,
                        "the image file cannot be opened for writing: " + e.getMessage());
                r.initCause(e);
                throw r;
            }
            image = rw;
            try {
                // Waits for the calls in progress on it; read-only: nothing to flush, only the file and the lock.
                old.close();
            } catch (IOException e) {
                LOG.warn("{}: closing the read-only engine after the upgrade to read-write failed", file, e);
            }
        } finally {
            swapLock.unlock();
        }
    }

    @Override
    public String toString() {
        return "OpenImage[" + key + (implicit ? ", implicit" : "") + (image.isReadOnly() ? ", ro" : ", rw") + "]";
    }
}
