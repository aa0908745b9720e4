package io.github.qednio.engine;

/** What {@link QedImage#check(Repair)} may change. */
public enum Repair {
    /** Report only; nothing is written. */
    NONE,
    /** Clear invalid L1/L2 entries to 0, as {@code qemu-img check -r all} does. Duplicates are left alone. */
    ERRORS,
    /** {@link #ERRORS}, and also cut leaked clusters off the end of the file (QEMU never reclaims leaks). */
    ERRORS_AND_LEAKS
}
