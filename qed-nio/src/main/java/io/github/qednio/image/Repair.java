package io.github.qednio.image;

/**
 * What {@link QedImage#check(Repair)} may change: {@link #LEAKS} and {@link #ERRORS_AND_LEAKS} are
 * {@code qemu-img check -r leaks} and {@code -r all}. Every mode other than {@link #NONE} needs a writable image.
 * After a repair the image is checked again from what the file holds.
 */
public enum Repair {
    /** Report only; nothing is written. */
    NONE,
    /**
     * Clear invalid L1/L2 entries (misaligned, in the header, past the end of the file, or an L2 table running
     * past it) to 0, as {@code qemu-img check -r all} does, and clear {@code QED_F_NEED_CHECK} if no corruption
     * remains. The data those entries pointed at is lost; the cluster reads from the backing file or as zeros.
     * Duplicate references are left alone (nothing can tell which reference is right). This is the repair a
     * read-write open runs on an image left with {@code QED_F_NEED_CHECK} set.
     */
    ERRORS,
    /**
     * Clear the leaked clusters, leaving invalid entries alone (QEMU never clears a leak; its {@code -r leaks}
     * clears invalid entries instead), by a crash-safe {@link QedImage#compact compaction}: those at the end of the
     * file are cut off, and the clusters after a leak in the middle move into it (clusters holding only zeros stop
     * holding data, as a compaction does; the guest content stays the same). Only an image without corruptions is
     * touched: with corruptions, an L2 table skipped as a duplicate may reference the "leaked" clusters, so they
     * stay. Leaks left are reported by the check of the file that follows the repair.
     */
    LEAKS,
    /** {@link #ERRORS}, and then, if no corruption remains, {@link #LEAKS}. */
    ERRORS_AND_LEAKS;

    /**
     * Whether this mode clears invalid table entries.
     *
     * @return true for {@link #ERRORS} and {@link #ERRORS_AND_LEAKS}
     */
    public boolean fixesErrors() {
        return this == ERRORS || this == ERRORS_AND_LEAKS;
    }

    /**
     * Whether this mode clears leaked clusters.
     *
     * @return true for {@link #LEAKS} and {@link #ERRORS_AND_LEAKS}
     */
    public boolean fixesLeaks() {
        return this == LEAKS || this == ERRORS_AND_LEAKS;
    }
}
