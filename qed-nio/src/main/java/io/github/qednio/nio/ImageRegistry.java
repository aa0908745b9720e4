package io.github.qednio.nio;

import io.github.qednio.engine.CreateOptions;
import io.github.qednio.engine.OpenOptions;
import io.github.qednio.engine.QedImage;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.ReadOnlyFileSystemException;
import java.util.HashMap;
import java.util.Map;

/**
 * The images open in this JVM, one per real path. Opening, creating, and closing the last channel of an implicitly
 * opened image all happen under this registry's lock, so an image is never open twice and a channel never sees an
 * image that is being closed.
 */
final class ImageRegistry {
    private final Map<Path, OpenImage> open = new HashMap<>();

    /** The image open for {@code image}'s real path, or null (also if the file does not exist). */
    synchronized OpenImage find(Path image) {
        try {
            return open.get(image.toRealPath());
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Opens {@code image} for an explicit file system, creating it first if it is missing and {@code create} is not
     * null.
     *
     * @throws FileSystemAlreadyExistsException if the image is already open in this JVM
     * @throws NoSuchFileException naming the image if it is missing and {@code create} is null
     */
    synchronized QedFileSystem openExplicit(QedFileSystemProvider provider, Path image, CreateOptions create,
                                            OpenOptions options) throws IOException {
        if (!Files.exists(image)) {
            if (create == null) {
                throw new NoSuchFileException(image.toString(), null,
                        "no such QED image (pass env create=true with a size to create one)");
            }
            QedImage.create(image, create, options.withReadOnly(false)).close();
        }
        Path key = image.toRealPath();
        if (open.containsKey(key)) {
            throw new FileSystemAlreadyExistsException("a qed: file system for " + image + " is already open in"
                    + " this JVM (FileSystems.getFileSystem(uri) returns it)");
        }
        QedImage img = openImage(image, options);
        QedFileSystem fs = new QedFileSystem(provider, image, options, false);
        OpenImage entry = new OpenImage(key, img, fs, false);
        fs.attach(entry);
        open.put(key, entry);
        return fs;
    }

    /**
     * A channel on the disk of {@code image}: on the image already open in this JVM, or on an image opened now that
     * closes with its last channel.
     *
     * @param fs the (implicit) file system handing out the channel
     */
    synchronized DiskChannel openImplicitChannel(QedFileSystem fs, ChannelMode mode) throws IOException {
        Path key = fs.image().toRealPath();
        OpenImage entry = open.get(key);
        boolean fresh = entry == null;
        if (fresh) {
            QedImage img = openImage(fs.image(), fs.openOptions());
            entry = new OpenImage(key, img, fs, true);
        }
        if (mode.writable() && entry.image.isReadOnly()) {
            if (fresh) {
                entry.image.close();
            }
            throw new ReadOnlyFileSystemException();
        }
        DiskChannel ch = new DiskChannel(entry, mode, fs);
        entry.channels.add(ch);
        if (fresh) {
            open.put(key, entry);
        }
        return ch;
    }

    /** Forgets a closed channel; the last channel of an implicitly opened image closes the image. */
    synchronized void channelClosed(DiskChannel ch) throws IOException {
        OpenImage entry = ch.target();
        entry.channels.remove(ch);
        if (entry.implicit && entry.channels.isEmpty() && open.get(entry.key) == entry) {
            open.remove(entry.key);
            entry.image.close();
        }
    }

    /** Forgets an explicit file system's image (it closes the image itself). */
    synchronized void remove(OpenImage entry) {
        open.remove(entry.key, entry);
    }

    /** Runs {@code action} on the open image, or on a read-only engine opened just for it. */
    synchronized <T> T withImage(Path image, OpenOptions options, ImageAction<T> action) throws IOException {
        OpenImage entry = open.get(image.toRealPath());
        if (entry != null) {
            return action.apply(entry.image);
        }
        try (QedImage img = QedImage.open(image, options.withReadOnly(true).withCopyOnRead(false))) {
            return action.apply(img);
        }
    }

    /** Something to do with an engine. */
    interface ImageAction<T> {
        T apply(QedImage image) throws IOException;
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
