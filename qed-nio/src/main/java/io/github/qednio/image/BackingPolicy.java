package io.github.qednio.image;

/** Which backing files an image may name. */
public enum BackingPolicy {
    /** Follow any backing file, as QEMU does. */
    FOLLOW,
    /** Only backing files inside the top image's directory tree (after resolving links and {@code ..}). */
    CONFINE,
    /** Refuse images that have a backing file. */
    DENY;

    /**
     * Parses {@code follow}, {@code confine} or {@code deny} (any case).
     *
     * @param s the policy's name
     * @return the policy
     */
    public static BackingPolicy parse(String s) {
        for (BackingPolicy p : values()) {
            if (p.name().equalsIgnoreCase(s)) {
                return p;
            }
        }
        throw new IllegalArgumentException("backing policy '" + s + "' is not one of follow, confine, deny");
    }
}
