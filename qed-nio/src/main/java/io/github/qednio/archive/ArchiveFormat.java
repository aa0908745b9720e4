package io.github.qednio.archive;

import java.util.Locale;

/** The archive formats that {@link ImageArchives} packs onto and unpacks from a disk. */
public enum ArchiveFormat {
    /** POSIX tar (pax headers for long or non-ASCII names and large files); read back by {@code tar -xf /dev/vdb}. */
    TAR("tar"),
    /** Zip (Zip64 where needed), deflated; its central directory ends at the end of an auto-sized disk. */
    ZIP("zip"),
    /**
     * 7z with the Deflate method. Needs {@code org.tukaani:xz} on the class path besides commons-compress, whose 7z
     * classes load it whatever the method.
     */
    SEVEN_Z("7z");

    private final String label;

    ArchiveFormat(String label) {
        this.label = label;
    }

    /**
     * The name used on command lines.
     *
     * @return {@code tar}, {@code zip} or {@code 7z}
     */
    public String label() {
        return label;
    }

    /**
     * The format named {@code name}.
     *
     * @param name {@code tar}, {@code zip} or {@code 7z} (case ignored)
     * @return the format
     * @throws IllegalArgumentException naming the accepted values, for any other name
     */
    public static ArchiveFormat parse(String name) {
        for (ArchiveFormat f : values()) {
            if (f.label.equals(name.toLowerCase(Locale.ROOT))) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown archive format '" + name + "' (expected tar, zip or 7z)");
    }
}
