package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.Progress;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * Compares the guest content of two images (raw, QED or qcow2, chains included), as {@code qemu-img compare} does: the
 * first difference is reported at the start of its 512-byte sector; an image longer than the other is identical
 * only if its extra bytes read as zeros. Nothing is written.
 *
 * <p>In strict mode, images of different sizes differ, and so do pieces whose block status differs, as QEMU 7.2
 * computes it ({@link BlockStatus}: data, zero, allocated, with a host offset or not, and the end-of-image mark on
 * the piece that reaches it). A raw file counts as data throughout: Java 17 cannot see its holes, where qemu-img
 * can.
 */
public final class ImageComparator {
    private static final int CHUNK = 1 << 20;
    private static final int SECTOR = 512;

    private ImageComparator() {
    }

    /** What differs first. */
    public enum Mismatch {
        /** The bytes at {@link Comparison#offset()} differ. */
        CONTENT,
        /** Strict mode: the allocation states at {@link Comparison#offset()} differ. */
        BLOCK_STATUS,
        /** Strict mode: the sizes differ. */
        SIZE
    }

    /**
     * The outcome.
     *
     * @param sizeA    the first image's virtual size
     * @param sizeB    the second image's virtual size
     * @param mismatch what differs first, or null if the images are identical
     * @param offset   where it differs (a multiple of 512 for content), or -1
     */
    public record Comparison(long sizeA, long sizeB, Mismatch mismatch, long offset) {
        /**
         * Whether the guest content is the same (and, in strict mode, the allocation and the sizes).
         *
         * @return true if nothing differs
         */
        public boolean identical() {
            return mismatch == null;
        }
    }

    /**
     * Compares two images.
     *
     * @param a        the first image
     * @param formatA  its format, or null to probe it
     * @param b        the second image
     * @param formatB  its format, or null to probe it
     * @param strict   qemu-img's {@code -s}
     * @param progress told of the guest bytes compared
     * @return the outcome
     * @throws IOException if an image cannot be opened or read
     */
    public static Comparison compare(Path a, ImageFormat formatA, Path b, ImageFormat formatB, boolean strict,
                                     Progress progress) throws IOException {
        return compare(a, formatA, b, formatB, strict, false, progress);
    }

    /**
     * As {@link #compare(Path, ImageFormat, Path, ImageFormat, boolean, Progress)}; with {@code forceShare} the
     * images are read even while another process writes them, as qemu-img's {@code -U}
     * ({@link io.github.qednio.image.OpenOptions#withForceShare}).
     *
     * @param a          the first image
     * @param formatA    its format, or null to probe it
     * @param b          the second image
     * @param formatB    its format, or null to probe it
     * @param strict     qemu-img's {@code -s}
     * @param forceShare true to read images another process writes
     * @param progress   told of the guest bytes compared
     * @return the outcome
     * @throws IOException if an image cannot be opened or read, or another process writes one and
     *                     {@code forceShare} is false
     */
    public static Comparison compare(Path a, ImageFormat formatA, Path b, ImageFormat formatB, boolean strict,
                                     boolean forceShare, Progress progress) throws IOException {
        try (GuestImage x = GuestImage.open(a, formatA, forceShare);
             GuestImage y = GuestImage.open(b, formatB, forceShare)) {
            long sizeA = x.size();
            long sizeB = y.size();
            if (strict && sizeA != sizeB) {
                return new Comparison(sizeA, sizeB, Mismatch.SIZE, -1);
            }
            long common = Math.min(sizeA, sizeB);
            long total = Math.max(sizeA, sizeB);
            ByteBuffer bufA = ByteBuffer.allocateDirect(CHUNK);
            ByteBuffer bufB = ByteBuffer.allocateDirect(CHUNK);
            BlockStatus.Layer la = strict ? x.statusLayer() : null;
            BlockStatus.Layer lb = strict ? y.statusLayer() : null;
            long statusEnd = 0;
            for (long pos = 0; pos < common; ) {
                if (strict && pos >= statusEnd) {
                    // qemu-img checks each piece's status before comparing its bytes, piece after piece.
                    BlockStatus.Piece pa = BlockStatus.above(la, pos, sizeA - pos);
                    BlockStatus.Piece pb = BlockStatus.above(lb, pos, sizeB - pos);
                    if (pa.flags() != pb.flags()) {
                        return new Comparison(sizeA, sizeB, Mismatch.BLOCK_STATUS, pos);
                    }
                    statusEnd = Math.min(pa.end(), pb.end());
                }
                MappedExtent ea = x.extentAt(pos);
                MappedExtent eb = y.extentAt(pos);
                long end = Math.min(common, Math.min(ea.end(), eb.end()));
                if (strict) {
                    end = Math.min(end, statusEnd);
                }
                if (!(ea.readsAsZeros() && eb.readsAsZeros())) {
                    for (long p = pos; p < end; ) {
                        int n = (int) Math.min(CHUNK, end - p);
                        long diff = firstDifference(x, ea, bufA, y, eb, bufB, p, n);
                        if (diff >= 0) {
                            return new Comparison(sizeA, sizeB, Mismatch.CONTENT, diff / SECTOR * SECTOR);
                        }
                        p += n;
                        progress.update(p, total);
                    }
                }
                pos = end;
                progress.update(pos, total);
            }
            GuestImage longer = sizeA > sizeB ? x : y;
            for (long pos = common; pos < total; ) {
                MappedExtent e = longer.extentAt(pos);
                long end = Math.min(total, e.end());
                if (!e.readsAsZeros()) {
                    for (long p = pos; p < end; ) {
                        int n = (int) Math.min(CHUNK, end - p);
                        bufA.clear().limit(n);
                        longer.read(bufA, p);
                        int nz = firstNonZero(bufA.flip());
                        if (nz >= 0) {
                            return new Comparison(sizeA, sizeB, Mismatch.CONTENT, (p + nz) / SECTOR * SECTOR);
                        }
                        p += n;
                        progress.update(p, total);
                    }
                }
                pos = end;
                progress.update(pos, total);
            }
            progress.update(total, total);
            return new Comparison(sizeA, sizeB, null, -1);
        }
    }

    /** The guest offset of the first differing byte in {@code [p, p + n)}, or -1. */
    private static long firstDifference(GuestImage x, MappedExtent ea, ByteBuffer bufA, GuestImage y,
                                        MappedExtent eb, ByteBuffer bufB, long p, int n) throws IOException {
        if (ea.readsAsZeros()) {
            return offsetOf(p, firstNonZero(read(y, bufB, p, n)));
        }
        if (eb.readsAsZeros()) {
            return offsetOf(p, firstNonZero(read(x, bufA, p, n)));
        }
        int i = read(x, bufA, p, n).mismatch(read(y, bufB, p, n));
        return offsetOf(p, i);
    }

    private static long offsetOf(long p, int i) {
        return i < 0 ? -1 : p + i;
    }

    private static ByteBuffer read(GuestImage img, ByteBuffer buf, long p, int n) throws IOException {
        buf.clear().limit(n);
        img.read(buf, p);
        return buf.flip();
    }

    /** Index of the first non-zero byte, or -1. */
    static int firstNonZero(ByteBuffer b) {
        int i = b.position();
        int end = b.limit();
        for (; i + 8 <= end; i += 8) {
            if (b.getLong(i) != 0) {
                break;
            }
        }
        for (; i < end; i++) {
            if (b.get(i) != 0) {
                return i - b.position();
            }
        }
        return -1;
    }
}
