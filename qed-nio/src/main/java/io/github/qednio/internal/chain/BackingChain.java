package io.github.qednio.internal.chain;

import io.github.qednio.internal.qed.Backing;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.BackingPolicy;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.internal.qed.ImageCreator;
import io.github.qednio.internal.qed.QedEngine;
import io.github.qednio.internal.qcow2.Qcow2Image;
import io.github.qednio.internal.storage.FormatProbe;
import io.github.qednio.internal.storage.RawImageFile;
import io.github.qednio.internal.storage.Storage;
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
 * Backing files are opened read-only and shared between overlays ({@link SharedBackings}); a shared chain is
 * checked against the policy of each overlay that reuses it.
 */
public final class BackingChain {
    private final Path topDirectory;
    /** Real paths of the images from the top down to the one whose backing file is being opened. */
    private final List<Path> images;
    /** Resolve backing names but open nothing (header-only operations). */
    private final boolean detached;

    private BackingChain(Path topDirectory, List<Path> images, boolean detached) {
        this.topDirectory = topDirectory;
        this.images = images;
        this.detached = detached;
    }

    public static QedEngine openTop(Path file, OpenOptions options) throws IOException {
        return openTop(file, options, true);
    }

    /** @param repairOnOpen false for a check-only open (QEMU's {@code BDRV_O_CHECK}) */
    public static QedEngine openTop(Path file, OpenOptions options, boolean repairOnOpen) throws IOException {
        Path real = file.toRealPath();
        return new BackingChain(real.getParent(), List.of(real), false).openImage(file, options, repairOnOpen);
    }

    /** Opens one QED image of this chain; its backing file, if any, is opened (or shared) by this chain. */
    private QedEngine openImage(Path file, OpenOptions options, boolean repairOnOpen) throws IOException {
        return QedEngine.open(file, options, (image, name, noProbe) -> openBacking(image, name, noProbe, options),
                repairOnOpen);
    }

    /**
     * Creates a new image, as {@code qemu-img create -f qed} does, and opens it read-write with its chain: the
     * backing file's format is probed and its size taken here when the options leave them open.
     */
    public static QedEngine create(Path file, CreateOptions options, OpenOptions openOptions) throws IOException {
        return ImageCreator.create(file, options, openOptions, new ImageCreator.Chain() {
            @Override
            public ImageFormat formatOf(String name) throws IOException {
                return formatForCreate(file, name, openOptions);
            }

            @Override
            public long sizeOf(String name, ImageFormat format) throws IOException {
                return backingSize(file, name, format, openOptions);
            }

            @Override
            public QedEngine open() throws IOException {
                return openTop(file, openOptions.withReadOnly(false));
            }
        });
    }

    /**
     * Opens an image without opening its backing file, which may be missing: its name is resolved but neither
     * checked nor read. For operations that touch only the header or the image's own clusters.
     */
    public static QedEngine openDetached(Path file, OpenOptions options) throws IOException {
        Path real = file.toRealPath();
        return new BackingChain(real.getParent(), List.of(real), true).openImage(file,
                options.withCopyOnRead(false), true);
    }

    /**
     * Opens a qcow2 image read-only as the top of its chain, with its backing files (the options' policy, depth
     * limit and cycle check apply): for the whole-image operations that read any format.
     *
     * @throws QedFormatException if it is not a qcow2 image this library reads, or a backing file is refused
     */
    public static Backing openQcow2Top(Path file, OpenOptions options) throws IOException {
        Path real = file.toRealPath();
        return Qcow2Backing.open(file, options.withReadOnly(true).withCopyOnRead(false),
                new BackingChain(real.getParent(), List.of(real), false), false);
    }

    /**
     * Opens {@code name} as it would be opened if {@code image}'s header named it with {@code format} (null:
     * probe): for a safe rebase, which reads the new chain before changing the header.
     */
    public static Backing openAsBackingOf(Path image, String name, ImageFormat format, OpenOptions options)
            throws IOException {
        Path real = image.toRealPath();
        BackingChain chain = new BackingChain(real.getParent(), List.of(real), false);
        if (options.backingPolicy() == BackingPolicy.DENY) {
            throw new QedFormatException("backing_file", image + ": backing file '" + name
                    + "' refused by backing policy 'deny'");
        }
        return chain.open(image, name, format, options);
    }

    /** Resolves a stored backing name: absolute as is, relative against the image's directory. */
    static Path resolve(Path image, String name) throws QedFormatException {
        Path p;
        try {
            p = image.getFileSystem().getPath(name);
        } catch (InvalidPathException e) {
            // A NUL byte, for example: the header holds a name no file system accepts.
            throw new QedFormatException("backing_filename", image + ": backing file name '"
                    + name.replace("\0", "\\0") + "' is not a valid path: " + e.getReason());
        }
        if (p.isAbsolute()) {
            return p;
        }
        Path dir = image.toAbsolutePath().getParent();
        return dir == null ? p : dir.resolve(p);
    }

    /** The size of a would-be backing file, for creating an overlay without an explicit size. */
    public static long backingSize(Path image, String name, ImageFormat format, OpenOptions options) throws IOException {
        Path p = resolve(image, name);
        if (!Files.exists(p)) {
            throw new NoSuchFileException(p.toString(), image.toString(), "backing file '" + name
                    + "' does not exist, so the overlay's size cannot be taken from it");
        }
        ImageFormat f = format != null ? format : probe(image, name, p, options);
        if (f == ImageFormat.RAW) {
            return Files.size(p);
        }
        if (f == ImageFormat.QCOW2) {
            try (Qcow2Image img = Qcow2Image.open(p, new RawImageFile(options.openStorage(p, true)))) {
                return img.size();
            }
        }
        try (QedEngine img = openTop(p, options.withReadOnly(true).withCopyOnRead(false))) {
            return img.size();
        }
    }

    /** The format to record for a new overlay whose caller did not state one: probed, if probing is allowed. */
    public static ImageFormat formatForCreate(Path image, String name, OpenOptions options) throws IOException {
        if (!options.probeBacking()) {
            throw new IllegalArgumentException(image + ": the format of backing file '" + name + "' must be given"
                    + " when probing is disabled (OpenOptions.withProbeBacking)");
        }
        Path p = resolve(image, name);
        if (!Files.exists(p)) {
            throw new NoSuchFileException(p.toString(), image.toString(), "backing file '" + name
                    + "' does not exist");
        }
        return probe(image, name, p, options);
    }

    /**
     * Opens the backing file an image's header names (never empty: the image treats an empty name as no backing
     * file, as QEMU does). A detached open records the name without opening anything, for header-only operations.
     */
    public Backing openBacking(Path image, String name, boolean noProbe, OpenOptions options) throws IOException {
        return openBacking(image, name, noProbe ? ImageFormat.RAW : null, options);
    }

    /** As {@link #openBacking(Path, String, boolean, OpenOptions)}, for a recorded format (null: probe). */
    public Backing openBacking(Path image, String name, ImageFormat format, OpenOptions options) throws IOException {
        if (detached) {
            return new DetachedBacking(image, resolve(image, name), format);
        }
        if (options.backingPolicy() == BackingPolicy.DENY) {
            throw new QedFormatException("backing_file", image + ": has backing file '" + name
                    + "', refused by backing policy 'deny'");
        }
        return open(image, name, format, options);
    }

    /** Opens (or shares) the backing file {@code name} of {@code image}; {@code format} null means probe. */
    private Backing open(Path image, String name, ImageFormat format, OpenOptions options) throws IOException {
        checkDepth(image, images, options);
        Path p = resolve(image, name);
        if (!Files.exists(p)) {
            throw new NoSuchFileException(p.toString(), image.toString(), "backing file '" + name + "' of "
                    + image + " does not exist");
        }
        if (Files.isDirectory(p)) {
            throw new QedFormatException("backing_filename", image + ": backing file name '" + name
                    + "' resolves to " + p + ", a directory");
        }
        Path real = p.toRealPath();
        boolean probed = format == null;
        checkLink(new SharedBackings.Link(image, name, real, probed), images, options);
        ImageFormat f = probed ? probe(image, name, p, options) : format;
        OpenOptions ro = options.withReadOnly(true).withCopyOnRead(false);
        List<Path> below = new ArrayList<>(images);
        below.add(real);
        return SharedBackings.jvm().acquire(new SharedBackings.Key(real, f, options.storageFactory(),
                        options.maxTableBytes(), options.forceShare()),
                new SharedBackings.Link(image, name, real, probed), p,
                () -> switch (f) {
                    case RAW -> new RawBacking(ro.openStorage(p, true), p);
                    case QED -> new QedBacking(new BackingChain(topDirectory, below, false).openImage(p, ro, true));
                    case QCOW2 -> Qcow2Backing.open(p, ro, new BackingChain(topDirectory, below, false));
                },
                chain -> checkShared(chain, below, options));
    }

    /** Re-applies this overlay's rules to the chain below a backing file that another overlay opened. */
    private void checkShared(List<SharedBackings.Link> chain, List<Path> above, OpenOptions options)
            throws IOException {
        List<Path> seen = new ArrayList<>(above);
        for (SharedBackings.Link link : chain) {
            checkDepth(link.image(), seen, options);
            checkLink(link, seen, options);
            seen.add(link.real());
        }
    }

    private static void checkDepth(Path image, List<Path> above, OpenOptions options) throws QedFormatException {
        if (above.size() > options.maxChainDepth()) {
            throw new QedFormatException("backing_file", image + ": backing chain is deeper than the limit of "
                    + options.maxChainDepth() + ": " + above, "OpenOptions.withMaxChainDepth");
        }
    }

    /** Cycles, the confine policy, and the ban on probing. */
    private void checkLink(SharedBackings.Link link, List<Path> above, OpenOptions options)
            throws QedFormatException {
        Path image = link.image();
        String name = link.name();
        Path real = link.real();
        if (above.contains(real)) {
            throw new QedFormatException("backing_file", image + ": backing file '" + name + "' (" + real
                    + ") makes a cycle in the backing chain " + above);
        }
        if (options.backingPolicy() == BackingPolicy.CONFINE && !real.startsWith(topDirectory)) {
            throw new QedFormatException("backing_file", image + ": backing file '" + name + "' resolves to "
                    + real + ", outside " + topDirectory + ", refused by backing policy 'confine'");
        }
        if (link.probed() && !options.probeBacking()) {
            throw new QedFormatException("backing_file", image + ": the format of backing file '" + name
                    + "' is not recorded (no QED_F_BACKING_FORMAT_NO_PROBE) and probing is disabled",
                    "OpenOptions.withProbeBacking");
        }
    }

    /**
     * The format of backing file {@code p} of {@code image}, probed as QEMU does ({@link FormatProbe}): QED and
     * qcow2 by their magic, raw when no format claims it.
     *
     * @throws QedFormatException naming the image, the backing file and the format found when it is another format
     *         QEMU recognises (qcow, vmdk, ...): reading it as raw would hand its metadata to the guest as data
     */
    public static ImageFormat probe(Path image, String name, Path p, OpenOptions options) throws IOException {
        String found;
        try (Storage s = options.openStorage(p, true)) {
            found = FormatProbe.probe(s, p);
        }
        switch (found) {
            case FormatProbe.QED:
                return ImageFormat.QED;
            case FormatProbe.RAW:
                return ImageFormat.RAW;
            case FormatProbe.QCOW2:
                return ImageFormat.QCOW2;
            default:
                throw new QedFormatException("backing_file", image + ": backing file '" + name + "' (" + p
                        + ") is a " + found + " image, and the header does not record its format; QEMU would read"
                        + " it as " + found + ", this library reads only raw, QED and qcow2 backing files, and reading it"
                        + " as raw would expose its " + found + " metadata as guest data");
        }
    }
}
