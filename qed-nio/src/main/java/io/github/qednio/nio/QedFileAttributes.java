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
    /** Bytes per cluster ({@code qed:clusterSize}). */
    int clusterSize();

    /** Clusters per table ({@code qed:tableSize}). */
    int tableSize();

    /** Guest-visible size in bytes ({@code qed:virtualSize}); equal to {@link #size()} for the disk. */
    long virtualSize();

    /** The backing file name as stored in the header, or null ({@code qed:backingFile}). */
    String backingFile();

    /** {@code "raw"} or {@code "qed"} (as recorded or probed), or null without a backing file. */
    String backingFormat();

    /** Whether {@code QED_F_NEED_CHECK} is set now ({@code qed:needsCheck}). */
    boolean needsCheck();

    /** Bytes of guest data stored in the image file itself ({@code qed:allocatedBytes}). */
    long allocatedBytes();
}
