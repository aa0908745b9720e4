package io.github.qednio.internal.qed;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Raw byte surgery on image files, for corrupting test images. */
final class ImageFiles {
    private ImageFiles() {
    }

    static void putU64(Path file, long offset, long value) {
        put(file, offset, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).flip());
    }

    static void putU32(Path file, long offset, long value) {
        put(file, offset, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) value).flip());
    }

    static long getU64(Path file, long offset) {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, offset);
            return b.flip().getLong();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void put(Path file, long offset, ByteBuffer bytes) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            while (bytes.hasRemaining()) {
                ch.write(bytes, offset + bytes.position());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void truncate(Path file, long size) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void append(Path file, int bytes) {
        try {
            Files.write(file, new byte[bytes], StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] bytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path copy(Path from, Path to) {
        try {
            return Files.copy(from, to);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Copies the L1 table to the end of the file (cluster-aligned) and points the header at the copy, as an image
     * converted in place has it; the old table's clusters are leaked.
     */
    static void moveL1ToEnd(Path file) {
        byte[] all = bytes(file);
        ByteBuffer h = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int cs = h.getInt(4);
        int ts = h.getInt(8);
        long l1 = h.getLong(40);
        long end = (all.length + cs - 1L) / cs * cs;
        put(file, end, ByteBuffer.wrap(all, (int) l1, ts * cs).slice());
        putU64(file, 40, end);
    }
}
