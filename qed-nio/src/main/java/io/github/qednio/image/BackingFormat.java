package io.github.qednio.image;

/**
 * Format of a backing file. QED records only "raw, do not probe" ({@code QED_F_BACKING_FORMAT_NO_PROBE}); QED and
 * qcow2 backing files are recognised by their magic.
 */
public enum BackingFormat {
    /** A raw file: never probed, stored as {@code QED_F_BACKING_FORMAT_NO_PROBE}. */
    RAW,
    /** A QED image: recognised by its magic when the image is opened. */
    QED,
    /**
     * A qcow2 image: recognised by its magic when the image is opened, and read only (uncompressed and
     * deflate-compressed clusters, its own backing file); never written, so {@code commit} into it is refused.
     */
    QCOW2;

    /**
     * Parses {@code raw}, {@code qed} or {@code qcow2} (any case).
     *
     * @param s the format's name
     * @return the format
     */
    public static BackingFormat parse(String s) {
        for (BackingFormat f : values()) {
            if (f.name().equalsIgnoreCase(s)) {
                return f;
            }
        }
        throw new IllegalArgumentException("backing format '" + s + "' is not one of raw, qed, qcow2");
    }
}
