package io.github.qednio.format;

/**
 * Cluster and table geometry of a QED image, with the address arithmetic of spec section "Address translation".
 *
 * <p>Every instance is valid: it is made by {@link #of} or {@link QedHeader#validate}, which accept only a cluster
 * size that is a power of two in [4 KiB, 64 MiB], a table size that is a power of two in [1, 16], and a header size
 * of at least 1 with {@code header_size * cluster_size} below 2^32. All arithmetic here is overflow-safe for those
 * ranges.
 */
public final class Geometry {
    /** A table entry meaning "not allocated": read the backing file, or zeros. */
    public static final long ENTRY_UNALLOCATED = 0;
    /** An L2 entry meaning "zero cluster": reads as zeros and masks the backing file. Invalid in L1. */
    public static final long ENTRY_ZERO = 1;

    private final int clusterSize;
    private final int tableSize;
    private final int headerSize;
    private final int clusterBits;
    private final int entryBits;
    private final long clusterMask;

    /**
     * Returns the geometry of the given header fields, after checking them as QEMU does on open.
     *
     * @param clusterSize {@code cluster_size}: a power of two in [{@value QedHeader#MIN_CLUSTER_SIZE},
     *                    {@value QedHeader#MAX_CLUSTER_SIZE}]
     * @param tableSize   {@code table_size}: a power of two in [{@value QedHeader#MIN_TABLE_SIZE},
     *                    {@value QedHeader#MAX_TABLE_SIZE}]
     * @param headerSize  {@code header_size}: at least 1, with {@code header_size * cluster_size} below 2^32
     * @return the geometry
     * @throws IllegalArgumentException naming the field, its value and the allowed range, if one is out of range
     */
    public static Geometry of(int clusterSize, int tableSize, int headerSize) {
        if (!isPowerOfTwoIn(clusterSize, QedHeader.MIN_CLUSTER_SIZE, QedHeader.MAX_CLUSTER_SIZE)) {
            throw new IllegalArgumentException("cluster_size " + clusterSize + " is not a power of two in ["
                    + QedHeader.MIN_CLUSTER_SIZE + ", " + QedHeader.MAX_CLUSTER_SIZE + "]");
        }
        if (!isPowerOfTwoIn(tableSize, QedHeader.MIN_TABLE_SIZE, QedHeader.MAX_TABLE_SIZE)) {
            throw new IllegalArgumentException("table_size " + tableSize + " is not a power of two in ["
                    + QedHeader.MIN_TABLE_SIZE + ", " + QedHeader.MAX_TABLE_SIZE + "]");
        }
        long maxHeaderSize = maxHeaderSize(clusterSize);
        if (headerSize < 1 || headerSize > maxHeaderSize) {
            throw new IllegalArgumentException("header_size " + headerSize + " is not in [1, " + maxHeaderSize
                    + "] (header_size * cluster_size must fit in 32 bits)");
        }
        return new Geometry(clusterSize, tableSize, headerSize);
    }

    /** The largest {@code header_size} for {@code clusterSize}: {@code header_size * cluster_size} fits in a u32. */
    static long maxHeaderSize(long clusterSize) {
        return 0xFFFFFFFFL / clusterSize;
    }

    static boolean isPowerOfTwoIn(long v, long min, long max) {
        return v >= min && v <= max && Long.bitCount(v) == 1;
    }

    private Geometry(int clusterSize, int tableSize, int headerSize) {
        this.clusterSize = clusterSize;
        this.tableSize = tableSize;
        this.headerSize = headerSize;
        this.clusterBits = Integer.numberOfTrailingZeros(clusterSize);
        this.entryBits = clusterBits + Integer.numberOfTrailingZeros(tableSize) - 3;
        this.clusterMask = clusterSize - 1L;
    }

    /**
     * Returns {@code cluster_size}.
     *
     * @return the cluster size in bytes
     */
    public int clusterSize() {
        return clusterSize;
    }

    /**
     * Returns {@code table_size}.
     *
     * @return clusters per L1 or L2 table
     */
    public int tableSize() {
        return tableSize;
    }

    /**
     * Returns {@code header_size}.
     *
     * @return clusters of the header area
     */
    public int headerSize() {
        return headerSize;
    }

    /**
     * Returns log2(cluster_size).
     *
     * @return the number of offset bits inside a cluster
     */
    public int clusterBits() {
        return clusterBits;
    }

    /**
     * Returns the bytes in one L1 or L2 table.
     *
     * @return {@code table_size * cluster_size} (at most 1 GiB)
     */
    public long tableBytes() {
        return (long) tableSize * clusterSize;
    }

    /**
     * Returns the entries in one table.
     *
     * @return {@code table_size * cluster_size / 8}
     */
    public int entriesPerTable() {
        return 1 << entryBits;
    }

    /**
     * Returns the bytes of the header area.
     *
     * @return {@code header_size * cluster_size}
     */
    public long headerBytes() {
        return (long) headerSize << clusterBits;
    }

    /**
     * Returns the guest bytes one L2 table maps.
     *
     * @return {@code entries * cluster_size}
     */
    public long bytesPerL2() {
        return 1L << (entryBits + clusterBits);
    }

    /**
     * Returns the largest image size the spec allows.
     *
     * @return {@code N^2 * cluster_size}, saturated at {@link Long#MAX_VALUE} (QEMU wraps to 0 here for clusters of
     *         4 MiB and more, notes §14.2)
     */
    public long maxImageSize() {
        int bits = 2 * entryBits + clusterBits;
        return bits >= 63 ? Long.MAX_VALUE : 1L << bits;
    }

    /**
     * Tells whether QEMU 7.2 can open an image of this geometry with a non-zero size (notes §14.1, §14.2).
     *
     * @return false for {@code table_size} 1 and for geometries whose maximum size wraps 64 bits in QEMU
     */
    public boolean isQemuCompatible() {
        return tableSize > 1 && 2 * entryBits + clusterBits < 64;
    }

    /**
     * Returns the index of the L1 entry that maps a guest offset.
     *
     * @param guestOffset a guest offset in [0, {@link #maxImageSize()})
     * @return the L1 index
     */
    public int l1Index(long guestOffset) {
        return (int) (guestOffset >>> (entryBits + clusterBits));
    }

    /**
     * Returns the index, inside its L2 table, of the entry that maps a guest offset.
     *
     * @param guestOffset a guest offset
     * @return the L2 index
     */
    public int l2Index(long guestOffset) {
        return (int) ((guestOffset >>> clusterBits) & ((1L << entryBits) - 1));
    }

    /**
     * Returns the byte offset of {@code offset} inside its cluster.
     *
     * @param offset a guest or file offset
     * @return {@code offset mod cluster_size}
     */
    public long offsetInCluster(long offset) {
        return offset & clusterMask;
    }

    /**
     * Returns the start of the cluster holding {@code offset}.
     *
     * @param offset a guest or file offset
     * @return {@code offset} rounded down to a whole cluster
     */
    public long roundDownToCluster(long offset) {
        return offset & ~clusterMask;
    }

    /**
     * Rounds up to a whole cluster; the result fits because offsets here are below 2^63 - cluster_size.
     *
     * @param offset a guest or file offset
     * @return {@code offset} rounded up to a whole cluster
     */
    public long roundUpToCluster(long offset) {
        return (offset + clusterMask) & ~clusterMask;
    }

    /**
     * Returns the number of clusters needed to hold {@code bytes}.
     *
     * @param bytes a byte count, non-negative
     * @return {@code ceil(bytes / cluster_size)}
     */
    public long clustersFor(long bytes) {
        return (bytes >>> clusterBits) + ((bytes & clusterMask) != 0 ? 1 : 0);
    }

    /**
     * Spec/QEMU {@code qed_check_cluster_offset}: cluster-aligned and in {@code [header_size * cs, fileSize)}.
     *
     * @param offset   the offset a table entry holds
     * @param fileSize the file length rounded down to a whole cluster
     * @return true if the offset is a valid data or table cluster of this file
     */
    public boolean isValidClusterOffset(long offset, long fileSize) {
        return (offset & clusterMask) == 0 && offset >= headerBytes() && offset < fileSize;
    }

    /**
     * Spec/QEMU {@code qed_check_table_offset}: the table's first and last cluster are valid cluster offsets. Unlike
     * QEMU 7.2 this accepts {@code table_size} 1 (QEMU's overflow guard rejects every such table, notes §14.1).
     *
     * @param offset   the offset of the table
     * @param fileSize the file length rounded down to a whole cluster
     * @return true if the whole table lies in valid clusters of this file
     */
    public boolean isValidTableOffset(long offset, long fileSize) {
        long last = offset + (long) (tableSize - 1) * clusterSize;
        return last >= offset && isValidClusterOffset(offset, fileSize) && isValidClusterOffset(last, fileSize);
    }

    @Override
    public String toString() {
        return "Geometry[cluster_size=" + clusterSize + ", table_size=" + tableSize + ", header_size=" + headerSize
                + "]";
    }
}
