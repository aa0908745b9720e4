package io.github.qednio.image;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A run of guest bytes with one mapping through a whole backing chain, in terms that hold for any image format
 * with a backing chain (QED, qcow2): where a read of these bytes is served from. This is what
 * {@code qemu-img map} reports, one entry per run.
 *
 * @param start      guest offset of the first byte
 * @param length     number of bytes
 * @param type       what serves a read of these bytes
 * @param depth      the level of the chain that decided it: 0 for the image itself, 1 for its backing file, ...
 *                   For {@link Type#UNALLOCATED}: the level whose backing file ends before these bytes, or the
 *                   bottom of the chain.
 * @param file       for {@link Type#DATA}: the file holding the bytes, named as the chain names it (the image as
 *                   opened; each backing file as its overlay's stored name resolved against the overlay's path);
 *                   for a {@link Type#ZERO} run that keeps its clusters allocated (a qcow2 zero cluster with a host
 *                   offset, which {@code qemu-img map} reports with its offset): that file; otherwise null
 * @param hostOffset for {@link Type#DATA}: the offset of the first byte in {@code file}, or -1 when the bytes are
 *                   not stored plainly there (a compressed qcow2 cluster, which {@code qemu-img map} reports as
 *                   data without an offset); for a {@link Type#ZERO} run with a file: the offset of its clusters
 *                   there; otherwise -1
 */
public record MappedExtent(long start, long length, Type type, int depth, Path file, long hostOffset) {

    /** What serves a read of a run of guest bytes. */
    public enum Type {
        /**
         * Bytes stored in {@link MappedExtent#file()} at {@link MappedExtent#hostOffset()} (compressed, without a
         * plain host offset, when that is -1).
         */
        DATA,
        /**
         * An image of the chain records the run as zeros (a zero cluster, which in qcow2 may keep its host clusters:
         * then {@link MappedExtent#file()} and {@link MappedExtent#hostOffset()} name them); nothing below it is
         * read.
         */
        ZERO,
        /** No image of the chain holds the run: it reads as zeros. */
        UNALLOCATED
    }

    /**
     * Validates the run.
     *
     * @param start      guest offset of the first byte, non-negative
     * @param length     number of bytes, positive
     * @param type       what serves a read of these bytes, not null
     * @param depth      the chain level that decided it, non-negative
     * @param file       the file holding the bytes: non-null for {@link Type#DATA}, and for {@link Type#ZERO} with
     *                   a host offset; otherwise null
     * @param hostOffset the offset in {@code file}: non-negative, or -1 for compressed data, for
     *                   {@link Type#DATA}; non-negative or -1 (without a file) for {@link Type#ZERO}; otherwise -1
     * @throws IllegalArgumentException if a bound is negative, the run is empty, or the file and host offset do
     *                                  not match the type (only {@link Type#DATA} and allocated
     *                                  {@link Type#ZERO} runs have them)
     * @throws NullPointerException if {@code type} is null
     */
    public MappedExtent {
        Objects.requireNonNull(type, "type");
        if (start < 0 || length <= 0 || depth < 0) {
            throw new IllegalArgumentException("start " + start + ", length " + length + ", depth " + depth);
        }
        boolean valid = switch (type) {
            case DATA -> file != null && hostOffset >= -1;
            case ZERO -> file == null ? hostOffset == -1 : hostOffset >= 0;
            case UNALLOCATED -> file == null && hostOffset == -1;
        };
        if (!valid) {
            throw new IllegalArgumentException("a DATA extent has a file and a host offset (-1: compressed), a ZERO"
                    + " extent both or neither, an UNALLOCATED one neither: " + type + ", " + file + ", "
                    + hostOffset);
        }
    }

    /**
     * Guest offset just past the run.
     *
     * @return {@code start + length}
     */
    public long end() {
        return start + length;
    }

    /**
     * Whether a read of this run returns zeros without reading any file.
     *
     * @return true for {@link Type#ZERO} and {@link Type#UNALLOCATED}
     */
    public boolean readsAsZeros() {
        return type != Type.DATA;
    }

    /**
     * Whether {@code next} directly continues this run with the same mapping (host offsets contiguous too).
     *
     * @param next the run after this one
     * @return true if the two can be merged into one run
     */
    public boolean isContinuedBy(MappedExtent next) {
        return end() == next.start && type == next.type && depth == next.depth && Objects.equals(file, next.file)
                && (hostOffset < 0 ? next.hostOffset < 0 : next.hostOffset == hostOffset + length);
    }

    /**
     * This run merged with {@code next}, which {@linkplain #isContinuedBy continues} it.
     *
     * @param next the run after this one
     * @return one run covering both
     */
    public MappedExtent extendedBy(MappedExtent next) {
        return new MappedExtent(start, length + next.length, type, depth, file, hostOffset);
    }
}
