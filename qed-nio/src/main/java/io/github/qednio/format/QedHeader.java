package io.github.qednio.format;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The 64-byte QED header (spec: {@code docs/interop/qed_spec.rst}), decoded but not yet validated.
 *
 * <p>Unsigned 32-bit fields are held as {@code long} so that values such as {@code 0xffffffff} are reported as
 * they are on disk. {@link #validate(long, String)} applies every check QEMU makes on open and gives the
 * {@link Geometry} the rest of the library works with.
 *
 * @param clusterSize         {@code cluster_size}, bytes (u32)
 * @param tableSize           {@code table_size}, clusters per L1/L2 table (u32)
 * @param headerSize          {@code header_size}, clusters before the first regular cluster (u32)
 * @param features            incompatible feature bits
 * @param compatFeatures      compatible feature bits (none defined)
 * @param autoclearFeatures   self-clearing feature bits (none defined)
 * @param l1TableOffset       byte offset of the L1 table
 * @param imageSize           guest-visible size in bytes (u64; negative means above 2^63)
 * @param backingFilenameOffset byte offset of the backing file name (u32)
 * @param backingFilenameSize length of the backing file name in bytes (u32)
 */
public record QedHeader(long clusterSize, long tableSize, long headerSize, long features, long compatFeatures,
                        long autoclearFeatures, long l1TableOffset, long imageSize, long backingFilenameOffset,
                        long backingFilenameSize) {

    /** {@code "QED\0"} read as a little-endian u32. */
    public static final int QED_MAGIC = 0x00444551;
    /** Size of the encoded header. */
    public static final int HEADER_LENGTH = 64;
    /** The image has a backing file, and the name fields are valid. */
    public static final long QED_F_BACKING_FILE = 0x1;
    /** The image may be inconsistent and must be checked before use. */
    public static final long QED_F_NEED_CHECK = 0x2;
    /** The backing file is raw; its format must not be probed. */
    public static final long QED_F_BACKING_FORMAT_NO_PROBE = 0x4;
    /** Every incompatible feature bit this implementation understands. */
    public static final long QED_FEATURE_MASK = QED_F_BACKING_FILE | QED_F_NEED_CHECK | QED_F_BACKING_FORMAT_NO_PROBE;
    /** Every compatible feature bit this implementation understands (none are defined). */
    public static final long QED_COMPAT_FEATURE_MASK = 0;
    /** Every autoclear feature bit this implementation understands (none are defined). */
    public static final long QED_AUTOCLEAR_FEATURE_MASK = 0;

    /** The smallest {@code cluster_size}: 4 KiB. */
    public static final long MIN_CLUSTER_SIZE = 1L << 12;
    /** The largest {@code cluster_size}: 64 MiB. */
    public static final long MAX_CLUSTER_SIZE = 1L << 26;
    /** The {@code cluster_size} qemu-img creates by default: 64 KiB. */
    public static final long DEFAULT_CLUSTER_SIZE = 1L << 16;
    /** The smallest {@code table_size} (QEMU 7.2 cannot open it, notes §14.1). */
    public static final long MIN_TABLE_SIZE = 1;
    /** The largest {@code table_size}. */
    public static final long MAX_TABLE_SIZE = 16;
    /** The {@code table_size} qemu-img creates by default. */
    public static final long DEFAULT_TABLE_SIZE = 4;
    /** QEMU reads the backing file name into a 4096-byte buffer and needs room for the terminator. */
    public static final long MAX_BACKING_FILENAME_SIZE = 4095;

    /**
     * Tells whether {@code buf}, at its position, starts with the QED magic. Does not move the buffer.
     *
     * @param buf the first bytes of a file
     * @return true if at least 4 bytes remain and they are {@code "QED\0"}
     */
    public static boolean hasMagic(ByteBuffer buf) {
        return buf.remaining() >= 4 && buf.duplicate().order(ByteOrder.LITTLE_ENDIAN).getInt() == QED_MAGIC;
    }

    /**
     * Decodes the header at the buffer's position. Only the magic is checked here.
     *
     * @param buf at least 64 bytes
     * @param source the image's name, for messages
     * @return the header's fields as they are on disk
     * @throws QedFormatException if the buffer is short or the magic is wrong
     */
    public static QedHeader decode(ByteBuffer buf, String source) throws QedFormatException {
        if (buf.remaining() < HEADER_LENGTH) {
            throw new QedFormatException("header", source + ": file is " + buf.remaining()
                    + " bytes long, too short for the 64-byte QED header");
        }
        ByteBuffer b = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int magic = b.getInt();
        if (magic != QED_MAGIC) {
            throw new QedFormatException("magic", String.format(
                    "%s: not a QED image: magic 0x%08x, expected 0x%08x (\"QED\\0\")", source, magic, QED_MAGIC));
        }
        return new QedHeader(u32(b.getInt()), u32(b.getInt()), u32(b.getInt()), b.getLong(), b.getLong(),
                b.getLong(), b.getLong(), b.getLong(), u32(b.getInt()), u32(b.getInt()));
    }

    /**
     * Encodes the 64 header bytes (little-endian).
     *
     * @return a new buffer, positioned at 0, with 64 bytes remaining
     */
    public ByteBuffer encode() {
        ByteBuffer b = ByteBuffer.allocate(HEADER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(QED_MAGIC).putInt((int) clusterSize).putInt((int) tableSize).putInt((int) headerSize)
                .putLong(features).putLong(compatFeatures).putLong(autoclearFeatures).putLong(l1TableOffset)
                .putLong(imageSize).putInt((int) backingFilenameOffset).putInt((int) backingFilenameSize);
        return b.flip();
    }

    /**
     * Applies QEMU's open-time checks (notes §3), with overflow-safe arithmetic, and returns the geometry.
     *
     * <p>Differences from QEMU 7.2, all on the safe side: {@code table_size} 1 images are accepted (QEMU's table
     * offset check can never pass for them); {@code header_size} 0 is refused, because it would let the L1
     * table and data clusters overlap the header; the maximum size is computed without wrapping.
     *
     * @param fileLength the image file's length in bytes
     * @param source the image's name, for messages
     * @return the validated geometry
     * @throws QedFormatException naming the source, the field, its value and the allowed range, if a check fails
     */
    public Geometry validate(long fileLength, String source) throws QedFormatException {
        long unknown = features & ~QED_FEATURE_MASK;
        if (unknown != 0) {
            throw new QedFormatException("features", String.format(
                    "%s: unsupported QED features 0x%x (features 0x%x; known bits are 0x%x)",
                    source, unknown, features, QED_FEATURE_MASK));
        }
        if (!Geometry.isPowerOfTwoIn(clusterSize, MIN_CLUSTER_SIZE, MAX_CLUSTER_SIZE)) {
            throw new QedFormatException("cluster_size", String.format(
                    "%s: cluster_size %d is not a power of two in [%d, %d]",
                    source, clusterSize, MIN_CLUSTER_SIZE, MAX_CLUSTER_SIZE));
        }
        if (!Geometry.isPowerOfTwoIn(tableSize, MIN_TABLE_SIZE, MAX_TABLE_SIZE)) {
            throw new QedFormatException("table_size", String.format(
                    "%s: table_size %d is not a power of two in [%d, %d]",
                    source, tableSize, MIN_TABLE_SIZE, MAX_TABLE_SIZE));
        }
        long maxHeaderSize = Geometry.maxHeaderSize(clusterSize);
        if (headerSize < 1 || headerSize > maxHeaderSize) {
            throw new QedFormatException("header_size", String.format(
                    "%s: header_size %d is not in [1, %d] (header_size * cluster_size must fit in 32 bits)",
                    source, headerSize, maxHeaderSize));
        }
        Geometry g = Geometry.of((int) clusterSize, (int) tableSize, (int) headerSize);
        if (imageSize < 0 || imageSize % 512 != 0 || imageSize > g.maxImageSize()) {
            throw new QedFormatException("image_size", String.format(
                    "%s: image_size %s is not a multiple of 512 in [0, %d]",
                    source, Long.toUnsignedString(imageSize), g.maxImageSize()));
        }
        long fileSize = g.roundDownToCluster(fileLength);
        if (!g.isValidTableOffset(l1TableOffset, fileSize)) {
            throw new QedFormatException("l1_table_offset", String.format(
                    "%s: l1_table_offset 0x%x is not a cluster-aligned offset of a %d-byte table in [0x%x, 0x%x)"
                            + " (file size 0x%x)", source, l1TableOffset, g.tableBytes(), g.headerBytes(), fileSize,
                    fileLength));
        }
        if ((features & QED_F_BACKING_FILE) != 0) {
            if (backingFilenameSize > MAX_BACKING_FILENAME_SIZE) {
                throw new QedFormatException("backing_filename_size", String.format(
                        "%s: backing_filename_size %d is not in [0, %d]",
                        source, backingFilenameSize, MAX_BACKING_FILENAME_SIZE));
            }
            if (backingFilenameOffset + backingFilenameSize > g.headerBytes()) {
                throw new QedFormatException("backing_filename_offset", String.format(
                        "%s: backing file name at offset %d with size %d does not fit in the %d-byte header area",
                        source, backingFilenameOffset, backingFilenameSize, g.headerBytes()));
            }
        }
        return g;
    }

    /**
     * Tells whether an incompatible feature bit is set.
     *
     * @param bit one of the {@code QED_F_*} constants
     * @return true if {@code features} has the bit
     */
    public boolean hasFeature(long bit) {
        return (features & bit) != 0;
    }

    /**
     * Returns a copy with {@code features} replaced.
     *
     * @param newFeatures the new incompatible feature bits
     * @return the new header
     */
    public QedHeader withFeatures(long newFeatures) {
        return new QedHeader(clusterSize, tableSize, headerSize, newFeatures, compatFeatures, autoclearFeatures,
                l1TableOffset, imageSize, backingFilenameOffset, backingFilenameSize);
    }

    /**
     * Returns a copy with {@code autoclear_features} replaced.
     *
     * @param bits the new autoclear feature bits
     * @return the new header
     */
    public QedHeader withAutoclearFeatures(long bits) {
        return new QedHeader(clusterSize, tableSize, headerSize, features, compatFeatures, bits,
                l1TableOffset, imageSize, backingFilenameOffset, backingFilenameSize);
    }

    /**
     * Returns a copy with {@code image_size} replaced.
     *
     * @param size the new guest-visible size in bytes
     * @return the new header
     */
    public QedHeader withImageSize(long size) {
        return new QedHeader(clusterSize, tableSize, headerSize, features, compatFeatures, autoclearFeatures,
                l1TableOffset, size, backingFilenameOffset, backingFilenameSize);
    }

    /**
     * Returns a copy with {@code l1_table_offset} replaced.
     *
     * @param offset the new byte offset of the L1 table
     * @return the new header
     */
    public QedHeader withL1TableOffset(long offset) {
        return new QedHeader(clusterSize, tableSize, headerSize, features, compatFeatures, autoclearFeatures,
                offset, imageSize, backingFilenameOffset, backingFilenameSize);
    }

    /**
     * Returns a copy with the backing name location replaced (features are not touched).
     *
     * @param offset the new {@code backing_filename_offset}
     * @param size the new {@code backing_filename_size}
     * @return the new header
     */
    public QedHeader withBackingFilename(long offset, long size) {
        return new QedHeader(clusterSize, tableSize, headerSize, features, compatFeatures, autoclearFeatures,
                l1TableOffset, imageSize, offset, size);
    }

    private static long u32(int v) {
        return Integer.toUnsignedLong(v);
    }
}
