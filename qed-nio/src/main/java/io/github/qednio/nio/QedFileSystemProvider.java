package io.github.qednio.nio;

import io.github.qednio.internal.JvmState;
import io.github.qednio.internal.storage.LockSafeFiles;
import io.github.qednio.image.OpenOptions;
import java.io.IOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.AccessMode;
import java.nio.file.CopyOption;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileStore;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystemNotFoundException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.ProviderMismatchException;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.FileAttributeView;
import java.nio.file.spi.FileSystemProvider;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code qed:} file system provider: {@code qed:} followed by an image file's URI names the virtual disk of
 * that QED image, e.g. {@code Path.of(URI.create("qed:" + image.toUri()))}.
 *
 * <p>Registered through {@code META-INF/services} and the module's {@code provides} clause. Without the service
 * loader (fat jars, application servers) use {@link QedFileSystems}. All instances of this class share one
 * registry of open images, so an image is open at most once in a class loader.
 *
 * @see QedFileSystem for lifecycles, read-only semantics and the rule for {@code newFileSystem(Path, env)}
 */
public final class QedFileSystemProvider extends FileSystemProvider {
    /** The JVM's registry ({@link JvmState}), unless a test gave this provider one of its own. */
    private final ImageRegistry registry;

    /** Called by the service loader. */
    public QedFileSystemProvider() {
        this(JvmState.jvm().part(ImageRegistry.class, () -> new ImageRegistry(OpenOptions.defaults())));
    }

    /** A provider over {@code registry} (tests: one whose implicit file systems open images with a hook). */
    QedFileSystemProvider(ImageRegistry registry) {
        this.registry = registry;
    }

    /**
     * The installed provider of this class, or the JVM's own instance ({@link JvmState}) when the service loader did
     * not install it.
     */
    static QedFileSystemProvider instance() {
        for (FileSystemProvider p : FileSystemProvider.installedProviders()) {
            if (p instanceof QedFileSystemProvider q) {
                return q;
            }
        }
        return JvmState.jvm().part(QedFileSystemProvider.class, QedFileSystemProvider::new);
    }

    ImageRegistry registry() {
        return registry;
    }

    /** Returns {@code "qed"}. */
    @Override
    public String getScheme() {
        return QedUris.SCHEME;
    }

    // -------------------------------------------------------------------------------------------- file systems

    /**
     * Opens the image named by {@code qed:<image URI>}, creating it first with env {@code create=true} if missing.
     *
     * @throws IllegalArgumentException for an unknown env key or a bad value, naming it
     * @throws java.nio.file.FileSystemAlreadyExistsException if the image is already open in this JVM
     * @throws NoSuchFileException if the image is missing and {@code create} is not true
     */
    @Override
    public QedFileSystem newFileSystem(URI uri, Map<String, ?> env) throws IOException {
        QedEnv e = QedEnv.parse(env);
        Path image = QedUris.imagePath(uri);
        return registry.openExplicit(this, image, e.create() ? e.createOptions() : null, e.openOptions(),
                "no such QED image (pass env create=true with a size to create one)");
    }

    /**
     * Opens the QED image at {@code path} (on any file system).
     *
     * @throws UnsupportedOperationException if {@code path} is not a QED image (missing, a directory, or without
     *         the QED magic), so that {@code FileSystems.newFileSystem} asks the next provider
     */
    @Override
    public QedFileSystem newFileSystem(Path path, Map<String, ?> env) throws IOException {
        if (!isQedImage(path)) {
            throw new UnsupportedOperationException(path + " is not a QED image");
        }
        QedEnv e = QedEnv.parse(env);
        return registry.openExplicit(this, path.toAbsolutePath(), null, e.openOptions());
    }

    QedFileSystem open(Path image, io.github.qednio.image.CreateOptions create, OpenOptions options)
            throws IOException {
        return registry.openExplicit(this, image.toAbsolutePath(), create, options);
    }

    /** Probes through the engine's lock manager: never drops an image lock this JVM holds on the file. */
    private static boolean isQedImage(Path path) throws IOException {
        return Files.isRegularFile(path) && LockSafeFiles.isQed(path);
    }

    /**
     * The file system open for the image, explicit or implicit (while it has channels).
     *
     * @throws FileSystemNotFoundException if none is open
     */
    @Override
    public QedFileSystem getFileSystem(URI uri) {
        Path image = QedUris.imagePath(uri);
        OpenImage entry = registry.find(image);
        if (entry == null || !entry.owner.isOpen()) {
            throw new FileSystemNotFoundException("no qed: file system is open for " + image);
        }
        return entry.owner;
    }

    /**
     * The disk (or, with a fragment, another path) of the image: in the file system open for it, or else in an
     * implicit file system that opens the image for as long as it has channels.
     */
    @Override
    public Path getPath(URI uri) {
        Path image = QedUris.imagePath(uri);
        OpenImage entry = registry.find(image);
        QedFileSystem fs = entry != null && entry.owner.isOpen() ? entry.owner
                : new QedFileSystem(this, image, registry.implicitOptions(), true);
        String fragment = QedUris.fragmentPath(uri);
        return fragment == null ? fs.disk() : fs.getPath(fragment);
    }

    // ----------------------------------------------------------------------------------------------- channels

    @Override
    public SeekableByteChannel newByteChannel(Path path, Set<? extends OpenOption> options,
                                              FileAttribute<?>... attrs) throws IOException {
        return newFileChannel(path, options, attrs);
    }

    @Override
    public FileChannel newFileChannel(Path path, Set<? extends OpenOption> options, FileAttribute<?>... attrs)
            throws IOException {
        QedPath p = toQedPath(path);
        return p.getFileSystem().newChannel(p, options);
    }

    @Override
    public DirectoryStream<Path> newDirectoryStream(Path dir, DirectoryStream.Filter<? super Path> filter)
            throws IOException {
        QedPath p = toQedPath(dir);
        if (!checkAccess(p)) {
            throw new NotDirectoryException(dir.toString());
        }
        List<Path> entries = new ArrayList<>();
        Path disk = p.resolve(QedFileSystem.DISK_NAME);
        if (filter.accept(disk)) {
            entries.add(disk);
        }
        return new DirectoryStream<>() {
            private boolean iterated;

            @Override
            public Iterator<Path> iterator() {
                if (iterated) {
                    throw new IllegalStateException("iterator() already called");
                }
                iterated = true;
                return entries.iterator();
            }

            @Override
            public void close() {
            }
        };
    }

    // ------------------------------------------------------------------------------------- fixed layout

    /** Refused: the layout is fixed ({@code /} and {@code /disk}). */
    @Override
    public void createDirectory(Path dir, FileAttribute<?>... attrs) throws IOException {
        QedPath p = toQedPath(dir);
        p.getFileSystem().checkOpen();
        if (p.getFileSystem().isReadOnly()) {
            throw new QedReadOnlyFileSystemException(p.getFileSystem().image(), p.getFileSystem().readOnlyReason());
        }
        if (p.isRoot() || p.isDisk()) {
            throw new FileAlreadyExistsException(dir.toString());
        }
        throw new AccessDeniedException(dir.toString(), null, "a qed: file system holds only / and /"
                + QedFileSystem.DISK_NAME);
    }

    /** Refused: a disk cannot be deleted (delete the image file instead). */
    @Override
    public void delete(Path path) throws IOException {
        QedPath p = toQedPath(path);
        checkAccess(p);
        if (p.getFileSystem().isReadOnly()) {
            throw new QedReadOnlyFileSystemException(p.getFileSystem().image(), p.getFileSystem().readOnlyReason());
        }
        throw new AccessDeniedException(path.toString(), null, "the disk of a qed: file system cannot be deleted"
                + " (delete the image file " + p.getFileSystem().image() + " instead)");
    }

    /** Copying onto a disk replaces nothing: copy its bytes through channels instead. */
    @Override
    public void copy(Path source, Path target, CopyOption... options) throws IOException {
        QedPath s = toQedPath(source);
        QedPath t = toQedPath(target);
        checkAccess(s);
        if (isSameFile(s, t)) {
            return;
        }
        throw new FileSystemException(source.toString(), target.toString(), "a qed: disk cannot be replaced;"
                + " copy its bytes through channels (FileChannel.transferTo) instead");
    }

    @Override
    public void move(Path source, Path target, CopyOption... options) throws IOException {
        QedPath s = toQedPath(source);
        toQedPath(target);
        checkAccess(s);
        throw new FileSystemException(source.toString(), target.toString(), "a qed: disk cannot be moved");
    }

    @Override
    public boolean isSameFile(Path path, Path path2) throws IOException {
        if (path.equals(path2)) {
            return true;
        }
        if (!(path instanceof QedPath a) || !(path2 instanceof QedPath b)) {
            return false;
        }
        checkAccess(a);
        checkAccess(b);
        Path ia = a.getFileSystem().image();
        Path ib = b.getFileSystem().image();
        return a.toAbsolutePath().normalize().toString().equals(b.toAbsolutePath().normalize().toString())
                && ia.getFileSystem() == ib.getFileSystem() && Files.isSameFile(ia, ib);
    }

    @Override
    public boolean isHidden(Path path) {
        toQedPath(path);
        return false;
    }

    /** The disk's capacity: total space is the virtual size, usable space what the image does not hold yet. */
    @Override
    public FileStore getFileStore(Path path) throws IOException {
        QedPath p = toQedPath(path);
        checkAccess(p);
        return new DiskStore(p.getFileSystem());
    }

    /**
     * Checks access as the image file really allows it: {@code READ} of the disk needs a readable image file,
     * {@code WRITE} a file system that is not read-only and an image file that can be written (on a file system
     * that is not read-only), so {@code Files.isReadable} and {@code Files.isWritable} tell whether reads and
     * writes would work. The root directory can be read and searched, never written.
     */
    @Override
    public void checkAccess(Path path, AccessMode... modes) throws IOException {
        QedPath p = toQedPath(path);
        boolean dir = checkAccess(p);
        QedFileSystem fs = p.getFileSystem();
        for (AccessMode m : modes) {
            switch (m) {
                case READ -> {
                    if (!dir) {
                        imageAccess(fs, path, AccessMode.READ);
                    }
                }
                case WRITE -> {
                    if (dir) {
                        throw new AccessDeniedException(path.toString(), null, "the root directory cannot be"
                                + " written");
                    }
                    if (fs.isReadOnly()) {
                        throw new AccessDeniedException(path.toString(), null, "the qed: file system is read-only: "
                                + fs.readOnlyReason());
                    }
                    imageAccess(fs, path, AccessMode.WRITE);
                }
                case EXECUTE -> {
                    if (!dir) {
                        throw new AccessDeniedException(path.toString(), null, "a disk cannot be executed");
                    }
                }
                default -> throw new UnsupportedOperationException("access mode " + m);
            }
        }
    }

    /** Asks the image file's own provider for {@code mode}, reporting a refusal on the disk path. */
    private static void imageAccess(QedFileSystem fs, Path disk, AccessMode mode) throws IOException {
        Path image = fs.image();
        if (Files.isDirectory(image)) {
            throw new AccessDeniedException(disk.toString(), image.toString(), "the image file is a directory");
        }
        try {
            image.getFileSystem().provider().checkAccess(image, mode);
        } catch (AccessDeniedException e) {
            throw new AccessDeniedException(disk.toString(), image.toString(), "the image file cannot be "
                    + (mode == AccessMode.READ ? "read" : "written") + (e.getReason() == null ? ""
                    : ": " + e.getReason()));
        }
    }

    /**
     * Checks that {@code path} exists: the root directory always (while the file system is open), the disk when
     * the image file exists.
     *
     * @return true for the root directory, false for the disk
     */
    boolean checkAccess(QedPath path) throws IOException {
        QedFileSystem fs = path.getFileSystem();
        fs.checkOpen();
        if (path.isRoot()) {
            return true;
        }
        if (!path.isDisk()) {
            throw new NoSuchFileException(path.toString(), null, "a qed: file system holds only /"
                    + QedFileSystem.DISK_NAME);
        }
        if (!Files.exists(fs.image())) {
            throw new NoSuchFileException(fs.image().toString(), null, "no QED image for " + fs.diskUri());
        }
        return false;
    }

    // ------------------------------------------------------------------------------------------- attributes

    @Override
    public <V extends FileAttributeView> V getFileAttributeView(Path path, Class<V> type, LinkOption... options) {
        return AttributeViews.view(toQedPath(path), type);
    }

    @Override
    public <A extends BasicFileAttributes> A readAttributes(Path path, Class<A> type, LinkOption... options)
            throws IOException {
        return AttributeViews.read(toQedPath(path), type);
    }

    @Override
    public Map<String, Object> readAttributes(Path path, String attributes, LinkOption... options)
            throws IOException {
        return AttributeViews.read(toQedPath(path), attributes);
    }

    @Override
    public void setAttribute(Path path, String attribute, Object value, LinkOption... options) throws IOException {
        AttributeViews.set(toQedPath(path), attribute, value);
    }

    private static QedPath toQedPath(Path path) {
        if (path == null) {
            throw new NullPointerException("path");
        }
        if (!(path instanceof QedPath p)) {
            throw new ProviderMismatchException("'" + path + "' is not a qed: path");
        }
        return p;
    }

    @Override
    public String toString() {
        return "QedFileSystemProvider[qed:]";
    }
}
