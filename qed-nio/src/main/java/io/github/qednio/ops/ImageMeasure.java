package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * How large an image converted to a format would be, as {@code qemu-img measure} reports it (QEMU 7.2 cannot
 * measure QED targets): the file size {@link ImageConverter} gives the converted image ({@code required}), and the
 * size with every cluster allocated ({@code fully allocated}). For a raw target both are the virtual size.
 */
public final class ImageMeasure {
    private static final int CHUNK = 1 << 20;
    private static final int SECTOR = 512;

    private ImageMeasure() {
    }

    /**
     * The two sizes, in bytes.
     *
     * @param required       the size of the converted image's file
     * @param fullyAllocated the size with every cluster of the disk allocated
     */
    public record Measurement(long required, long fullyAllocated) {
    }

    /**
     * Measures an empty image of {@code size} bytes ({@code qemu-img measure --size}).
     *
     * @param size     the virtual size in bytes (rounded up to 512, as qemu-img does)
     * @param target   the target format
     * @param geometry for QED: cluster and table size (its size is ignored)
     * @return the sizes
     */
    public static Measurement ofSize(long size, ImageFormat target, CreateOptions geometry) {
        long virtual = roundUp(size, SECTOR);
        if (target == ImageFormat.RAW) {
            return new Measurement(virtual, virtual);
        }
        Geometry geo = geometry(geometry);
        return new Measurement(fixed(geo), fullyAllocated(geo, virtual));
    }

    /**
     * Measures {@code source} converted to {@code target}: for QED, the clusters {@link ImageConverter} would
     * write (those not reading as zeros) and the L2 tables they need. Reads the source's data.
     *
     * @param source       the source image
     * @param sourceFormat its format, or null to probe it
     * @param target       the target format
     * @param geometry     for QED: cluster and table size (its size is ignored)
     * @return the sizes
     * @throws IOException if the source cannot be read
     */
    public static Measurement of(Path source, ImageFormat sourceFormat, ImageFormat target, CreateOptions geometry)
            throws IOException {
        return of(source, sourceFormat, target, geometry, false);
    }

    /**
     * As {@link #of(Path, ImageFormat, ImageFormat, CreateOptions)}; with {@code forceShare} the source is read even
     * while another process writes it, as qemu-img's {@code -U}
     * ({@link io.github.qednio.image.OpenOptions#withForceShare}).
     *
     * @param source       the source image
     * @param sourceFormat its format, or null to probe it
     * @param target       the target format
     * @param geometry     for QED: cluster and table size (its size is ignored)
     * @param forceShare   true to read a source another process writes
     * @return the sizes
     * @throws IOException if the source cannot be read, or another process writes it and {@code forceShare} is false
     */
    public static Measurement of(Path source, ImageFormat sourceFormat, ImageFormat target, CreateOptions geometry,
                                 boolean forceShare) throws IOException {
        try (GuestImage in = GuestImage.open(source, sourceFormat, forceShare)) {
            long virtual = roundUp(in.size(), SECTOR);
            if (target == ImageFormat.RAW) {
                return new Measurement(virtual, virtual);
            }
            Geometry geo = geometry(geometry);
            long clusters = 0;
            long tables = 0;
            long lastTable = -1;
            long lastCluster = -1;
            int cs = geo.clusterSize();
            in.findHoles(cs);
            ByteBuffer buf = ByteBuffer.allocateDirect(Math.max(CHUNK, cs));
            long size = in.size();
            for (long pos = 0; pos < size; ) {
                MappedExtent e = in.extentAt(pos);
                long end = Math.min(size, e.end());
                if (e.readsAsZeros()) {
                    pos = end;
                    continue;
                }
                int n = (int) Math.min(buf.capacity(), end - pos);
                buf.clear().limit(n);
                in.read(buf, pos);
                buf.flip();
                for (int off = 0; off < n; ) {
                    int g = (int) Math.min(n - off, cs - Math.floorMod(pos + off, cs));
                    long cluster = (pos + off) / cs;
                    if (cluster != lastCluster && ImageComparator.firstNonZero(buf.slice(off, g)) >= 0) {
                        lastCluster = cluster;
                        clusters++;
                        long table = (pos + off) / geo.bytesPerL2();
                        if (table != lastTable) {
                            lastTable = table;
                            tables++;
                        }
                    }
                    off += g;
                }
                pos += n;
            }
            return new Measurement(fixed(geo) + tables * geo.tableBytes() + clusters * cs,
                    fullyAllocated(geo, virtual));
        }
    }

    private static Geometry geometry(CreateOptions options) {
        return Geometry.of((int) options.clusterSize(), (int) options.tableSize(), 1);
    }

    /** The header cluster and the L1 table. */
    private static long fixed(Geometry geo) {
        return geo.headerBytes() + geo.tableBytes();
    }

    private static long fullyAllocated(Geometry geo, long size) {
        long tables = (size + geo.bytesPerL2() - 1) / geo.bytesPerL2();
        return fixed(geo) + tables * geo.tableBytes() + roundUp(size, geo.clusterSize());
    }

    private static long roundUp(long n, long unit) {
        return (n + unit - 1) / unit * unit;
    }
}
