package io.github.qednio.engine;

import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens the backing files below an image: resolves names against the image's directory (as QEMU does), applies
 * the {@link BackingPolicy}, refuses cycles and chains deeper than {@link OpenOptions#maxChainDepth()}, and
 * decides formats without ever probing a file marked raw ({@code QED_F_BACKING_FORMAT_NO_PROBE}, notes §9.5).
 */
final class BackingChain {
    private final Path topDirectory;
    private final List<Path> images;

    private BackingChain(Path topDirectory, List<Path> images) {
        this.topDirectory = topDirectory;
        this.images = images;
    }

    static QedImage openTop(Path file, OpenOptions options) throws IOException {
        Path real = file.toRealPath();
        return QedImage.open(file, options, new BackingChain(real.getParent(), List.of(real)));
    }

    /** Resolves a stored backing name: absolute as is, relative against the image's directory. */
    static Path resolve(Path image, String name) {
        Path p = image.getFileSystem().getPath(name);
        if (p.isAbsolute()) {
            return p;
        }
        Path dir = image.toAbsolutePath().getParent();
        return dir == null ? p : dir.resolve(p);
    }

    /** The size of a would-be backing file, for creating an overlay without an explicit size. */
    static long backingSize(Path image, String name, BackingFormat format, OpenOptions options) throws IOException {
        Path p = resolve(image, name);
        if (!Files.exists(p)) {
            throw new NoSuchFileException(p.toString(), image.toString(), "backing file '" + name
                    + "' does not exist, so the overlay's size cannot be taken from it");
        }
        BackingFormat f = format != null ? format : probe(p, options);
        if (f == BackingFormat.RAW) {
            return Files.size(p);
        }
        try (QedImage img = QedImage.open(p, options.withReadOnly(true).withCopyOnRead(false))) {
            return img.size();
        }
    }

    Backing openBacking(Path image, String name, boolean noProbe, OpenOptions options) throws IOException {
        if (options.backingPolicy() == BackingPolicy.DENY) {
            throw new QedFormatException("backing_file", image + ": has backing file '" + name
                    + "', refused by backing policy 'deny'");
        }
        if (images.size() > options.maxChainDepth()) {
            throw new QedFormatException("backing_file", image + ": backing chain is deeper than the limit of "
                    + options.maxChainDepth() + " (OpenOptions.withMaxChainDepth): " + images);
        }
        if (name.isEmpty()) {
            throw new QedFormatException("backing_filename_size", image
                    + ": QED_F_BACKING_FILE is set but the backing file name is empty");
        }
        Path p;
        try {
            p = resolve(image, name);
        } catch (InvalidPathException e) {
            // A NUL byte, for example: the header holds a name no file system accepts.
            throw new QedFormatException("backing_filename", image + ": backing file name '"
                    + name.replace("\0", "\\0") + "' is not a valid path: " + e.getReason());
        }
        if (!Files.exists(p)) {
            throw new NoSuchFileException(p.toString(), image.toString(), "backing file '" + name + "' of "
                    + image + " does not exist");
        }
        if (Files.isDirectory(p)) {
            throw new QedFormatException("backing_filename", image + ": backing file name '" + name
                    + "' resolves to " + p + ", a directory");
        }
        Path real = p.toRealPath();
        if (images.contains(real)) {
            throw new QedFormatException("backing_file", image + ": backing file '" + name + "' (" + real
                    + ") makes a cycle in the backing chain " + images);
        }
        if (options.backingPolicy() == BackingPolicy.CONFINE && !real.startsWith(topDirectory)) {
            throw new QedFormatException("backing_file", image + ": backing file '" + name + "' resolves to "
                    + real + ", outside " + topDirectory + ", refused by backing policy 'confine'");
        }
        BackingFormat format;
        if (noProbe) {
            format = BackingFormat.RAW;
        } else if (!options.probeBacking()) {
            throw new QedFormatException("backing_file", image + ": the format of backing file '" + name
                    + "' is not recorded (no QED_F_BACKING_FORMAT_NO_PROBE) and probing is disabled");
        } else {
            format = probe(p, options);
        }
        OpenOptions ro = options.withReadOnly(true).withCopyOnRead(false);
        if (format == BackingFormat.RAW) {
            return new RawBacking(ro.storageFactory().open(p, true), p);
        }
        List<Path> below = new ArrayList<>(images);
        below.add(real);
        return new QedBacking(QedImage.open(p, ro, new BackingChain(topDirectory, below)));
    }

    /** QED if the file starts with the QED magic, otherwise raw. No other format is ever recognised. */
    private static BackingFormat probe(Path p, OpenOptions options) throws IOException {
        try (Storage s = options.storageFactory().open(p, true)) {
            ByteBuffer b = ByteBuffer.allocate(QedHeader.HEADER_LENGTH);
            while (b.hasRemaining() && s.read(b, b.position()) >= 0) {
                // fill
            }
            b.flip();
            return b.remaining() >= QedHeader.HEADER_LENGTH && QedHeader.hasMagic(b) ? BackingFormat.QED
                    : BackingFormat.RAW;
        }
    }
}
