package io.github.qednio.format;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The fixed part of a qcow2 header (QEMU's {@code docs/interop/qcow2.txt}), big-endian, plus what the header
 * extensions and the backing file name say. Versions 2 and 3 are decoded; {@link #validate} checks that every
 * structure it points to lies inside the file before anything is read from there.
 *
 * @param version               2 or 3
 * @param backingFileOffset     offset of the backing file name in cluster 0, 0 without one
 * @param backingFileSize       length of the name in bytes
 * @param clusterBits           log2 of the cluster size (9..21)
 * @param size                  guest-visible size in bytes
 * @param cryptMethod           0 unencrypted, 1 AES, 2 LUKS
 * @param l1Size                number of L1 entries
 * @param l1TableOffset         offset of the L1 table
 * @param refcountTableOffset   offset of the refcount table
 * @param refcountTableClusters clusters of the refcount table
 * @param nbSnapshots           number of internal snapshots
 * @param snapshotsOffset       offset of the snapshot table
 * @param incompatibleFeatures  incompatible feature bits (v3; 0 for v2)
 * @param compatibleFeatures    compatible feature bits (v3; 0 for v2)
 * @param autoclearFeatures     autoclear feature bits (v3; 0 for v2)
 * @param refcountOrder         log2 of the refcount width in bits (0..6; 4 for v2)
 * @param headerLength          bytes of the fixed header (72 for v2)
 * @param compressionType       0 deflate, 1 zstd
 * @param backingFormat         the backing format extension's value, or null
 * @param backingFile           the backing file name, or null
 * @param extensions            bit set of the known extensions present: {@link #EXT_BITMAPS},
 *                              {@link #EXT_DATA_FILE}, {@link #EXT_CRYPTO}
 * @param extensionsEnd         offset just past the extensions' end marker (the header's end when the backing
 *                              file name starts inside the header, leaving no room for extensions)
 */
public record Qcow2Header(int version, long backingFileOffset, int backingFileSize, int clusterBits, long size,
                          int cryptMethod, int l1Size, long l1TableOffset, long refcountTableOffset,
                          int refcountTableClusters, int nbSnapshots, long snapshotsOffset,
                          long incompatibleFeatures, long compatibleFeatures, long autoclearFeatures,
                          int refcountOrder, int headerLength, int compressionType, String backingFormat,
                          String backingFile, int extensions, int extensionsEnd) {

    /** {@code "QFI\xfb"}. */
    public static final int MAGIC = 0x514649fb;
    /** Header length of version 2. */
    public static final int V2_HEADER_LENGTH = 72;
    /** The smallest version 3 header length. */
    public static final int V3_MIN_HEADER_LENGTH = 104;
    /** The header length QEMU 7.2 writes (with the compression type byte). */
    public static final int V3_HEADER_LENGTH = 112;
    /** Incompatible feature bit 0: the refcounts may be stale (lazy refcounts after a crash). */
    public static final long INCOMPAT_DIRTY = 1;
    /** Incompatible feature bit 1: QEMU found corruption. */
    public static final long INCOMPAT_CORRUPT = 2;
    /** Incompatible feature bit 2: guest data lives in an external data file. */
    public static final long INCOMPAT_DATA_FILE = 4;
    /** Incompatible feature bit 3: the compression type field is not deflate. */
    public static final long INCOMPAT_COMPRESSION = 8;
    /** Incompatible feature bit 4: 16-byte L2 entries with subclusters. */
    public static final long INCOMPAT_EXTL2 = 16;
    /** Autoclear feature bit 0: persistent bitmaps are consistent. */
    public static final long AUTOCLEAR_BITMAPS = 1;
    /** Extension type: backing file format name. */
    public static final int EXT_TYPE_BACKING_FORMAT = 0xE2792ACA;
    /** Extension type: persistent bitmaps. */
    public static final int EXT_TYPE_BITMAPS = 0x23852875;
    /** Extension type: external data file name. */
    public static final int EXT_TYPE_DATA_FILE = 0x44415441;
    /** Extension type: full disk encryption header pointer. */
    public static final int EXT_TYPE_CRYPTO = 0x0537be77;
    /** {@link #extensions()} bit: a bitmaps extension is present. */
    public static final int EXT_BITMAPS = 1;
    /** {@link #extensions()} bit: an external data file extension is present. */
    public static final int EXT_DATA_FILE = 2;
    /** {@link #extensions()} bit: a full disk encryption extension is present. */
    public static final int EXT_CRYPTO = 4;
    /** The longest backing file name QEMU accepts. */
    public static final int MAX_BACKING_FILE_SIZE = 1023;
    /** The smallest cluster (bits). */
    public static final int MIN_CLUSTER_BITS = 9;
    /** The largest cluster (bits). */
    public static final int MAX_CLUSTER_BITS = 21;
    /** QEMU's bound on the L1 table ({@code QCOW_MAX_L1_SIZE}, 32 MiB). */
    public static final long MAX_L1_BYTES = 32L << 20;
    /** QEMU's bound on the refcount table ({@code QCOW_MAX_REFTABLE_SIZE}, 8 MiB). */
    public static final long MAX_REFTABLE_BYTES = 8L << 20;

    private static final long KNOWN_INCOMPAT = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE
            | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

    /**
     * Whether {@code buf} starts with the qcow2 magic.
     *
     * @param buf the first bytes of a file (at least 4 remaining), position unchanged
     * @return true if it starts with {@code "QFI\xfb"}
     */
    public static boolean hasMagic(ByteBuffer buf) {
        return buf.remaining() >= 4 && buf.duplicate().order(ByteOrder.BIG_ENDIAN).getInt() == MAGIC;
    }

    /**
     * Decodes a header from the start of cluster 0 (the whole cluster, or at least as much as the header, its
     * extensions and the backing file name take).
     *
     * @param cluster0 the bytes from offset 0; read from position 0 of the buffer regardless of its position
     * @param source   the file name for messages
     * @return the header
     * @throws QedFormatException naming the file and the field if the magic, version, header length, cluster
     *                            size or an extension is invalid or runs past the cluster
     */
    public static Qcow2Header decode(ByteBuffer cluster0, String source) throws QedFormatException {
        ByteBuffer b = cluster0.duplicate().order(ByteOrder.BIG_ENDIAN);
        b.position(0);
        if (b.limit() < V2_HEADER_LENGTH) {
            throw new QedFormatException("header", source + ": " + b.limit() + " bytes are too short for a qcow2"
                    + " header (72 bytes at least)");
        }
        if (b.getInt(0) != MAGIC) {
            throw new QedFormatException("magic", source + ": not a qcow2 image (magic 0x"
                    + Integer.toHexString(b.getInt(0)) + ", expected 0x514649fb)");
        }
        int version = b.getInt(4);
        if (version != 2 && version != 3) {
            throw new QedFormatException("version", source + ": qcow2 version " + version
                    + " is not supported (2 or 3)");
        }
        long backingOffset = b.getLong(8);
        int backingSize = b.getInt(16);
        int clusterBits = b.getInt(20);
        if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
            throw new QedFormatException("cluster_bits", source + ": cluster_bits " + clusterBits
                    + " is out of range (9..21)");
        }
        long clusterSize = 1L << clusterBits;
        long size = b.getLong(24);
        int crypt = b.getInt(32);
        int l1Size = b.getInt(36);
        long l1Offset = b.getLong(40);
        long rtOffset = b.getLong(48);
        int rtClusters = b.getInt(56);
        int nbSnapshots = b.getInt(60);
        long snapshotsOffset = b.getLong(64);
        long incompat = 0;
        long compat = 0;
        long autoclear = 0;
        int refcountOrder = 4;
        int headerLength = V2_HEADER_LENGTH;
        int compressionType = 0;
        if (version == 3) {
            if (b.limit() < V3_MIN_HEADER_LENGTH) {
                throw new QedFormatException("header_length", source + ": a qcow2 v3 header needs 104 bytes, got "
                        + b.limit());
            }
            incompat = b.getLong(72);
            compat = b.getLong(80);
            autoclear = b.getLong(88);
            refcountOrder = b.getInt(96);
            headerLength = b.getInt(100);
            if (headerLength < V3_MIN_HEADER_LENGTH || headerLength > clusterSize || headerLength % 8 != 0
                    || headerLength > b.limit()) {
                throw new QedFormatException("header_length", source + ": header_length " + headerLength
                        + " is invalid (a multiple of 8, 104 up to the cluster size " + clusterSize + ")");
            }
            if (headerLength > 104) {
                compressionType = b.get(104) & 0xff;
            }
        }
        if (refcountOrder < 0 || refcountOrder > 6) {
            throw new QedFormatException("refcount_order", source + ": refcount_order " + refcountOrder
                    + " is out of range (0..6)");
        }
        if ((incompat & ~KNOWN_INCOMPAT) != 0) {
            throw new QedFormatException("incompatible_features", source + ": unknown incompatible qcow2 features 0x"
                    + Long.toHexString(incompat & ~KNOWN_INCOMPAT));
        }
        long limit = Math.min(clusterSize, b.limit());
        // Extensions run from the end of the header to the end marker, and never into the backing file name.
        long extEnd = backingOffset != 0 ? Math.min(limit, backingOffset) : limit;
        String backingFormat = null;
        int extensions = 0;
        long pos = headerLength;
        // QEMU reads no extensions at all when the backing file name starts inside the header.
        boolean hasExtensionArea = pos < extEnd;
        while (hasExtensionArea) {
            if (pos + 8 > extEnd) {
                throw new QedFormatException("header extension", source + ": header extensions run past offset "
                        + extEnd + " without an end marker (at offset " + pos + ")");
            }
            int type = b.getInt((int) pos);
            long len = Integer.toUnsignedLong(b.getInt((int) pos + 4));
            if (type == 0) {
                break;
            }
            long data = pos + 8;
            if (data + len > extEnd) {
                throw new QedFormatException("header extension", String.format("%s: header extension 0x%08x at"
                        + " offset %d (%d bytes) runs past offset %d", source, type, pos, len, extEnd));
            }
            switch (type) {
                case EXT_TYPE_BACKING_FORMAT -> backingFormat = string(b, data, (int) len);
                case EXT_TYPE_BITMAPS -> extensions |= EXT_BITMAPS;
                case EXT_TYPE_DATA_FILE -> extensions |= EXT_DATA_FILE;
                case EXT_TYPE_CRYPTO -> extensions |= EXT_CRYPTO;
                default -> { } // unknown extensions are ignored, as QEMU does
            }
            pos = data + ((len + 7) & ~7L);
        }
        String backingFile = null;
        if (backingOffset != 0) {
            if (backingSize < 0 || backingSize > MAX_BACKING_FILE_SIZE || backingOffset < 0
                    || backingOffset + backingSize > limit) {
                throw new QedFormatException("backing_file_offset", source + ": backing file name at offset "
                        + backingOffset + " (" + Integer.toUnsignedString(backingSize) + " bytes) is not inside"
                        + " cluster 0 or longer than 1023 bytes");
            }
            backingFile = string(b, backingOffset, backingSize);
        }
        return new Qcow2Header(version, backingOffset, backingSize, clusterBits, size, crypt, l1Size, l1Offset,
                rtOffset, rtClusters, nbSnapshots, snapshotsOffset, incompat, compat, autoclear, refcountOrder,
                headerLength, compressionType, backingFormat, backingFile, extensions,
                hasExtensionArea ? (int) pos + 8 : headerLength);
    }

    private static String string(ByteBuffer b, long offset, int len) {
        byte[] s = new byte[len];
        b.get((int) offset, s);
        return new String(s, StandardCharsets.UTF_8);
    }

    /**
     * Checks that the L1 table and the refcount table lie inside a file of {@code fileLength} bytes, are
     * cluster-aligned, within QEMU's size bounds, and that the L1 table covers the virtual size.
     *
     * @param fileLength the file's length
     * @param source     the file name for messages
     * @throws QedFormatException naming the field otherwise
     */
    public void validate(long fileLength, String source) throws QedFormatException {
        long cs = clusterSize();
        if (size < 0) {
            throw new QedFormatException("size", source + ": virtual size " + Long.toUnsignedString(size)
                    + " is too large");
        }
        long l1Bytes = Integer.toUnsignedLong(l1Size) * 8;
        if (l1Bytes > MAX_L1_BYTES) {
            throw new QedFormatException("l1_size", source + ": l1_size " + Integer.toUnsignedString(l1Size)
                    + " exceeds QEMU's limit of 32 MiB of L1 table");
        }
        long needed = entriesNeeded(size, cs);
        if (l1Size < needed) {
            throw new QedFormatException("l1_size", source + ": l1_size " + l1Size + " does not cover the virtual"
                    + " size " + size + " (needs " + needed + " entries)");
        }
        checkRange("l1_table_offset", l1TableOffset, l1Bytes, fileLength, source);
        long rtBytes = Integer.toUnsignedLong(refcountTableClusters) * cs;
        if (rtBytes > MAX_REFTABLE_BYTES || refcountTableClusters == 0) {
            throw new QedFormatException("refcount_table_clusters", source + ": refcount_table_clusters "
                    + Integer.toUnsignedString(refcountTableClusters) + " is invalid (1 up to 8 MiB of table)");
        }
        checkRange("refcount_table_offset", refcountTableOffset, rtBytes, fileLength, source);
    }

    private void checkRange(String field, long offset, long bytes, long fileLength, String source)
            throws QedFormatException {
        if (offset <= 0 || offset % clusterSize() != 0 || offset > fileLength || bytes > fileLength - offset) {
            throw new QedFormatException(field, String.format("%s: %s 0x%x (%d bytes) is not a cluster-aligned"
                    + " range inside the file of %d bytes", source, field, offset, bytes, fileLength));
        }
    }

    /** The number of L1 entries that cover {@code size} bytes with clusters of {@code cs} bytes. */
    static long entriesNeeded(long size, long cs) {
        long perL2 = cs * (cs / 8);
        return (size + perL2 - 1) / perL2;
    }

    /**
     * The cluster size.
     *
     * @return {@code 1 << clusterBits}
     */
    public long clusterSize() {
        return 1L << clusterBits;
    }

    /**
     * The refcount width.
     *
     * @return bits per refcount, 1..64
     */
    public int refcountBits() {
        return 1 << refcountOrder;
    }

    /**
     * Encodes a version 3 header (header length 112, deflate compression) followed by a backing format
     * extension (if {@link #backingFormat()} is set) and the end marker; the backing file name is not included
     * (it lives at {@link #backingFileOffset()}, which may lie after these bytes).
     *
     * @return a buffer of {@link #encodedLength()} bytes, positioned at 0
     * @throws IllegalStateException if this is not a version 3 header of length 112
     */
    public ByteBuffer encodeV3() {
        if (version != 3 || headerLength != V3_HEADER_LENGTH) {
            throw new IllegalStateException("only a version 3 header of 112 bytes is encoded: " + this);
        }
        ByteBuffer b = ByteBuffer.allocate(encodedLength()).order(ByteOrder.BIG_ENDIAN);
        b.putInt(MAGIC).putInt(version).putLong(backingFileOffset).putInt(backingFileSize).putInt(clusterBits)
                .putLong(size).putInt(cryptMethod).putInt(l1Size).putLong(l1TableOffset)
                .putLong(refcountTableOffset).putInt(refcountTableClusters).putInt(nbSnapshots)
                .putLong(snapshotsOffset).putLong(incompatibleFeatures).putLong(compatibleFeatures)
                .putLong(autoclearFeatures).putInt(refcountOrder).putInt(headerLength)
                .put((byte) compressionType).put(new byte[7]);
        if (backingFormat != null) {
            byte[] f = backingFormat.getBytes(StandardCharsets.UTF_8);
            b.putInt(EXT_TYPE_BACKING_FORMAT).putInt(f.length).put(f).put(new byte[pad8(f.length) - f.length]);
        }
        b.putInt(0).putInt(0);
        return b.flip();
    }

    /**
     * The length of {@link #encodeV3()}'s output.
     *
     * @return header, backing format extension and end marker in bytes
     */
    public int encodedLength() {
        int ext = backingFormat == null ? 0 : 8 + pad8(backingFormat.getBytes(StandardCharsets.UTF_8).length);
        return headerLength + ext + 8;
    }

    private static int pad8(int n) {
        return (n + 7) & ~7;
    }
}
