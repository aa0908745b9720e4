package io.github.qednio.internal.qed;

/**
 * A run of guest bytes with one allocation state in one image (the engine's internal view; the public one, across
 * the chain, is {@link MappedExtent}).
 *
 * @param start      guest offset of the first byte
 * @param length     number of bytes
 * @param kind       what the image's tables say about them
 * @param hostOffset for {@link Kind#DATA}: the file offset of the first byte; otherwise -1
 */
public record Extent(long start, long length, Kind kind, long hostOffset) {

    /** Allocation state of a run of clusters in one image (backing files not consulted). */
    public enum Kind {
        /** Table entry 0: the bytes come from the backing file, or are zeros without one. */
        UNALLOCATED,
        /** Table entry 1: reads as zeros and masks the backing file. */
        ZERO,
        /** Stored in this image at {@link #hostOffset()}. */
        DATA
    }

    /** {@return the guest offset just past the run} */
    public long end() {
        return start + length;
    }
}
