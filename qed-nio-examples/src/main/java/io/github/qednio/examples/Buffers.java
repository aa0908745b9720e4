package io.github.qednio.examples;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/** Small I/O helpers. */
final class Buffers {
    private Buffers() {
    }

    /** Fills {@code dst} from {@code ch} at {@code pos}; bytes past the end of the file read as zeros. */
    static void readRaw(FileChannel ch, ByteBuffer dst, long pos) throws IOException {
        long p = pos;
        while (dst.hasRemaining()) {
            int k = ch.read(dst, p);
            if (k < 0) {
                while (dst.hasRemaining()) {
                    dst.put((byte) 0);
                }
                return;
            }
            p += k;
        }
    }

    /** Like {@link #readRaw} but the file must hold every byte. */
    static void readFully(FileChannel ch, ByteBuffer dst, long pos) throws IOException {
        long p = pos;
        while (dst.hasRemaining()) {
            int k = ch.read(dst, p);
            if (k < 0) {
                throw new EOFException("unexpected end of file at offset " + p);
            }
            p += k;
        }
    }
}
