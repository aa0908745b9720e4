package io.github.qednio.nio;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;

/**
 * Opens and creates {@code qed:} file systems without the service loader, for fat jars and application servers
 * where {@code FileSystems.newFileSystem(URI, ...)} may not find the provider.
 *
 * <pre>{@code
 * try (QedFileSystem fs = QedFileSystems.create(Path.of("disk.qed"), CreateOptions.ofSize(64L << 20));
 *      FileChannel ch = FileChannel.open(fs.disk(), StandardOpenOption.WRITE)) {
 *     ch.write(ByteBuffer.wrap("hello".getBytes()), 4096);
 * }
 * }</pre>
 */
public final class QedFileSystems {
    private QedFileSystems() {
    }

    /**
     * Opens an existing image read-write (read-only if the file cannot be written).
     *
     * @param image the image file
     * @return the open file system; closing it closes the image
     * @throws java.nio.file.NoSuchFileException if the image does not exist
     * @throws java.nio.file.FileSystemAlreadyExistsException if it is already open in this JVM
     * @throws io.github.qednio.image.ImageLockedException if another process holds the image
     * @throws IOException if the image cannot be opened
     */
    public static QedFileSystem open(Path image) throws IOException {
        return open(image, OpenOptions.defaults());
    }

    /**
     * Opens an existing image with the given options (read-only, copy-on-read, backing policy, ...).
     *
     * @throws java.nio.file.NoSuchFileException if the image does not exist
     * @param image the image file
     * @param options how to open it, not null
     * @return the open file system; closing it closes the image
     * @throws java.nio.file.NoSuchFileException if the image does not exist
     * @throws java.nio.file.FileSystemAlreadyExistsException if it is already open in this JVM
     * @throws IOException if the image cannot be opened
     */
    public static QedFileSystem open(Path image, OpenOptions options) throws IOException {
        return QedFileSystemProvider.instance().open(image, null, options);
    }

    /**
     * Creates a new image and opens it read-write.
     *
     * @param image the new image file; must not exist
     * @param create its size, geometry and backing file
     * @return the open file system; closing it closes the image
     * @throws java.nio.file.FileAlreadyExistsException if the file exists (images are never overwritten)
     * @throws IOException if the image cannot be created or opened
     */
    public static QedFileSystem create(Path image, CreateOptions create) throws IOException {
        return create(image, create, OpenOptions.defaults());
    }

    /**
     * Creates a new image and opens it with {@code options}.
     *
     * @param image the new image file; must not exist
     * @param create its size, geometry and backing file
     * @param options how to open it afterwards (read-write whatever their read-only flag)
     * @return the open file system; closing it closes the image
     * @throws java.nio.file.FileAlreadyExistsException if the file exists (images are never overwritten)
     * @throws IOException if the image cannot be created or opened
     */
    public static QedFileSystem create(Path image, CreateOptions create, OpenOptions options) throws IOException {
        if (java.nio.file.Files.exists(image)) {
            throw new java.nio.file.FileAlreadyExistsException(image.toString(), null,
                    "will not overwrite an existing file with a new image");
        }
        return QedFileSystemProvider.instance().open(image, create, options);
    }

    /**
     * As {@code FileSystems.newFileSystem(uri, env)} with a {@code qed:} URI and the env keys of the provider.
     *
     * @param uri a {@code qed:} URI, such as {@link #uri(Path)} gives
     * @param env the provider's env keys ({@code readOnly}, {@code create}, {@code size}, ...); may be empty
     * @return the open file system
     * @throws IllegalArgumentException naming the key or URI if one is malformed
     * @throws IOException if the image cannot be opened or created
     */
    public static QedFileSystem newFileSystem(URI uri, Map<String, ?> env) throws IOException {
        return QedFileSystemProvider.instance().newFileSystem(uri, env);
    }

    /**
     * The disk of {@code image}, as {@code Path.of(URI.create("qed:" + image.toUri()))} gives it. Reading or
     * writing it opens the image implicitly (read-only for reads) if no file system has it open.
     *
     * @param image the image file
     * @return the {@code /disk} path of the image's {@code qed:} file system
     */
    public static Path disk(Path image) {
        return QedFileSystemProvider.instance().getPath(uri(image));
    }

    /**
     * The {@code qed:} URI of an image's disk.
     *
     * @param image the image file, relative paths resolved against the working directory
     * @return {@code qed:} followed by the image's absolute URI
     */
    public static URI uri(Path image) {
        return QedUris.diskUri(image.toAbsolutePath());
    }
}
