package io.github.qednio.engine;

import java.io.IOException;
import java.util.List;

/**
 * Where the guest bytes of an image with a backing chain come from, independent of the image format. The basis of
 * {@code map}, {@code convert} and allocation statistics.
 */
public interface BlockMapping {

    /** Guest-visible size in bytes. */
    long size();

    /**
     * The runs covering guest range {@code [offset, offset + length)} (clipped to the size), in order, adjacent
     * runs with the same mapping merged, as {@code qemu-img map} reports them.
     *
     * @throws IllegalArgumentException if {@code offset} or {@code length} is negative
     */
    List<MappedExtent> map(long offset, long length) throws IOException;
}
