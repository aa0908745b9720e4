package io.github.qednio.nio;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The images open in this JVM, one per real path, as a map from the real path to the future of its
 * {@link OpenImage} (the pattern of jimfs's and the JDK's registries). No lock is held across I/O: an image is
 * opened, repaired, flushed and closed by the thread that needs it, outside the map, so {@code Path.of(uri)},
 * {@code getFileSystem} and opens of other images never wait for it; only an open of the <em>same</em> image waits
 * for that image's pending open or close.
 *
 * <p>An entry is put before its image is opened (so an image is never open twice) and removed only after its image
 * is closed, and only if it is still the same entry (as the zip file system does), so that a reopen right after a
 * close waits for that close and then succeeds instead of being refused.
 */
final class ImageRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(ImageRegistry.class);

    private final ConcurrentMap<Path, CompletableFuture<OpenImage>> open = new ConcurrentHashMap<>();
    /** Options of images opened implicitly. */
    private final OpenOptions implicitOptions;

    /**
     * An empty registry whose implicit file systems open their images with {@code implicitOptions}: the JVM's has
     * the defaults ({@link QedFileSystemProvider}); a test makes one with a storage hook under its images, and a
     * provider over it.
     */
    ImageRegistry(OpenOptions implicitOptions) {
        this.implicitOptions = implicitOptions;
    }

    /** The options implicit file systems open their images with. */
    OpenOptions implicitOptions() {
        return implicitOptions;
    }

    /**
     * The image open for {@code image}'s real path, or null if none is open, its open has not finished, or it is
     * closing (also if the file does not exist). Never waits.
     */
    OpenImage find(Path image) {
        OpenImage entry = lookup(image);
        return entry == null || entry.isClosing() ? null : entry;
    }

    /** The entry for {@code image} if its open has finished, closing or not; never waits. */
    private OpenImage lookup(Path image) {
        Path key;
        try {
            key = image.toRealPath();
        } catch (IOException e) {
            return null;
        }
        CompletableFuture<OpenImage> f = open.get(key);
        if (f == null || !f.isDone() || f.isCompletedExceptionally()) {
            return null;
        }
        return f.join();
    }

    /**
     * Opens {@code image} for an explicit file system, creating it first if it is missing and {@code create} is not
     * null.
     *
     * @throws FileSystemAlreadyExistsException if the image is already open in this JVM
     * @throws NoSuchFileException naming the image if it is missing and {@code create} is null
     */
    QedFileSystem openExplicit(QedFileSystemProvider provider, Path image, CreateOptions create,
                               OpenOptions options) throws IOException {
        return openExplicit(provider, image, create, options, null);
    }

    /**
     * As {@link #openExplicit(QedFileSystemProvider, Path, CreateOptions, OpenOptions)}; {@code missing} is the
     * reason a missing image gives (null: none), in the words of the caller's interface.
     */
    QedFileSystem openExplicit(QedFileSystemProvider provider, Path image, CreateOptions create,
                               OpenOptions options, String missing) throws IOException {
        if (!Files.exists(image)) {
            if (create == null) {
                throw new NoSuchFileException(image.toString(), null, missing);
            }
            try {
                QedImage.create(image, create, options.withReadOnly(false).withForceShare(false)).close();
            } catch (FileAlreadyExistsException e) {
                // Another thread created it meanwhile: open it as it is, as create=true does for existing images.
            }
        }
        Path key = image.toRealPath();
        CompletableFuture<OpenImage> mine = new CompletableFuture<>();
        while (true) {
            CompletableFuture<OpenImage> prev = open.putIfAbsent(key, mine);
            if (prev == null) {
                break;
            }
            OpenImage other = await(prev);
            if (other == null) {
                continue; // that open failed and its entry is gone
            }
            if (!other.isClosing()) {
                throw new FileSystemAlreadyExistsException("a qed: file system for " + image + " is already open"
                        + " in this JVM (FileSystems.getFileSystem(uri) returns it)");
            }
            other.closedFuture().join(); // a reopen right after a close waits for that close, then opens
        }
        try {
            QedFileSystem fs = new QedFileSystem(provider, image, options, false);
            OpenImage entry = new OpenImage(key, openImage(image, options), fs, false, options);
            fs.attach(entry);
            mine.complete(entry);
            return fs;
        } catch (IOException | RuntimeException | Error e) {
            open.remove(key, mine);
            mine.completeExceptionally(e);
            throw e;
        }
    }

    /**
     * A channel on the disk of {@code image}: on the image already open in this JVM, or on an image opened now that
     * closes with its last channel. An image opened here for a read channel is opened read-only (shared lock, no
     * repair, no byte changed); a write channel on it later upgrades it ({@link OpenImage#upgrade}).
     *
     * @param fs the (implicit) file system handing out the channel
     */
    DiskChannel openImplicitChannel(QedFileSystem fs, ChannelMode mode) throws IOException {
        Path key = fs.image().toRealPath();
        while (true) {
            CompletableFuture<OpenImage> mine = new CompletableFuture<>();
            CompletableFuture<OpenImage> prev = open.putIfAbsent(key, mine);
            if (prev == null) {
                return openFresh(fs, key, mine, mode);
            }
            OpenImage entry = await(prev);
            if (entry == null) {
                continue;
            }
            DiskChannel ch = new DiskChannel(entry, mode, fs);
            if (!entry.addChannel(ch)) {
                entry.closedFuture().join();
                continue;
            }
            if (mode.writable()) {
                try {
                    entry.upgrade(fs.image());
                } catch (IOException | RuntimeException | Error e) {
                    closeQuietly(ch, e);
                    throw e;
                }
            }
            return ch;
        }
    }

    private DiskChannel openFresh(QedFileSystem fs, Path key, CompletableFuture<OpenImage> mine, ChannelMode mode)
            throws IOException {
        OpenImage entry;
        try {
            OpenOptions o = mode.writable() ? fs.openOptions() : fs.openOptions().withReadOnly(true);
            entry = new OpenImage(key, openImage(fs.image(), o), fs, true, fs.openOptions());
        } catch (IOException | RuntimeException | Error e) {
            open.remove(key, mine);
            mine.completeExceptionally(e);
            throw e;
        }
        // The channel is registered before the entry is published: nobody sees an implicit image without channels.
        DiskChannel ch = new DiskChannel(entry, mode, fs);
        entry.addChannel(ch);
        mine.complete(entry);
        if (mode.writable() && entry.image().isReadOnly()) {
            QedReadOnlyFileSystemException e = new QedReadOnlyFileSystemException(fs.image(),
                    "the image file cannot be opened for writing");
            closeQuietly(ch, e);
            throw e;
        }
        return ch;
    }

    /**
     * Forgets a closed channel; the last channel of an implicitly opened image closes the image. A close run by
     * {@link Thread#interrupt} (the JDK closes an interruptible channel in the interrupting thread) hands the
     * image's close (waiting for calls in progress, flush, fsync) to a new thread, so the interrupter does not wait
     * for I/O; any other close waits for it.
     */
    void channelClosed(DiskChannel ch) throws IOException {
        OpenImage entry = ch.target();
        if (!entry.removeChannel(ch)) {
            return;
        }
        if (Interrupts.inInterrupt()) {
            Thread closer = new Thread(() -> {
                try {
                    release(entry);
                } catch (IOException | RuntimeException e) {
                    LOG.warn("{}: closing the image after its last channel was closed by an interrupt failed",
                            entry.key, e);
                }
            }, "qed-close " + entry.key.getFileName());
            closer.setDaemon(false); // the flush must finish even if the application is exiting
            closer.start();
            return;
        }
        release(entry);
    }

    /**
     * Closes an image marked closing (waiting for its calls in progress), then forgets it, if it is still the
     * registered entry.
     */
    void release(OpenImage entry) throws IOException {
        try {
            entry.close();
        } finally {
            open.computeIfPresent(entry.key, (k, f) -> f.isDone() && !f.isCompletedExceptionally()
                    && f.join() == entry ? null : f);
            entry.closedFuture().complete(null);
        }
    }

    /**
     * Runs {@code action} on the open image, or on a read-only engine opened just for it (shared lock, nothing
     * written). Waits for an image that is closing to be closed first, so the action never sees a half-closed one.
     */
    <T> T withImage(Path image, OpenOptions options, OpenImage.Call<T> action) throws IOException {
        while (true) {
            OpenImage entry = lookup(image);
            if (entry == null) {
                break;
            }
            try {
                return entry.call(action);
            } catch (ClosedChannelException e) {
                if (!entry.isClosing()) {
                    throw e;
                }
                entry.closedFuture().join();
            }
        }
        try (QedImage img = QedImage.open(image, options.withReadOnly(true).withCopyOnRead(false))) {
            return action.apply(img);
        }
    }

    /** The entry a pending or finished open gives, or null if that open failed. Waits for that image only. */
    private static OpenImage await(CompletableFuture<OpenImage> f) {
        try {
            return f.join();
        } catch (CompletionException | CancellationException e) {
            return null;
        }
    }

    private static void closeQuietly(DiskChannel ch, Throwable cause) {
        try {
            ch.close();
        } catch (IOException | RuntimeException e) {
            cause.addSuppressed(e);
        }
    }

    /**
     * Opens read-write unless the options say read-only or the file cannot be written, in which case the image is
     * opened read-only (and nothing will ever be written to it).
     */
    static QedImage openImage(Path image, OpenOptions options) throws IOException {
        if (options.readOnly() || !Files.isWritable(image)) {
            return QedImage.open(image, options.withReadOnly(true));
        }
        try {
            return QedImage.open(image, options);
        } catch (AccessDeniedException e) {
            return QedImage.open(image, options.withReadOnly(true));
        }
    }
}
