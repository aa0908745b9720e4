package io.github.qednio.internal.convert;

import io.github.qednio.ops.ConversionRefusedException;
import io.github.qednio.internal.storage.RawImageFile;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A target format's writer, planned for one source image: the new metadata, all of it in bytes the old format does
 * not use, and the one header sector that switches the file to the new format.
 */
public interface TargetPlan {
    /** The largest header write: one sector, which disks write atomically. */
    int SECTOR = 512;

    /** {@return the source this plan converts} */
    SourceLayout source();

    /** {@return the end of the new metadata} */
    long end();

    /** {@return bytes of new metadata past the old end of the file} */
    default long metadataBytes() {
        return end() - source().freeFrom();
    }

    /** {@return the file's length after the conversion} */
    default long finalLength() {
        return Math.max(source().fileLength(), end());
    }

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

    /**
     * Where the new header's backing file name goes: at {@code inSector} if it fits in the header sector there,
     * else at the first place of cluster 0 after the sector that the old format does not use.
     *
     * @throws ConversionRefusedException naming the image if cluster 0 has no room for it
     */
    static long backingNameOffset(SourceLayout src, long inSector, int length, long clusterSize, String format,
                                  String image) throws ConversionRefusedException {
        long at = inSector + length <= SECTOR ? inSector : src.freeInCluster0(SECTOR, length, clusterSize);
        if (at < 0) {
            throw new ConversionRefusedException("backing file name", image + ": no room in cluster 0 for a "
                    + format + " backing file name of " + length + " bytes beside the old header", null);
        }
        return at;
    }

    /** The header sector: {@code header}, and the backing file name if it lies in the sector. */
    static ByteBuffer sector(ByteBuffer header, byte[] backingName, long backingOffset) {
        ByteBuffer sector = ByteBuffer.allocate(SECTOR);
        sector.put(header);
        if (backingName != null && backingOffset < SECTOR) {
            sector.put((int) backingOffset, backingName);
        }
        return sector.clear();
    }

    /** Writes the backing file name before the switch if it lies after the header sector. */
    static void writeBackingName(RawImageFile file, byte[] backingName, long backingOffset) throws IOException {
        if (backingName != null && backingOffset >= SECTOR) {
            file.write(ByteBuffer.wrap(backingName), backingOffset);
        }
    }

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
