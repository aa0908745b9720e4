package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Changes an image's virtual size, as {@code qemu-img resize} does. Growing is always allowed; shrinking only when
 * asked ({@code --shrink}) and only when nothing is lost: a QED image must hold no cluster at or past the new end
 * (see {@link QedImage#shrink(long)}; QEMU 7.2 refuses every QED shrink), a raw file must hold only zeros there.
 */
public final class ImageResizer {
    private static final int CHUNK = 1 << 20;

    private ImageResizer() {
    }

    /**
     * Thrown when the new size is smaller and shrinking was not allowed, with qemu-img's message.
     */
    public static final class ShrinkNotAllowedException extends IOException {
        private static final long serialVersionUID = 1L;

        ShrinkNotAllowedException(Path file, long size, long newSize) {
            super(file + ": Use the --shrink option to perform a shrink operation (" + newSize
                    + " bytes is less than the " + size + " bytes now)");
        }
    }

    /**
     * Resizes an image that no other process or open in this JVM is writing.
     *
     * @param file        the image
     * @param format      its format, or null to probe it
     * @param newSize     the new virtual size in bytes (a multiple of 512 for QED)
     * @param allowShrink whether a smaller size is allowed ({@code --shrink})
     * @return the size before
     * @throws ShrinkNotAllowedException if {@code newSize} is smaller and {@code allowShrink} is false
     * @throws IllegalArgumentException   if {@code newSize} is negative, or not a size the QED image can take
     * @throws IOException if a shrink would drop data (naming the offset), or the file cannot be read or written
     */
    public static long resize(Path file, ImageFormat format, long newSize, boolean allowShrink) throws IOException {
        if (newSize < 0) {
            throw new IllegalArgumentException(file + ": new size " + newSize + " is negative");
        }
        ImageFormat f = format != null ? format : ImageFormat.probe(file);
        if (f == ImageFormat.QCOW2) {
            throw new IOException(file + ": is a qcow2 image, which resize does not write (give -f raw to resize"
                    + " the file as it is)");
        }
        if (f == ImageFormat.QED) {
            try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
                long size = img.size();
                if (newSize < size) {
                    if (!allowShrink) {
                        throw new ShrinkNotAllowedException(file, size, newSize);
                    }
                    img.shrink(newSize);
                } else if (newSize > size) {
                    img.resize(newSize);
                }
                return size;
            }
        }
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            long size = raf.length();
            if (newSize < size) {
                if (!allowShrink) {
                    throw new ShrinkNotAllowedException(file, size, newSize);
                }
                long at = firstNonZero(raf.getChannel(), newSize, size);
                if (at >= 0) {
                    throw new IOException(file + ": cannot shrink to " + newSize + " bytes: the file holds data at"
                            + " offset " + at + ", past the new end");
                }
            }
            raf.setLength(newSize);
            return size;
        }
    }

    private static long firstNonZero(FileChannel ch, long from, long to) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
        for (long p = from; p < to; ) {
            buf.clear().limit((int) Math.min(CHUNK, to - p));
            int n = ch.read(buf, p);
            if (n < 0) {
                break;
            }
            int i = ImageComparator.firstNonZero(buf.flip());
            if (i >= 0) {
                return p + i;
            }
            p += n;
        }
        return -1;
    }
}
