package io.github.qednio.engine;

/** What {@link QedImage#check(Repair)} may change. Every mode other than {@link #NONE} needs a writable image. */
public enum Repair {
    /** Report only; nothing is written. */
    NONE,
    /**
     * Clear invalid L1/L2 entries (misaligned, in the header, past the end of the file, or an L2 table running
     * past it) to 0, as {@code qemu-img check -r all} does, and clear {@code QED_F_NEED_CHECK} if no corruption
     * remains. The data those entries pointed at is lost; the cluster reads from the backing file or as zeros.
     * Duplicate references are left alone (nothing can tell which reference is right).
     */
    ERRORS,
    /**
     * {@link #ERRORS}, and then, if no corruption remains, reclaim the leaked clusters (QEMU never does): those at
     * the end of the file are cut off, the others become reusable by later allocations of this open image (a
     * later open finds them again before its first allocation). With corruptions left nothing is reclaimed,
     * because an L2 table skipped as a duplicate may reference the "leaked" clusters.
     */
    ERRORS_AND_LEAKS
}
