package io.github.qednio.ops;

import io.github.qednio.internal.storage.LockSafeFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/** The image formats the tool converts between. */
public enum ImageFormat {
    /** A plain file holding the guest bytes. */
    RAW,
    /** A QED image. */
    QED;

    /**
     * Parses {@code raw} or {@code qed} (any case).
     *
     * @param s the name
     * @return the format
     * @throws IllegalArgumentException naming {@code s} if it is neither
     */
    public static ImageFormat parse(String s) {
        for (ImageFormat f : values()) {
            if (f.name().equalsIgnoreCase(s)) {
                return f;
            }
        }
        throw new IllegalArgumentException("format '" + s + "' is not one of raw, qed");
    }

    /**
     * QED if the file starts with the QED magic, RAW if no format QEMU knows claims it (as qemu-img probes). The
     * probe goes through the library's lock manager, so it never drops a lock this JVM holds on the file.
     *
     * @param file the file to probe
     * @return its format
     * @throws IOException naming the file and the format when it is another format QEMU knows (qcow2, vmdk, ...)
     */
    public static ImageFormat probe(Path file) throws IOException {
        String found = LockSafeFiles.probeFormat(file);
        switch (found) {
            case LockSafeFiles.QED:
                return QED;
            case LockSafeFiles.RAW:
                return RAW;
            default:
                throw new IOException(file + ": is a " + found + " image, which this tool does not read (give -f raw"
                        + " to copy its bytes as they are)");
        }
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
