package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.Progress;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qed.Backing;
import io.github.qednio.internal.chain.BackingChain;
import io.github.qednio.internal.chain.SharedBackings;
import io.github.qednio.internal.qcow2.Qcow2Image;
import io.github.qednio.internal.qed.Extent;
import io.github.qednio.internal.qed.QedEngine;
import io.github.qednio.internal.storage.Buffers;
import io.github.qednio.internal.storage.FormatProbe;
import io.github.qednio.internal.storage.Storage;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Operations on backing chains, as {@code qemu-img} offers them: external snapshots, commit, safe and unsafe
 * rebase, and removing the backing file (flattening). Each takes image files that are not open for writing
 * elsewhere, opens what it needs, and leaves every image closed and consistent.
 *
 * <pre>{@code
 * BackingOperations.snapshot(Path.of("base.qed"), Path.of("snap.qed"));          // base.qed: the frozen base
 * // ... write to snap.qed ...
 * BackingOperations.commit(Path.of("snap.qed"), OpenOptions.defaults());          // push the changes down
 * BackingOperations.rebase(Path.of("snap.qed"), "other.raw", ImageFormat.RAW, OpenOptions.defaults());
 * BackingOperations.removeBackingFile(Path.of("snap.qed"), OpenOptions.defaults()); // standalone image
 * }</pre>
 *
 * <p>Backing names are stored exactly as given and resolved against the overlay's directory, as QEMU does.
 */
public final class BackingOperations {
    /** Guest bytes moved per I/O (a whole number of clusters for every cluster size up to 1 MiB). */
    private static final int CHUNK = 1 << 20;

    private BackingOperations() {
    }

    /**
     * Takes an external snapshot: creates {@code overlay} with {@code image} as its backing file, so that
     * {@code image} becomes a frozen base and new writes go to {@code overlay}. The format of {@code image} is QED
     * if it starts with the QED magic, else raw (recorded as {@code QED_F_BACKING_FORMAT_NO_PROBE}); use
     * {@link #snapshot(Path, ImageFormat, Path)} to state it instead. {@code image} must not be open for writing.
     *
     * @param image   the image to freeze, raw or QED
     * @param overlay the new QED overlay to create
     * @return the backing name stored in {@code overlay}: the file name if both are in the same directory,
     *         otherwise the absolute path of {@code image}
     * @throws java.nio.file.FileAlreadyExistsException if {@code overlay} exists
     */
    public static String snapshot(Path image, Path overlay) throws IOException {
        return snapshot(image, BackingChain.probe(overlay, image.toString(), image, OpenOptions.readOnlyDefaults()),
                overlay);
    }

    /**
     * Takes an external snapshot of an image of a known format (see {@link #snapshot(Path, Path)}). The overlay
     * has the size of {@code image} and, for a QED image, its cluster and table sizes.
     *
     * @param image   the image to freeze
     * @param format  the format of {@code image}
     * @param overlay the new QED overlay to create
     * @return the backing name stored in {@code overlay}
     * @throws IOException if {@code overlay} exists or either file cannot be read or written
     */
    public static String snapshot(Path image, ImageFormat format, Path overlay) throws IOException {
        Objects.requireNonNull(format, "format");
        Path base = image.toAbsolutePath();
        Path dir = overlay.toAbsolutePath().getParent();
        String name = dir != null && dir.equals(base.getParent()) ? base.getFileName().toString() : base.toString();
        CreateOptions create = CreateOptions.overlay(name, format);
        if (format == ImageFormat.QED) {
            try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
                create = create.withSize(img.size()).withClusterSize(img.geometry().clusterSize())
                        .withTableSize(img.geometry().tableSize());
            }
        } else if (format == ImageFormat.QCOW2) {
            try (Qcow2Image img = Qcow2Image.open(image)) {
                create = create.withSize(img.size());
            }
        } else {
            create = create.withSize(Files.size(image));
        }
        QedImage.create(overlay, create).close();
        return name;
    }

    /**
     * Writes the overlay's own content down into its backing file, as {@code qemu-img commit} does: every
     * allocated cluster is copied and every zero cluster is zeroed in the backing file (raw or QED). QED has no
     * way to empty an image, so the overlay keeps its clusters and still reads the same. A backing file smaller
     * than the overlay is grown to the overlay's size first.
     *
     * @param overlay the QED overlay whose content is committed
     * @param options how to open the overlay and its backing file (the policy applies; read-only is ignored)
     * @return the guest bytes written into the backing file
     * @throws IOException if the overlay has no backing file, or the backing file is in use as the backing file
     *                     of other images open in this JVM (they would not see the change)
     */
    public static long commit(Path overlay, OpenOptions options) throws IOException {
        return commit(overlay, null, options, Progress.NONE);
    }

    /**
     * Writes everything the images above {@code base} hold down into {@code base}, as {@code qemu-img commit -b}
     * does: the own clusters (data and zero clusters) of each image between {@code base} and {@code overlay} are
     * copied into {@code base}, the lowest image first, so that {@code base} then reads as {@code overlay} did.
     * The images above {@code base} are not changed (QED cannot empty an image), so they still read the same; an
     * image between the two then reads {@code base}'s new content where it does not hold clusters itself.
     *
     * @param overlay  the QED image whose content is committed
     * @param base     an image of its backing chain to commit into, or null for its backing file
     * @param options  how to open the images (the policy applies; read-only is ignored)
     * @param progress told of the guest bytes processed, over all the images copied
     * @return the guest bytes written into {@code base}
     * @throws IOException if the overlay has no backing file ({@code "Image does not have a backing file"}),
     *                     {@code base} is not in its chain ({@code "Did not find ... in the backing chain of ..."}),
     *                     or {@code base} is the backing file of other images open in this JVM
     */
    public static long commit(Path overlay, Path base, OpenOptions options, Progress progress) throws IOException {
        OpenOptions ro = options.withReadOnly(true).withCopyOnRead(false);
        // A full open applies the policy to the chain; every image is then released before the base is written.
        try (QedImage top = QedImage.open(overlay, ro)) {
            if (top.backingFile() == null) {
                throw new IOException(overlay + ": Image does not have a backing file (it has no backing file to"
                        + " commit into)");
            }
        }
        // The images to copy, top first, down to the one whose backing file is the base.
        List<Path> layers = new ArrayList<>();
        Path current = overlay;
        Path basePath;
        ImageFormat baseFormat;
        while (true) {
            layers.add(current);
            Path next;
            ImageFormat nextFormat;
            try (QedEngine img = BackingChain.openDetached(current, ro)) {
                next = img.backingFile();
                // A detached image has not probed its backing file: the header's NO_PROBE says raw, else probe.
                nextFormat = next == null ? null
                        : img.header().hasFeature(QedHeader.QED_F_BACKING_FORMAT_NO_PROBE) ? ImageFormat.RAW
                        : formatOf(next);
            }
            if (next == null || (base != null && layers.size() > options.maxChainDepth())) {
                throw new IOException("Did not find '" + base + "' in the backing chain of '" + overlay + "'");
            }
            if (base == null || Files.isSameFile(next, base)) {
                basePath = next;
                baseFormat = nextFormat;
                break;
            }
            if (nextFormat != ImageFormat.QED) {
                throw new IOException("Did not find '" + base + "' in the backing chain of '" + overlay + "'");
            }
            current = next;
        }
        if (SharedBackings.jvm().isInUse(basePath.toRealPath())) {
            throw new IOException(overlay + ": cannot commit into " + basePath + ": other images open in this JVM"
                    + " read it as their backing file; close them first");
        }
        OpenOptions rw = options.withReadOnly(false).withCopyOnRead(false);
        long written = 0;
        int total = layers.size();
        for (int i = total - 1; i >= 0; i--) {
            int done = total - 1 - i;
            try (QedEngine layer = BackingChain.openDetached(layers.get(i), ro)) {
                long size = layer.size();
                Progress part = (pos, all) -> progress.update(done * size + pos, total * size);
                if (baseFormat == ImageFormat.QED) {
                    try (QedImage b = QedImage.open(basePath, rw)) {
                        if (b.size() < size) {
                            b.resize(size);
                        }
                        written += copyOwnClusters(layer, new QedTarget(b), part);
                    }
                } else {
                    try (Storage b = rw.openStorage(basePath, false)) {
                        if (b.size() < size) {
                            // Grow the raw file as QEMU's commit does (truncate to the overlay's length).
                            b.write(ByteBuffer.allocate(1), size - 1);
                        }
                        written += copyOwnClusters(layer, new RawTarget(b), part);
                        b.force();
                    }
                }
            }
        }
        return written;
    }

    private static ImageFormat formatOf(Path file) throws IOException {
        String found = FormatProbe.probe(file);
        if (found.equals(FormatProbe.QED)) {
            return ImageFormat.QED;
        }
        if (found.equals(FormatProbe.RAW)) {
            return ImageFormat.RAW;
        }
        if (found.equals(FormatProbe.QCOW2)) {
            // Writing into it as raw would overwrite its metadata, and this library never writes qcow2.
            throw new QedFormatException("backing_file", file + ": is a qcow2 image, which this library reads as a"
                    + " backing file but never writes, so it cannot be committed into; use qemu-img commit");
        }
        throw new QedFormatException("backing_file", file + ": is a " + found + " image, which cannot be committed"
                + " into");
    }

    /** Where commit writes. */
    private interface Target {
        void write(ByteBuffer src, long position) throws IOException;

        void zero(long position, long length) throws IOException;
    }

    private record QedTarget(QedImage image) implements Target {
        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            image.write(src, position);
        }

        @Override
        public void zero(long position, long length) throws IOException {
            image.writeZeroes(position, length);
        }
    }

    private record RawTarget(Storage storage) implements Target {
        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            storage.write(src, position);
        }

        @Override
        public void zero(long position, long length) throws IOException {
            ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, CHUNK));
            for (long p = position; p < position + length; ) {
                int k = (int) Math.min(position + length - p, CHUNK);
                storage.write(zeros.clear().limit(k), p);
                p += k;
            }
        }
    }

    private static long copyOwnClusters(QedEngine top, Target target, Progress progress) throws IOException {
        long written = 0;
        ByteBuffer buf = ByteBuffer.allocate(CHUNK);
        for (long pos = 0; pos < top.size(); ) {
            Extent e = top.extentAt(pos);
            switch (e.kind()) {
                case DATA -> {
                    for (long p = e.start(); p < e.end(); ) {
                        int k = (int) Math.min(CHUNK, e.end() - p);
                        top.readFully(buf.clear().limit(k), p);
                        target.write(buf.flip(), p);
                        p += k;
                    }
                    written += e.length();
                }
                case ZERO -> {
                    target.zero(e.start(), e.length());
                    written += e.length();
                }
                case UNALLOCATED -> { }
            }
            pos = e.end();
            progress.update(pos, top.size());
        }
        progress.update(top.size(), top.size());
        return written;
    }

    /**
     * Changes the backing file while keeping what the guest sees, as {@code qemu-img rebase} does: every
     * unallocated cluster whose content differs between the old chain and the new one is first copied from the
     * old chain into the overlay; then the header names the new backing file. The old chain must still be
     * readable.
     *
     * @param overlay        the QED overlay to rebase
     * @param newBackingName the name to store (resolved against the overlay's directory), or null for none
     * @param newFormat      RAW (stored as {@code QED_F_BACKING_FORMAT_NO_PROBE}), QED, QCOW2, or null to probe it
     * @param options        how to open the overlay and both chains (the policy applies to both)
     * @return the guest bytes copied into the overlay
     * @throws IOException if a chain cannot be opened or read, or the overlay cannot be written
     */
    public static long rebase(Path overlay, String newBackingName, ImageFormat newFormat, OpenOptions options)
            throws IOException {
        return rebase(overlay, newBackingName, newFormat, options, Progress.NONE);
    }

    /**
     * {@link #rebase(Path, String, ImageFormat, OpenOptions)}, telling {@code progress} of the guest bytes
     * compared.
     *
     * @param overlay        the QED overlay to rebase
     * @param newBackingName the name to store, or null for none
     * @param newFormat      RAW, QED, QCOW2, or null to probe it
     * @param options        how to open the overlay and both chains
     * @param progress       told of the guest bytes compared
     * @return the guest bytes copied into the overlay
     * @throws IOException if a chain cannot be opened or read, or the overlay cannot be written
     */
    public static long rebase(Path overlay, String newBackingName, ImageFormat newFormat, OpenOptions options,
                              Progress progress) throws IOException {
        checkName(overlay, newBackingName);
        OpenOptions rw = options.withReadOnly(false).withCopyOnRead(false);
        try (QedEngine top = BackingChain.openTop(overlay, rw);
             Backing next = newBackingName == null ? null
                     : BackingChain.openAsBackingOf(overlay, newBackingName, newFormat, options)) {
            long copied = copyDifferences(top, next, progress);
            top.flush();
            top.setBackingFileInHeader(newBackingName, next == null ? null : next.format());
            return copied;
        }
    }

    /**
     * Makes the overlay a standalone image: everything its chain provides is copied into it, then the backing
     * reference is dropped. Clusters the chain provides as zeros are left unallocated, since without a backing
     * file they read as zeros ({@code qemu-img rebase -b ''} does the same).
     *
     * @param overlay the QED overlay to make standalone
     * @param options how to open the overlay and its chain (the policy applies)
     * @return the guest bytes copied into the overlay
     * @throws IOException if the chain cannot be read or the overlay cannot be written
     */
    public static long removeBackingFile(Path overlay, OpenOptions options) throws IOException {
        return rebase(overlay, null, null, options);
    }

    /**
     * Rewrites only the backing reference in the header, as {@code qemu-img rebase -u} does: no data is copied and
     * neither the old nor the new backing file is opened (either may be missing). What the guest sees changes if
     * the new chain differs from the old one.
     *
     * @param overlay        the QED overlay whose header is rewritten
     * @param newBackingName the name to store, or null to remove the backing file
     * @param newFormat      RAW sets {@code QED_F_BACKING_FORMAT_NO_PROBE}; QED or null leave the format unrecorded
     * @throws IOException if the overlay cannot be opened or its header cannot be written
     */
    public static void rebaseUnsafe(Path overlay, String newBackingName, ImageFormat newFormat)
            throws IOException {
        checkName(overlay, newBackingName);
        try (QedEngine top = BackingChain.openDetached(overlay, OpenOptions.defaults())) {
            top.setBackingFileInHeader(newBackingName, newFormat);
        }
    }

    private static void checkName(Path overlay, String name) {
        if (name == null) {
            return;
        }
        if (name.isEmpty()) {
            throw new IllegalArgumentException(overlay + ": the new backing file name is empty (use null for none)");
        }
        int n = name.getBytes(StandardCharsets.UTF_8).length;
        if (n > QedHeader.MAX_BACKING_FILENAME_SIZE) {
            throw new IllegalArgumentException(overlay + ": backing file name of " + n + " bytes is too long: QED"
                    + " images (as QEMU reads them) allow at most " + QedHeader.MAX_BACKING_FILENAME_SIZE + " bytes");
        }
    }

    /** Copies into {@code top} each unallocated cluster whose content through {@code next} would differ. */
    private static long copyDifferences(QedEngine top, Backing next, Progress progress) throws IOException {
        int cs = top.geometry().clusterSize();
        int chunk = Math.max(CHUNK, cs);
        ByteBuffer old = ByteBuffer.allocate(chunk);
        ByteBuffer now = ByteBuffer.allocate(chunk);
        long size = top.size();
        long copied = 0;
        for (long pos = 0; pos < size; ) {
            Extent e = top.extentAt(pos);
            if (e.kind() == Extent.Kind.UNALLOCATED) {
                // Unallocated runs are cluster-aligned except at the end of the disk.
                for (long p = e.start(); p < e.end(); ) {
                    int k = (int) Math.min(chunk, e.end() - p);
                    top.readFully(old.clear().limit(k), p);
                    now.clear().limit(k);
                    if (next == null) {
                        Buffers.putZeros(now, k);
                    } else {
                        next.read(now, p);
                    }
                    old.flip();
                    now.flip();
                    for (int c = 0; c < k; c += cs) {
                        int n = Math.min(cs, k - c);
                        ByteBuffer o = old.slice(c, n);
                        if (!o.equals(now.slice(c, n))) {
                            top.write(o, p + c);
                            copied += n;
                        }
                    }
                    p += k;
                    progress.update(p, size);
                }
            }
            pos = e.end();
            progress.update(pos, size);
        }
        progress.update(size, size);
        return copied;
    }
}
