package io.github.qednio.convert;

import io.github.qednio.engine.RawImageFile;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A target format's writer, planned for one source image: the new metadata, all of it in bytes the old format does
 * not use, and the one header sector that switches the file to the new format.
 */
interface TargetPlan {
    /** The largest header write: one sector, which disks write atomically. */
    int SECTOR = 512;

    /** {@return bytes of new metadata past the old end of the file} */
    long metadataBytes();

    /** {@return the file's length after the conversion} */
    long finalLength();

    /**
     * Writes every new structure except the header sector; none of them is referenced by the old format, so a
     * crash at any point leaves the old image intact. The caller flushes afterwards.
     *
     * @param file     the image file
     * @param progress told the bytes written so far
     */
    void writeMetadata(RawImageFile file, Progress progress) throws IOException;

    /** {@return the new header, at most {@value #SECTOR} bytes, for offset 0} */
    ByteBuffer headerSector();

    /** Writes the whole of {@code b} at {@code at} and counts it. */
    static void write(RawImageFile file, ByteBuffer b, long at, Progress progress) throws IOException {
        b.clear();
        int n = b.remaining();
        file.write(b, at);
        progress.written(n);
    }

    /** Counts written bytes. */
    @FunctionalInterface
    interface Progress {
        void written(long bytes);
    }
}
