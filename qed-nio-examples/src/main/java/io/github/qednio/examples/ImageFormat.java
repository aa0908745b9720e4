package io.github.qednio.examples;

import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Locale;

/** The image formats the tool converts between. */
public enum ImageFormat {
    /** A plain file holding the guest bytes. */
    RAW,
    /** A QED image. */
    QED;

    /** Parses {@code raw} or {@code qed} (any case). */
    public static ImageFormat parse(String s) {
        for (ImageFormat f : values()) {
            if (f.name().equalsIgnoreCase(s)) {
                return f;
            }
        }
        throw new IllegalArgumentException("format '" + s + "' is not one of raw, qed");
    }

    /** QED if the file starts with the QED magic, else RAW (as qemu-img probes). */
    public static ImageFormat probe(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer b = ByteBuffer.allocate(4);
            while (b.hasRemaining() && ch.read(b, b.position()) > 0) {
                // read the magic, or what there is of it
            }
            return b.position() == 4 && QedHeader.hasMagic(b.flip()) ? QED : RAW;
        }
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
