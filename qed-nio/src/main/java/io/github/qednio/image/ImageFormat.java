package io.github.qednio.image;

import io.github.qednio.internal.storage.FormatProbe;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The disk image formats the library reads: the format of an image, of a backing file, of a conversion's source
 * or target. Its {@link #toString()} is QEMU's name for it ({@code raw}, {@code qed}, {@code qcow2}), as
 * {@code -f}, {@code -O} and {@code backing_fmt} take it.
 *
 * <pre>{@code
 * ImageFormat f = ImageFormat.parse("qcow2");       // from an option
 * ImageFormat g = ImageFormat.probe(Path.of("a"));  // from the file's first bytes, as QEMU probes
 * }</pre>
 */
public enum ImageFormat {
    /** A plain file holding the guest bytes. */
    RAW,
    /** A QED image. */
    QED,
    /** A qcow2 image (version 2 or 3); the library reads it, and writes it only by converting in place. */
    QCOW2;

    /**
     * Parses QEMU's name of a format, in any case.
     *
     * @param s the name: {@code raw}, {@code qed} or {@code qcow2}
     * @return the format
     * @throws IllegalArgumentException naming {@code s} if it is none of them
     */
    public static ImageFormat parse(String s) {
        for (ImageFormat f : values()) {
            if (f.name().equalsIgnoreCase(s)) {
                return f;
            }
        }
        throw new IllegalArgumentException("format '" + s + "' is not one of raw, qed, qcow2");
    }

    /**
     * The format of {@code file} as QEMU probes it from its first bytes, read without disturbing the locks this JVM
     * holds on it: a file that is neither QED nor qcow2 nor another format QEMU knows is raw.
     *
     * @param file the image file
     * @return its format
     * @throws IOException if the file cannot be read, or is in a format QEMU knows and this library does not read
     *     (the message names the file and the format)
     */
    public static ImageFormat probe(Path file) throws IOException {
        String found = FormatProbe.probe(file);
        for (ImageFormat f : values()) {
            if (f.qemuName().equals(found)) {
                return f;
            }
        }
        throw new IOException(file + ": is a " + found + " image, which this library does not read (give -f raw to"
                + " copy its bytes as they are)");
    }

    /**
     * QEMU's name of the format.
     *
     * @return {@code raw}, {@code qed} or {@code qcow2}
     */
    public String qemuName() {
        return name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String toString() {
        return qemuName();
    }
}
