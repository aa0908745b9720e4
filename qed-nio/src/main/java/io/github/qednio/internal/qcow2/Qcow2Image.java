package io.github.qednio.internal.qcow2;

import io.github.qednio.image.BlockMapping;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.internal.storage.Buffers;
import io.github.qednio.internal.storage.RawImageFile;
import io.github.qednio.format.Qcow2Header;
import io.github.qednio.format.QedFormatException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A qcow2 image opened read-only: its header, and its own guest-to-host mapping as a {@link BlockMapping}
 * (depth 0 only: what the image leaves unallocated is reported {@link MappedExtent.Type#UNALLOCATED}, whatever
 * its backing file holds there), plus its refcounts (any width from 1 to 64 bits). Never writes a byte.
 * Compressed clusters map as {@link MappedExtent.Type#DATA} without a host offset (-1), as {@code qemu-img map}
 * reports them (data without an {@code "offset"}): their bytes are not stored plainly anywhere.
 *
 * <p>The engine also reads it as the backing file of a QED overlay, guest bytes included (deflate-compressed
 * clusters inflated with {@link Inflater}); that use is internal to the engine.
 *
 * <p>Every offset read from the file is checked against the file's length and cluster alignment before use;
 * a malformed image gives a {@link QedFormatException} naming the structure. Memory: the L1 table (at most
 * 32 MiB, QEMU's bound), a bounded cache of L2 tables ({@value #L2_CACHE_BYTES} bytes, at least one table), one
 * inflated cluster and one refcount block.
 */
public final class Qcow2Image implements BlockMapping, Closeable {
    /** Bits 9..55 of an L1 or standard L2 entry: the host offset. */
    static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
    /** L1/L2 entry bit 63: refcount is exactly 1. */
    public static final long COPIED = 1L << 63;
    /** L2 entry bit 62: a compressed cluster. */
    public static final long COMPRESSED = 1L << 62;
    /** L2 entry bit 0 (version 3): the cluster reads as zeros. */
    public static final long ZERO = 1;
    /** The L2 tables kept in memory, in bytes (at least one table is kept whatever its size). */
    static final int L2_CACHE_BYTES = 1 << 22;

    private final Path path;
    private final RawImageFile file;
    private final Qcow2Header header;
    private final long fileLength;
    private final long[] l1;
    private final long clusterSize;
    private final int l2Bits;
    /** L2 tables by host offset, least recently used first; guarded by {@code this}. */
    private final Map<Long, ByteBuffer> l2Cache;
    /** Guest offset of the cluster in {@link #inflated}, -1 for none; guarded by {@code this}. */
    private long inflatedCluster = -1;
    private byte[] inflated;
    private long[] refcountTable;
    private long cachedBlockOffset = -1;
    private ByteBuffer cachedBlock;

    private Qcow2Image(Path path, RawImageFile file, Qcow2Header header, long fileLength, long[] l1) {
        this.path = path;
        this.file = file;
        this.header = header;
        this.fileLength = fileLength;
        this.l1 = l1;
        this.clusterSize = header.clusterSize();
        this.l2Bits = header.clusterBits() - 3;
        int tables = (int) Math.max(1, L2_CACHE_BYTES / clusterSize);
        this.l2Cache = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, ByteBuffer> eldest) {
                return size() > tables;
            }
        };
    }

    /**
     * Opens a qcow2 image for reading.
     *
     * @param path the image file
     * @return the open image; the caller closes it
     * @throws QedFormatException if it is not a valid qcow2 image, or uses a feature this reader cannot read
     *                            (encryption, an external data file, extended L2 entries), named in the message
     * @throws IOException if it cannot be read
     */
    public static Qcow2Image open(Path path) throws IOException {
        RawImageFile file = RawImageFile.open(path, true);
        try {
            return open(path, file);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /**
     * Opens the qcow2 image behind an open file; closing the image closes the file.
     *
     * @param path the image's path, reported as the file of its data extents
     * @param file the open file
     * @return the open image
     * @throws QedFormatException if it is not a valid qcow2 image or uses a feature this reader cannot read
     * @throws IOException if it cannot be read
     */
    public static Qcow2Image open(Path path, RawImageFile file) throws IOException {
        String name = file.name();
        long length = file.size();
        Qcow2Header header = readHeader(file);
        header.validate(length, name);
        refuseUnreadable(header, name);
        ByteBuffer l1b = ByteBuffer.allocate(header.l1Size() * 8);
        file.readFully(l1b, header.l1TableOffset());
        l1b.flip();
        long[] l1 = new long[header.l1Size()];
        l1b.asLongBuffer().get(l1);
        return new Qcow2Image(path, file, header, length, l1);
    }

    /**
     * Reads and decodes the header, its extensions and the backing file name from cluster 0.
     *
     * @param file the image file
     * @return the header
     * @throws QedFormatException if it is not a valid qcow2 header
     * @throws IOException if it cannot be read
     */
    public static Qcow2Header readHeader(RawImageFile file) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(Qcow2Header.V3_HEADER_LENGTH);
        file.read(head, 0);
        head.flip();
        if (head.limit() >= 24 && Qcow2Header.hasMagic(head)) {
            int bits = head.order(ByteOrder.BIG_ENDIAN).getInt(20);
            if (bits >= Qcow2Header.MIN_CLUSTER_BITS && bits <= Qcow2Header.MAX_CLUSTER_BITS) {
                head = ByteBuffer.allocate(1 << bits);
                file.read(head, 0);
                head.flip();
            }
        }
        return Qcow2Header.decode(head, file.name());
    }

    private static void refuseUnreadable(Qcow2Header h, String name) throws QedFormatException {
        if (h.cryptMethod() != 0 || (h.extensions() & Qcow2Header.EXT_CRYPTO) != 0) {
            throw unreadable(name, "encryption", "encrypted qcow2 images (crypt_method " + h.cryptMethod() + ")");
        }
        if ((h.incompatibleFeatures() & Qcow2Header.INCOMPAT_DATA_FILE) != 0
                || (h.extensions() & Qcow2Header.EXT_DATA_FILE) != 0) {
            throw unreadable(name, "external data file", "qcow2 images with an external data file");
        }
        if ((h.incompatibleFeatures() & Qcow2Header.INCOMPAT_EXTL2) != 0) {
            throw unreadable(name, "extended L2 entries", "qcow2 images with extended L2 entries (subclusters)");
        }
    }

    private static QedFormatException unreadable(String name, String feature, String what) {
        return new QedFormatException(feature, name + ": " + feature + ": " + what + " cannot be read by this library"
                + " (neither as a backing file nor for an in-place conversion); use a copying conversion"
                + " (qemu-img convert -O <format>)");
    }

    /**
     * Checks what an in-place conversion needs beyond what reading needs: no internal snapshots, no persistent
     * bitmaps, neither the dirty nor the corrupt bit, clusters of 4 KiB or more, and no compressed cluster (every
     * L2 table is read).
     *
     * @throws QedFormatException naming the feature and suggesting a copying conversion if one is present
     * @throws IOException if a table cannot be read
     */
    public void requireConvertible() throws IOException {
        String name = file.name();
        Qcow2Header h = header;
        if (h.nbSnapshots() != 0) {
            throw unsupported(name, "internal snapshots", "qcow2 images with internal snapshots ("
                    + Integer.toUnsignedString(h.nbSnapshots()) + ")");
        }
        if ((h.autoclearFeatures() & Qcow2Header.AUTOCLEAR_BITMAPS) != 0
                || (h.extensions() & Qcow2Header.EXT_BITMAPS) != 0) {
            throw unsupported(name, "persistent bitmaps", "qcow2 images with persistent dirty bitmaps");
        }
        if ((h.incompatibleFeatures() & Qcow2Header.INCOMPAT_DIRTY) != 0) {
            throw new QedFormatException("dirty bit", name + ": the qcow2 dirty bit is set (lazy refcounts after a"
                    + " crash); run 'qemu-img check -r all' first");
        }
        if ((h.incompatibleFeatures() & Qcow2Header.INCOMPAT_CORRUPT) != 0) {
            throw new QedFormatException("corrupt bit", name + ": the qcow2 corrupt bit is set; run"
                    + " 'qemu-img check -r all' first");
        }
        if (h.clusterSize() < 4096) {
            throw unsupported(name, "cluster size " + h.clusterSize(), "qcow2 clusters under 4 KiB (QED's"
                    + " smallest cluster)");
        }
        for (MappedExtent e : map(0, h.size())) {
            if (e.type() == MappedExtent.Type.DATA && e.hostOffset() < 0) {
                throw unsupported(name, "compressed clusters", "qcow2 images with compressed clusters"
                        + " (guest offset " + e.start() + ")");
            }
        }
    }

    private static QedFormatException unsupported(String name, String feature, String what) {
        return new QedFormatException(feature, name + ": " + feature + ": " + what + " cannot be converted in"
                + " place; use a copying conversion (qemu-img convert -O <format>)");
    }

    /**
     * The header as read when opened.
     *
     * @return the header
     */
    public Qcow2Header header() {
        return header;
    }

    /**
     * The image file.
     *
     * @return its path as given to {@link #open}
     */
    public Path path() {
        return path;
    }

    @Override
    public long size() {
        return header.size();
    }

    @Override
    public List<MappedExtent> map(long offset, long length) throws IOException {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("offset " + offset + ", length " + length);
        }
        long end = offset + Math.min(length, Math.max(0, size() - offset));
        List<MappedExtent> out = new ArrayList<>();
        long pos = offset;
        while (pos < end) {
            long clusterStart = pos & -clusterSize;
            long stop = Math.min(end, clusterStart + clusterSize);
            long entry = l2Entry(pos);
            MappedExtent e;
            if ((entry & COMPRESSED) != 0) {
                e = new MappedExtent(pos, stop - pos, MappedExtent.Type.DATA, 0, path, -1);
            } else if (header.version() >= 3 && (entry & ZERO) != 0) {
                // A zero cluster may keep its host cluster (qemu-img map prints its offset).
                e = (entry & OFFSET_MASK) == 0 ? new MappedExtent(pos, stop - pos, MappedExtent.Type.ZERO, 0, null, -1)
                        : new MappedExtent(pos, stop - pos, MappedExtent.Type.ZERO, 0, path,
                        dataCluster(entry, clusterStart) + (pos - clusterStart));
            } else if ((entry & OFFSET_MASK) == 0) {
                e = new MappedExtent(pos, stop - pos, MappedExtent.Type.UNALLOCATED, 0, null, -1);
            } else {
                long host = dataCluster(entry, clusterStart);
                e = new MappedExtent(pos, stop - pos, MappedExtent.Type.DATA, 0, path, host + (pos - clusterStart));
            }
            add(out, e);
            pos = stop;
        }
        return out;
    }

    private static void add(List<MappedExtent> out, MappedExtent e) {
        int last = out.size() - 1;
        if (last >= 0) {
            MappedExtent p = out.get(last);
            if (p.end() == e.start() && p.type() == e.type()
                    && (p.hostOffset() < 0 ? e.hostOffset() < 0 : p.hostOffset() + p.length() == e.hostOffset())) {
                out.set(last, new MappedExtent(p.start(), p.length() + e.length(), p.type(), 0, p.file(),
                        p.hostOffset()));
                return;
            }
        }
        out.add(e);
    }

    /** The host offset of a standard allocated cluster's L2 entry, checked against the file. */
    private long dataCluster(long entry, long clusterStart) throws QedFormatException {
        long host = entry & OFFSET_MASK;
        if (host % clusterSize != 0 || host >= fileLength) {
            throw new QedFormatException("L2 entry", String.format("%s: L2 entry 0x%x for guest offset %d"
                    + " is not a cluster-aligned offset inside the file (%d bytes)", file.name(), entry,
                    clusterStart, fileLength));
        }
        return host;
    }

    /**
     * Reads guest bytes at {@code pos} into {@code dst} from this image alone, at most to the end of the cluster
     * holding {@code pos}: what the image stores there (a data cluster, past the file's end as zeros; a compressed
     * cluster inflated; a zero cluster as zeros).
     *
     * @return false, reading nothing, if the image leaves the cluster unallocated (its backing file serves it)
     */
    public synchronized boolean readOwn(ByteBuffer dst, long pos) throws IOException {
        long clusterStart = pos & -clusterSize;
        int n = (int) Math.min(dst.remaining(), clusterStart + clusterSize - pos);
        long entry = l2Entry(pos);
        if ((entry & COMPRESSED) != 0) {
            byte[] cluster = inflate(entry, clusterStart);
            dst.put(cluster, (int) (pos - clusterStart), n);
        } else if (header.version() >= 3 && (entry & ZERO) != 0) {
            Buffers.putZeros(dst, n);
        } else if ((entry & OFFSET_MASK) == 0) {
            return false;
        } else {
            ByteBuffer part = Buffers.slice(dst, n);
            file.read(part, dataCluster(entry, clusterStart) + (pos - clusterStart));
            dst.position(dst.position() + part.position());
            Buffers.putZeros(dst, n - part.position()); // the file's end: QEMU reads zeros there too
        }
        return true;
    }

    /**
     * The cluster behind a compressed L2 entry, inflated (raw deflate, QEMU's {@code qcow2_decompress}): the
     * descriptor holds the host offset in its low {@code 62 - (cluster_bits - 8)} bits and, above them, the
     * number of 512-byte sectors after the first one; the data must inflate to at least a whole cluster.
     */
    private byte[] inflate(long entry, long clusterStart) throws IOException {
        if (clusterStart == inflatedCluster) {
            return inflated;
        }
        String name = file.name();
        if (header.compressionType() != 0) {
            throw new QedFormatException("compression_type", name + ": compressed cluster at guest offset "
                    + clusterStart + " uses compression type " + header.compressionType()
                    + (header.compressionType() == 1 ? " (zstd)" : "") + "; only deflate (0) can be read");
        }
        int shift = 62 - (header.clusterBits() - 8);
        long hostOffset = entry & ((1L << shift) - 1);
        long sectors = ((entry & ~(COPIED | COMPRESSED)) >>> shift) + 1;
        int size = (int) (sectors * 512 - (hostOffset & 511));
        if (hostOffset >= fileLength || size <= 0) {
            throw new QedFormatException("L2 entry", String.format("%s: compressed L2 entry 0x%x for guest offset"
                    + " %d points at host offset %d, %d bytes, outside the file (%d bytes)", name, entry,
                    clusterStart, hostOffset, size, fileLength));
        }
        ByteBuffer in = ByteBuffer.allocate(size);
        file.read(in, hostOffset); // the last compressed cluster may end before its last sector: zeros past it
        byte[] out = new byte[(int) clusterSize];
        Inflater inflater = new Inflater(true);
        try {
            inflater.setInput(in.array(), 0, size);
            int done = 0;
            while (done < out.length && !inflater.finished() && !inflater.needsInput()) {
                done += inflater.inflate(out, done, out.length - done);
            }
            if (done < out.length) {
                throw new QedFormatException("L2 entry", String.format("%s: the compressed cluster for guest offset"
                        + " %d (host offset %d, %d bytes) inflates to %d bytes, not a whole cluster of %d", name,
                        clusterStart, hostOffset, size, done, out.length));
            }
        } catch (DataFormatException e) {
            throw new QedFormatException("L2 entry", String.format("%s: the compressed cluster for guest offset %d"
                    + " (host offset %d, %d bytes) is not valid deflate data: %s", name, clusterStart, hostOffset,
                    size, e.getMessage()));
        } finally {
            inflater.end();
        }
        inflated = out;
        inflatedCluster = clusterStart;
        return out;
    }

    /** The raw L2 entry for guest offset {@code pos} (0 if its L2 table is not allocated). */
    private synchronized long l2Entry(long pos) throws IOException {
        long cluster = pos >>> header.clusterBits();
        int l1Index = (int) (cluster >>> l2Bits);
        int l2Index = (int) (cluster & ((1L << l2Bits) - 1));
        if (l1Index >= l1.length) {
            return 0;
        }
        long l2Offset = l1[l1Index] & OFFSET_MASK;
        if (l2Offset == 0) {
            return 0;
        }
        ByteBuffer table = l2Cache.get(l2Offset);
        if (table == null) {
            if (l2Offset % clusterSize != 0 || l2Offset > fileLength - clusterSize) {
                throw new QedFormatException("L1 entry", String.format("%s: L1 entry %d (0x%x) is not a"
                        + " cluster-aligned L2 table inside the file (%d bytes)", file.name(), l1Index, l1[l1Index],
                        fileLength));
            }
            ByteBuffer t = ByteBuffer.allocate((int) clusterSize);
            file.readFully(t, l2Offset);
            table = t.flip();
            l2Cache.put(l2Offset, table);
        }
        return table.getLong(l2Index * 8);
    }

    /**
     * The raw L1 table entries.
     *
     * @return a copy of the L1 table
     */
    public long[] l1Table() {
        return l1.clone();
    }

    /**
     * The refcount of a host cluster, read from the refcount table and blocks (any width, 1 to 64 bits).
     *
     * @param clusterIndex host offset divided by the cluster size
     * @return the refcount; 0 where no refcount block is allocated
     * @throws QedFormatException if a refcount block offset is invalid
     * @throws IOException if a table cannot be read
     */
    public long refcount(long clusterIndex) throws IOException {
        if (refcountTable == null) {
            int entries = (int) (header.refcountTableClusters() * clusterSize / 8);
            ByteBuffer rt = ByteBuffer.allocate(entries * 8);
            file.readFully(rt, header.refcountTableOffset());
            refcountTable = new long[entries];
            rt.flip().asLongBuffer().get(refcountTable);
        }
        int bits = header.refcountBits();
        long perBlock = clusterSize * 8 / bits;
        long rtIndex = clusterIndex / perBlock;
        if (rtIndex >= refcountTable.length) {
            return 0;
        }
        long block = refcountTable[(int) rtIndex] & ~0x1ffL;
        if (block == 0) {
            return 0;
        }
        if (block != cachedBlockOffset) {
            if (block % clusterSize != 0 || block > fileLength - clusterSize) {
                throw new QedFormatException("refcount table entry", String.format("%s: refcount table entry %d"
                        + " (0x%x) is not a cluster inside the file", file.name(), rtIndex, block));
            }
            ByteBuffer t = ByteBuffer.allocate((int) clusterSize);
            file.readFully(t, block);
            cachedBlock = t.flip();
            cachedBlockOffset = block;
        }
        long index = clusterIndex % perBlock;
        return refcountEntry(cachedBlock, index, bits);
    }

    /** Entry {@code index} of a refcount block whose entries are {@code bits} wide (1 to 64, a power of two). */
    static long refcountEntry(ByteBuffer block, long index, int bits) {
        if (bits < 8) {
            int b = block.get((int) (index * bits / 8)) & 0xff;
            return (b >>> (int) (index * bits % 8)) & ((1 << bits) - 1);
        }
        int at = (int) (index * (bits / 8));
        return switch (bits) {
            case 8 -> block.get(at) & 0xffL;
            case 16 -> block.getShort(at) & 0xffffL;
            case 32 -> block.getInt(at) & 0xffff_ffffL;
            default -> block.getLong(at);
        };
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
