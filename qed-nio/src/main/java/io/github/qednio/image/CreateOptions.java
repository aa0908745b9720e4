package io.github.qednio.image;

import io.github.qednio.format.QedHeader;

/**
 * What {@link QedImage#create} makes. Immutable; the defaults match {@code qemu-img create -f qed}: 64 KiB
 * clusters, 4-cluster tables, {@code header_size} 1.
 *
 * <pre>{@code
 * QedImage.create(path, CreateOptions.ofSize(1L << 30).withClusterSize(4096));
 * QedImage.create(overlay, CreateOptions.overlay("base.raw", ImageFormat.RAW)); // size of the base
 * }</pre>
 */
public final class CreateOptions {
    /** Marks "take the size from the backing file". */
    public static final long SIZE_FROM_BACKING = -1;

    private final long size;
    private final long clusterSize;
    private final long tableSize;
    private final String backingFile;
    private final ImageFormat backingFormat;
    private final boolean allowQemuIncompatible;

    private CreateOptions(long size, long clusterSize, long tableSize, String backingFile,
                          ImageFormat backingFormat, boolean allowQemuIncompatible) {
        this.size = size;
        this.clusterSize = clusterSize;
        this.tableSize = tableSize;
        this.backingFile = backingFile;
        this.backingFormat = backingFormat;
        this.allowQemuIncompatible = allowQemuIncompatible;
    }

    /**
     * A standalone image of {@code size} bytes (rounded up to a multiple of 512, as qemu-img does).
     *
     * @param size the guest size in bytes
     * @return the options, with default cluster and table sizes
     */
    public static CreateOptions ofSize(long size) {
        if (size < 0) {
            throw new IllegalArgumentException("size " + size + " must not be negative");
        }
        return new CreateOptions(size, QedHeader.DEFAULT_CLUSTER_SIZE, QedHeader.DEFAULT_TABLE_SIZE, null, null,
                false);
    }

    /**
     * An overlay over {@code backingFile}, as large as the backing file. The name is stored as given; a relative
     * name is resolved against the new image's directory.
     *
     * @param backingFile the backing file name to store
     * @param format the backing file's format, or null to probe it once now
     * @return the options, with default cluster and table sizes
     */
    public static CreateOptions overlay(String backingFile, ImageFormat format) {
        return new CreateOptions(SIZE_FROM_BACKING, QedHeader.DEFAULT_CLUSTER_SIZE, QedHeader.DEFAULT_TABLE_SIZE,
                null, null, false).withBackingFile(backingFile, format);
    }

    /** {@return the requested size in bytes, or -1 to take the backing file's size} */
    public long size() {
        return size;
    }

    /** {@return the cluster size in bytes (default 65536)} */
    public long clusterSize() {
        return clusterSize;
    }

    /** {@return the clusters per L1/L2 table (default 4)} */
    public long tableSize() {
        return tableSize;
    }

    /** {@return the backing file name as it will be stored, or null} */
    public String backingFile() {
        return backingFile;
    }

    /** {@return the backing file's format, or null to decide it (by probing once) at creation} */
    public ImageFormat backingFormat() {
        return backingFormat;
    }

    /** {@return whether geometries QEMU 7.2 cannot open may be created} */
    public boolean allowQemuIncompatible() {
        return allowQemuIncompatible;
    }

    /**
     * Sets the guest size (rounded up to a multiple of 512, as qemu-img does).
     *
     * @param bytes the guest size in bytes
     * @return the new options
     */
    public CreateOptions withSize(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("size " + bytes + " must not be negative");
        }
        return new CreateOptions(bytes, clusterSize, tableSize, backingFile, backingFormat, allowQemuIncompatible);
    }

    /**
     * Sets the cluster size.
     *
     * @param bytes a power of two in [4096, 67108864]
     * @return the new options
     */
    public CreateOptions withClusterSize(long bytes) {
        return new CreateOptions(size, bytes, tableSize, backingFile, backingFormat, allowQemuIncompatible);
    }

    /**
     * Sets the clusters per table.
     *
     * @param clusters a power of two in [1, 16]
     * @return the new options
     */
    public CreateOptions withTableSize(long clusters) {
        return new CreateOptions(size, clusterSize, clusters, backingFile, backingFormat, allowQemuIncompatible);
    }

    /**
     * Names a backing file. RAW sets {@code QED_F_BACKING_FORMAT_NO_PROBE}; QED cannot be recorded (QED images
     * are recognised by their magic on open). With null the file is probed once, when the image is created (QED
     * by its magic, else raw), and a raw file is then recorded as RAW.
     *
     * @param name the backing file name to store, or null for none
     * @param format the backing file's format, or null to probe it once at creation
     * @return the new options
     */
    public CreateOptions withBackingFile(String name, ImageFormat format) {
        if (name != null && name.isEmpty()) {
            throw new IllegalArgumentException("backing file name must not be empty");
        }
        return new CreateOptions(size, clusterSize, tableSize, name, format, allowQemuIncompatible);
    }

    /**
     * Allow geometries QEMU 7.2 cannot open ({@code table_size} 1; clusters so large that QEMU's size limit
     * wraps). Off by default: such images are valid QED but useless with QEMU.
     *
     * @param value true to allow them
     * @return the new options
     */
    public CreateOptions withAllowQemuIncompatible(boolean value) {
        return new CreateOptions(size, clusterSize, tableSize, backingFile, backingFormat, value);
    }
}
