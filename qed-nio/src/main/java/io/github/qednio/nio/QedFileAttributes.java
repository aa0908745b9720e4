package io.github.qednio.nio;

import java.nio.file.attribute.BasicFileAttributes;

/**
 * Attributes of a {@code qed:} disk: the basic ones (a regular file whose size is the virtual size, with the image
 * file's times) and the image's geometry and state.
 *
 * <pre>{@code
 * QedFileAttributes a = Files.readAttributes(disk, QedFileAttributes.class);
 * long used = a.allocatedBytes();
 * int cs = (Integer) Files.getAttribute(disk, "qed:clusterSize");
 * }</pre>
 */
public interface QedFileAttributes extends BasicFileAttributes {
    /**
     * Bytes per cluster ({@code qed:clusterSize}).
     *
     * @return a power of two from 4096 to 64 MiB
     */
    int clusterSize();

    /**
     * Clusters per table ({@code qed:tableSize}).
     *
     * @return a power of two from 1 to 16
     */
    int tableSize();

    /**
     * Guest-visible size ({@code qed:virtualSize}).
     *
     * @return bytes; equal to {@link #size()} for the disk
     */
    long virtualSize();

    /**
     * The backing file name as stored in the header ({@code qed:backingFile}).
     *
     * @return the name (not resolved), or null without a backing file
     */
    String backingFile();

    /**
     * The backing file's format ({@code qed:backingFormat}).
     *
     * @return {@code "raw"} or {@code "qed"} (as recorded or probed), or null without a backing file
     */
    String backingFormat();

    /**
     * Whether {@code QED_F_NEED_CHECK} is set ({@code qed:needsCheck}).
     *
     * @return the bit's state when the attributes were read
     */
    boolean needsCheck();

    /**
     * Guest data stored in the image file itself ({@code qed:allocatedBytes}); backing files not counted.
     *
     * @return bytes: the data clusters of the image times the cluster size
     */
    long allocatedBytes();
}
