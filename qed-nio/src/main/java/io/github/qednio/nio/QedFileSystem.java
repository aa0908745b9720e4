package io.github.qednio.nio;

import io.github.qednio.image.OpenOptions;
import java.io.IOException;
import java.net.URI;
import java.nio.file.ClosedFileSystemException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileStore;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.ReadOnlyFileSystemException;
import java.nio.file.WatchService;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The {@code qed:} file system of one QED image: a root directory {@code /} holding one regular file,
 * {@link #disk() /disk}, the virtual disk, which behaves like a Linux block device node (its size is the virtual
 * size, it is read and written through channels and streams, it never grows, shrinks or disappears).
 *
 * <p><b>Explicit and implicit.</b> A file system made by {@code FileSystems.newFileSystem} or {@link QedFileSystems}
 * holds its image open until {@link #close()}, which flushes it, closes every channel and stream it handed out and
 * releases the image. A path from {@code Path.of(URI.create("qed:" + image.toUri()))} when no file system is open
 * for that image belongs to an <em>implicit</em> file system: the image is opened by the first channel and closed
 * (flushed, {@code QED_F_NEED_CHECK} cleared) when its last channel closes, so other tools (qemu-img) can use it
 * right after. Only one engine per image file (real path) is open in a JVM; all channels share it and its cache.
 *
 * <p><b>Readers share.</b> An image opened implicitly by a read channel, an input stream or an attribute read is
 * opened read-only, as {@code qemu-io -r} opens it: it takes only the shared lock (so {@code qemu-img info} and
 * {@code qemu-io -r} work beside it), never repairs and never changes a byte, even with {@code QED_F_NEED_CHECK}
 * set. The first write channel on it reopens the engine read-write (with the repair a read-write open makes; the
 * open read channels go on, seeing the same data), or fails with
 * {@link io.github.qednio.image.ImageLockedException} naming the image if another writer (QEMU, another JVM)
 * holds it.
 *
 * <p><b>Closing drains.</b> {@link #close()}, and the close of an implicit image with its last channel, return only
 * when every channel operation in progress on the image has finished or failed: no byte reaches the image file
 * after they return. Channels and streams handed out while the file system is closing are closed too (or refused
 * with {@link ClosedFileSystemException}); later operations give {@link ClosedFileSystemException}, or
 * {@link java.nio.channels.ClosedChannelException} on the closed channels. When {@link Thread#interrupt} closes the
 * last channel of an implicit image, the image's close (its flush and fsync) runs in a new thread, so the
 * interrupting thread does not wait for I/O.
 *
 * <p><b>No global lock.</b> Opening, repairing, flushing or closing one image never holds up
 * {@code Path.of(uri)}, {@code getFileSystem} or the opens of other images; a reopen of an image that is being
 * closed waits for that close and then succeeds.
 *
 * <p><b>{@code newFileSystem(Path, env)} and other providers.</b> {@code FileSystems.newFileSystem(path, env)} asks
 * every installed provider in turn and moves on to the next one only when a provider throws
 * {@link UnsupportedOperationException}. So this provider throws exactly that for a file that is not a QED image
 * (or does not exist), letting e.g. the zip provider open a zip file, and any other exception (a damaged QED
 * header, an unknown env key) stops the search and reaches the caller.
 */
public final class QedFileSystem extends FileSystem {
    /** The name of the disk in the root directory. */
    public static final String DISK_NAME = "disk";

    private final QedFileSystemProvider provider;
    private final Path image;
    private final URI diskUri;
    private final String imageKey;
    private final OpenOptions options;
    private final boolean implicit;
    private final Set<DiskChannel> handedOut = ConcurrentHashMap.newKeySet();
    private final QedPath root;
    private final QedPath disk;
    private volatile OpenImage explicitImage;
    private volatile boolean closed;
    private final CompletableFuture<Void> closeDone = new CompletableFuture<>();

    QedFileSystem(QedFileSystemProvider provider, Path image, OpenOptions options, boolean implicit) {
        this.provider = provider;
        this.image = image.toAbsolutePath();
        this.diskUri = QedUris.diskUri(this.image);
        this.imageKey = diskUri.toString();
        this.options = options;
        this.implicit = implicit;
        this.root = QedPath.parse(this, "/");
        this.disk = QedPath.parse(this, "/" + DISK_NAME);
    }

    void attach(OpenImage entry) {
        this.explicitImage = entry;
    }

    /**
     * The virtual disk, the file system's only file.
     *
     * @return the path {@code /disk}; its URI is {@code "qed:" + image().toUri()}
     */
    public Path disk() {
        return disk;
    }

    /**
     * The image file, on whatever file system it lives.
     *
     * @return its absolute path
     */
    public Path image() {
        return image;
    }

    @Override
    public QedFileSystemProvider provider() {
        return provider;
    }

    /**
     * Flushes the image, closes every channel and stream this file system handed out (also those handed out while
     * it is closing), and releases the image. Returns only when every channel operation in progress on the image
     * has finished or failed, so no byte reaches the image file after it returns. Later operations give
     * {@link ClosedFileSystemException} (or {@link java.nio.channels.ClosedChannelException} on the closed
     * channels). Idempotent: a second call waits for the first to finish.
     */
    @Override
    public void close() throws IOException {
        synchronized (this) {
            if (closed) {
                closeDone.join();
                return;
            }
            closed = true;
        }
        try {
            closeNow();
        } finally {
            closeDone.complete(null);
        }
    }

    private void closeNow() throws IOException {
        IOException failure = null;
        OpenImage entry = explicitImage;
        // Set closed first, then take the snapshot: newChannel registers and then re-checks closed, so a channel
        // handed out concurrently is in the snapshot or closed by newChannel itself (jimfs's FileSystemState rule).
        List<DiskChannel> toClose = new ArrayList<>(handedOut);
        if (entry != null) {
            List<DiskChannel> onImage = entry.beginClose();
            if (onImage != null) {
                toClose.addAll(onImage);
            }
        }
        Set<OpenImage> touched = new HashSet<>();
        for (DiskChannel ch : toClose) {
            touched.add(ch.target());
            try {
                ch.close();
            } catch (IOException e) {
                failure = add(failure, e);
            }
        }
        if (entry != null) {
            try {
                provider.registry().release(entry);
            } catch (IOException e) {
                failure = add(failure, e);
            }
        } else {
            // An implicit file system's channels may be on an image that stays open (other channels, an explicit
            // file system): wait for the calls in progress on them anyway, as the close promises.
            for (DiskChannel ch : toClose) {
                ch.awaitCallsInProgress();
            }
            for (OpenImage img : touched) {
                if (img.isClosing()) {
                    img.closedFuture().join(); // its last channel was ours: closed by now unless another thread is
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static IOException add(IOException first, IOException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    @Override
    public boolean isOpen() {
        return !closed;
    }

    /**
     * True with env {@code readOnly}, when the image file cannot be written, or when an explicit file system had
     * to open it read-only. An implicit file system whose image is open only for reading is not read-only: a write
     * channel upgrades the image.
     */
    @Override
    public boolean isReadOnly() {
        OpenImage entry = explicitImage;
        if (entry != null) {
            return entry.image().isReadOnly();
        }
        return options.readOnly() || image.getFileSystem().isReadOnly() || !Files.isWritable(image);
    }

    @Override
    public String getSeparator() {
        return "/";
    }

    @Override
    public Iterable<Path> getRootDirectories() {
        checkOpen();
        return List.of(root);
    }

    /** One store: the disk's capacity (total space is the virtual size, usable space what is not allocated yet). */
    @Override
    public Iterable<FileStore> getFileStores() {
        checkOpen();
        return List.of(new DiskStore(this));
    }

    @Override
    public Set<String> supportedFileAttributeViews() {
        return AttributeViews.VIEWS;
    }

    @Override
    public Path getPath(String first, String... more) {
        return QedPath.parse(this, first, more);
    }

    @Override
    public PathMatcher getPathMatcher(String syntaxAndPattern) {
        int colon = syntaxAndPattern.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("'" + syntaxAndPattern + "' is not syntax:pattern");
        }
        String syntax = syntaxAndPattern.substring(0, colon);
        String pattern = syntaxAndPattern.substring(colon + 1);
        if (syntax.equalsIgnoreCase("regex")) {
            Pattern p = Pattern.compile(pattern);
            return path -> p.matcher(path.toString()).matches();
        }
        if (syntax.equalsIgnoreCase("glob")) {
            // Paths here use the Unix syntax; the default file system's glob has the same rules for "/" names.
            PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + pattern);
            return path -> m.matches(FileSystems.getDefault().getPath(path.toString()));
        }
        throw new UnsupportedOperationException("path matcher syntax '" + syntax + "' (use glob or regex)");
    }

    @Override
    public UserPrincipalLookupService getUserPrincipalLookupService() {
        throw new UnsupportedOperationException("a qed: file system has no users");
    }

    @Override
    public WatchService newWatchService() {
        throw new UnsupportedOperationException("a qed: file system has no watch service");
    }

    @Override
    public String toString() {
        return diskUri + (implicit ? " (implicit)" : "") + (closed ? " (closed)" : "");
    }

    // ------------------------------------------------------------------------------------ package-private

    URI diskUri() {
        return diskUri;
    }

    /** Identifies the image for path equality: paths of two file systems on one image are equal. */
    String imageKey() {
        return imageKey;
    }

    boolean sameImage(QedFileSystem other) {
        return imageKey.equals(other.imageKey);
    }

    OpenOptions openOptions() {
        return options;
    }

    boolean isImplicit() {
        return implicit;
    }

    QedPath root() {
        return root;
    }

    void checkOpen() {
        if (closed) {
            throw new ClosedFileSystemException();
        }
    }

    /** Opens a channel on {@code path}, which must be the disk. */
    DiskChannel newChannel(QedPath path, Set<? extends OpenOption> openOptions) throws IOException {
        checkOpen();
        ChannelMode mode = ChannelMode.of(openOptions);
        if (path.isRoot()) {
            throw new FileSystemException(path.toString(), null, "is a directory (the disk is /" + DISK_NAME + ")");
        }
        if (!path.isDisk()) {
            throw new NoSuchFileException(path.toString(), null, "a qed: file system holds only /" + DISK_NAME);
        }
        if (!Files.exists(image)) {
            throw new NoSuchFileException(image.toString(), null, "no QED image for " + diskUri + " (images are"
                    + " created by FileSystems.newFileSystem(uri, Map.of(\"create\", \"true\", \"size\", ...)),"
                    + " never by opening a channel)");
        }
        if (mode.createNew()) {
            throw new FileAlreadyExistsException(path.toString(), null, "CREATE_NEW: the disk of " + image
                    + " exists");
        }
        if (mode.writable() && isReadOnly()) {
            throw new QedReadOnlyFileSystemException(image, readOnlyReason());
        }
        DiskChannel ch;
        if (implicit) {
            ch = provider.registry().openImplicitChannel(this, mode);
        } else {
            ch = new DiskChannel(explicitImage, mode, this);
            if (!explicitImage.addChannel(ch)) {
                throw new ClosedFileSystemException();
            }
        }
        handedOut.add(ch);
        if (closed) {
            ch.close();
            throw new ClosedFileSystemException();
        }
        return ch;
    }

    /** Why this file system is read-only, for exception messages. */
    String readOnlyReason() {
        if (options.readOnly()) {
            return "the file system was opened with env readOnly=true";
        }
        if (image.getFileSystem().isReadOnly()) {
            return "the image file is on a read-only file system (" + image.getFileSystem() + ")";
        }
        return "the image file cannot be written";
    }

    void channelClosed(DiskChannel ch) throws IOException {
        handedOut.remove(ch);
        provider.registry().channelClosed(ch);
    }

    /**
     * Runs {@code action} on this file system's image, inside the image's gate (a close waits for it); for an
     * implicit file system with no open image, on a read-only engine opened just for it.
     */
    <T> T withImage(OpenImage.Call<T> action) throws IOException {
        checkOpen();
        OpenImage entry = explicitImage;
        if (entry != null) {
            try {
                return entry.call(action);
            } catch (java.nio.channels.ClosedChannelException e) {
                if (entry.isClosing()) {
                    throw new ClosedFileSystemException();
                }
                throw e;
            }
        }
        return provider.registry().withImage(image, options, action);
    }
}
