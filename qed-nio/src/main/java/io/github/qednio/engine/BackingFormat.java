package io.github.qednio.engine;

/** Format of a backing file. QED records only "raw, do not probe" ({@code QED_F_BACKING_FORMAT_NO_PROBE}). */
public enum BackingFormat {
    /** A raw file: never probed, stored as {@code QED_F_BACKING_FORMAT_NO_PROBE}. */
    RAW,
    /** A QED image: recognised by its magic when the image is opened. */
    QED;

    /**
     * Parses {@code raw} or {@code qed} (any case).
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
        throw new IllegalArgumentException("backing format '" + s + "' is not one of raw, qed");
    }
}
