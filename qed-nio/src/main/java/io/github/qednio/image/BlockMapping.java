package io.github.qednio.image;

import java.io.IOException;
import java.util.List;

/**
 * Where the guest bytes of an image with a backing chain come from, independent of the image format. The basis of
 * {@code map}, {@code convert} and allocation statistics.
 */
public interface BlockMapping {

    /**
     * Guest-visible size in bytes.
     *
     * @return the virtual disk's size
     */
    long size();

    /**
     * The runs covering guest range {@code [offset, offset + length)} (clipped to the size), in order, adjacent
     * runs with the same mapping merged, as {@code qemu-img map} reports them.
     *
     * @param offset guest offset where the mapping starts, non-negative
     * @param length number of bytes to map, non-negative; clipped to the size
     * @return the runs in guest order, covering the clipped range without gaps; empty if it is empty
     * @throws IllegalArgumentException if {@code offset} or {@code length} is negative
     * @throws IOException if a table of the chain cannot be read
     */
    List<MappedExtent> map(long offset, long length) throws IOException;
}
