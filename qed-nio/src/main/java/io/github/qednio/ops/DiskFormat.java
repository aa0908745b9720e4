package io.github.qednio.ops;

import java.util.Locale;

/** The image formats the in-place converter reads and writes. */
public enum DiskFormat {
    /** QEMU Enhanced Disk. */
    QED,
    /** QEMU copy-on-write version 2 (written as version 3). */
    QCOW2;

    /**
     * Parses a format name as QEMU spells it.
     *
     * @param name {@code qed} or {@code qcow2}, any case
     * @return the format
     * @throws IllegalArgumentException for any other name
     */
    public static DiskFormat parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "qed" -> QED;
            case "qcow2" -> QCOW2;
            default -> throw new IllegalArgumentException("unknown image format '" + name + "' (qed or qcow2)");
        };
    }

    /** {@return QEMU's name of the format, lower case} */
    public String qemuName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
