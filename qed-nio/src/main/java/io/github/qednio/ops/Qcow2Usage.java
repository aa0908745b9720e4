package io.github.qednio.ops;

import io.github.qednio.format.Qcow2Header;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.internal.qcow2.Qcow2Image;
import io.github.qednio.internal.storage.RawImageFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * {@code qemu-img info} of a qcow2 image: its header's values, and two figures read from its tables: the guest bytes
 * it stores, and the approximation of its {@code disk size} (Java 17 cannot read {@code st_blocks}).
 *
 * <p>The approximation assumes what QEMU writes, on a file system with 4 KiB blocks: every cluster with a refcount
 * is written whole (headers, refcount table and blocks, L2 tables, data clusters; a partly written data cluster is
 * completed with zeros, which the file system allocates), except the L1 table, of which only its entries, rounded
 * up to 512 bytes, are written, and the clusters holding compressed data, of which only the compressed bytes are.
 * It differs where the file system spends blocks of its own (an extent tree for a fragmented file) or the file has
 * other holes.
 */
final class Qcow2Usage {
    private static final int PAGE = 4096;
    private static final int SECTOR = 512;
    /** Bits 9..55 of an L1 or standard L2 entry: the host offset. */
    private static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;

    private Qcow2Usage() {
    }

    /** Reads the information of the qcow2 image {@code file} without opening its backing file. */
    static ImageInfo info(Path file, OpenOptions options) throws IOException {
        RawImageFile raw = new RawImageFile(options.openStorage(file, true));
        Qcow2Image img;
        try {
            img = Qcow2Image.open(file, raw);
        } catch (IOException | RuntimeException e) {
            raw.close();
            throw e;
        }
        try (img) {
            Qcow2Header h = img.header();
            long length = raw.size();
            long actual;
            long allocated;
            try {
                long[] usage = usage(img, raw, length);
                actual = usage[0];
                allocated = usage[1];
            } catch (QedFormatException e) {
                // A corrupt table: info still reports the header, as qemu-img info does.
                actual = ImageInfo.roundUp(length);
                allocated = -1;
            }
            String name = h.backingFile() == null || h.backingFile().isEmpty() ? null : h.backingFile();
            boolean v3 = h.version() >= 3;
            ImageInfo.Qcow2Details details = new ImageInfo.Qcow2Details(h.version(),
                    h.compressionType() == 1 ? "zstd" : "zlib", v3 && (h.compatibleFeatures() & 1) != 0,
                    h.refcountBits(), v3 && (h.incompatibleFeatures() & Qcow2Header.INCOMPAT_CORRUPT) != 0,
                    v3 && (h.incompatibleFeatures() & Qcow2Header.INCOMPAT_EXTL2) != 0);
            return new ImageInfo(file.toString(), ImageFormat.QCOW2, h.size(), (int) h.clusterSize(), actual,
                    (h.incompatibleFeatures() & Qcow2Header.INCOMPAT_DIRTY) != 0, name,
                    name == null ? null : ImageInfo.join(file.toString(), name),
                    name == null ? null : recordedFormat(h.backingFormat()), 0, allocated, details);
        }
    }

    /** The format the backing format extension names, or null without one or for a format this library lacks. */
    private static ImageFormat recordedFormat(String recorded) {
        if (recorded == null || recorded.isEmpty()) {
            return null;
        }
        for (ImageFormat f : ImageFormat.values()) {
            if (f.qemuName().equals(recorded)) {
                return f;
            }
        }
        return null;
    }

    /**
     * The approximate allocated bytes of the file and the guest bytes the image stores, from one pass over the L2
     * tables (one cluster in memory) and one over the refcounts.
     */
    static long[] usage(Qcow2Image img, RawImageFile raw, long length) throws IOException {
        Qcow2Header h = img.header();
        long cs = h.clusterSize();
        long size = h.size();
        int shift = 62 - (h.clusterBits() - 8);
        long perTable = cs / 8;
        Ranges partial = new Ranges();
        if (h.l1Size() > 0) {
            partial.add(h.l1TableOffset(), h.l1TableOffset() + roundUp((long) h.l1Size() * 8, SECTOR));
        }
        long stored = 0;
        long[] l1 = img.l1Table();
        ByteBuffer table = ByteBuffer.allocate((int) cs);
        for (int i = 0; i < l1.length; i++) {
            long l2 = l1[i] & OFFSET_MASK;
            if (l2 == 0) {
                continue;
            }
            if (l2 % cs != 0 || l2 > length - cs) {
                throw new QedFormatException("L1 entry", String.format("%s: L1 entry %d (0x%x) is not a"
                        + " cluster-aligned L2 table inside the file (%d bytes)", raw.name(), i, l1[i], length));
            }
            raw.readFully(table.clear(), l2);
            for (int j = 0; j < perTable; j++) {
                long guest = (i * perTable + j) * cs;
                if (guest >= size) {
                    break;
                }
                long e = table.getLong(j * 8);
                if ((e & Qcow2Image.COMPRESSED) != 0) {
                    long off = e & ((1L << shift) - 1);
                    long sectors = ((e & ~(Qcow2Image.COPIED | Qcow2Image.COMPRESSED)) >>> shift) + 1;
                    partial.add(off, (off & -SECTOR) + sectors * SECTOR);
                    stored += Math.min(cs, size - guest);
                } else if ((e & OFFSET_MASK) != 0 && !(h.version() >= 3 && (e & Qcow2Image.ZERO) != 0)) {
                    stored += Math.min(cs, size - guest);
                }
            }
        }
        return new long[] {allocatedBytes(img, cs, length, partial.sorted()), stored};
    }

    /** Whole clusters with a refcount, and the 4 KiB blocks the partly written ranges touch. */
    private static long allocatedBytes(Qcow2Image img, long cs, long length, Ranges partial) throws IOException {
        long fileEnd = roundUp(length, PAGE);
        long clusters = (length + cs - 1) / cs;
        long total = 0;
        if (cs < PAGE) {
            // Several clusters share a block: a block is allocated when a cluster in it is in use.
            long lastBlock = -1;
            for (long c = 0; c < clusters; c++) {
                long block = c * cs / PAGE;
                if (block != lastBlock && img.refcount(c) > 0) {
                    lastBlock = block;
                    total += Math.min(PAGE, fileEnd - block * PAGE);
                }
            }
            return total;
        }
        long covered = 0;
        for (int k = 0; k < partial.n; k++) {
            long s = Math.max(partial.starts[k] / PAGE * PAGE, covered);
            long e = Math.min(roundUp(partial.ends[k], PAGE), fileEnd);
            if (e > s) {
                total += e - s;
                covered = e;
            }
        }
        int k = 0;
        for (long c = 0; c < clusters; c++) {
            long start = c * cs;
            long end = Math.min(start + cs, fileEnd);
            while (k < partial.n && partial.ends[k] <= start) {
                k++;
            }
            if (k < partial.n && partial.starts[k] < end) {
                continue; // counted by its ranges above
            }
            if (img.refcount(c) > 0) {
                total += end - start;
            }
        }
        return total;
    }

    private static long roundUp(long n, long unit) {
        return (n + unit - 1) / unit * unit;
    }

    /** Host byte ranges, kept as two arrays: ranges that never overlap pair up again once both are sorted. */
    private static final class Ranges {
        long[] starts = new long[16];
        long[] ends = new long[16];
        int n;

        void add(long start, long end) {
            if (n == starts.length) {
                starts = Arrays.copyOf(starts, n * 2);
                ends = Arrays.copyOf(ends, n * 2);
            }
            starts[n] = start;
            ends[n] = end;
            n++;
        }

        Ranges sorted() {
            Arrays.sort(starts, 0, n);
            Arrays.sort(ends, 0, n);
            return this;
        }
    }
}
