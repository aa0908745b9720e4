package io.github.qednio.internal.chain;

import io.github.qednio.internal.qed.Backing;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.internal.qcow2.Qcow2Image;
import io.github.qednio.internal.storage.Buffers;
import io.github.qednio.internal.storage.RawImageFile;
import io.github.qednio.format.QedFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A qcow2 image used as a backing file, opened read-only through the lock manager (QEMU's shared lock): its own
 * clusters (data, zero, deflate-compressed) and, where it leaves a cluster unallocated, its own backing file, as
 * QEMU reads it. Reads past its virtual size are zeros. Nothing is ever written to it.
 */
final class Qcow2Backing implements Backing {
    private final Qcow2Image image;
    /** The qcow2 image's own backing file (a shared handle), or null. */
    private final Backing below;

    private Qcow2Backing(Qcow2Image image, Backing below) {
        this.image = image;
        this.below = below;
    }

    /**
     * Opens {@code file} (probed or recorded as qcow2) as a backing file; {@code chain} opens its own backing file
     * with the overlay's policy, depth limit and cycle check.
     *
     * @throws QedFormatException if it is not a readable qcow2 image, uses zstd compression, or names a backing
     *                            file of a format this library does not read
     */
    static Qcow2Backing open(Path file, OpenOptions options, BackingChain chain) throws IOException {
        return open(file, options, chain, true);
    }

    /**
     * As {@link #open(Path, OpenOptions, BackingChain)}; with {@code refuseZstd} false a zstd image opens too (for
     * the top of a chain: it maps without inflating, and only a read of a compressed cluster fails, naming it).
     */
    static Qcow2Backing open(Path file, OpenOptions options, BackingChain chain, boolean refuseZstd)
            throws IOException {
        Qcow2Image img = Qcow2Image.open(file, new RawImageFile(options.openStorage(file, true)));
        Backing below = null;
        try {
            String name = img.header().backingFile();
            if (refuseZstd && img.header().compressionType() != 0) {
                throw new QedFormatException("compression_type", file + ": qcow2 compression type "
                        + img.header().compressionType() + (img.header().compressionType() == 1 ? " (zstd)" : "")
                        + " is not supported for a backing file; only deflate (0) can be read; convert it with"
                        + " qemu-img convert -O qcow2 -o compression_type=zlib");
            }
            if (name != null && !name.isEmpty()) {
                below = chain.openBacking(file, name, formatOf(file, name, img.header().backingFormat()), options);
            }
            return new Qcow2Backing(img, below);
        } catch (IOException | RuntimeException e) {
            if (below != null) {
                try {
                    below.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            img.close();
            throw e;
        }
    }

    /** The format a qcow2 header's backing-format extension records; null (probe) without one. */
    private static ImageFormat formatOf(Path file, String name, String recorded) throws QedFormatException {
        if (recorded == null || recorded.isEmpty()) {
            return null;
        }
        for (ImageFormat f : ImageFormat.values()) {
            if (f.name().equalsIgnoreCase(recorded)) {
                return f;
            }
        }
        throw new QedFormatException("backing_format", file + ": the backing file '" + name + "' of this qcow2"
                + " image is recorded as " + recorded + "; this library reads only raw, QED and qcow2 backing"
                + " files");
    }

    @Override
    public void read(ByteBuffer dst, long position) throws IOException {
        long size = image.size();
        long pos = position;
        while (dst.hasRemaining() && pos < size) {
            int before = dst.position();
            int n = (int) Math.min(dst.remaining(), size - pos);
            ByteBuffer part = Buffers.slice(dst, n);
            if (!image.readOwn(part, pos)) {
                // Unallocated here: the qcow2 image's own backing file serves the rest of this cluster.
                long clusterEnd = (pos | (image.header().clusterSize() - 1)) + 1;
                part.limit((int) Math.min(n, clusterEnd - pos));
                if (below == null) {
                    Buffers.putZeros(part, part.remaining());
                } else {
                    below.read(part, pos);
                }
            }
            dst.position(before + part.position());
            pos += part.position();
        }
        Buffers.putZeros(dst, dst.remaining());
    }

    @Override
    public long size() {
        return image.size();
    }

    @Override
    public ImageFormat format() {
        return ImageFormat.QCOW2;
    }

    @Override
    public Path path() {
        return image.path();
    }

    @Override
    public Qcow2Image qcow2() {
        return image;
    }

    @Override
    public Backing below() {
        return below;
    }

    @Override
    public void close() throws IOException {
        try {
            image.close();
        } finally {
            if (below != null) {
                below.close();
            }
        }
    }
}
