package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/** Small buffer helpers for the I/O paths. */
public final class Buffers {
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(64 * 1024).asReadOnlyBuffer();

    private Buffers() {
    }

    /** Writes {@code n} zero bytes at the buffer's position and advances it. */
    public static void putZeros(ByteBuffer dst, int n) {
        if (dst.hasArray()) {
            int start = dst.arrayOffset() + dst.position();
            Arrays.fill(dst.array(), start, start + n, (byte) 0);
            dst.position(dst.position() + n);
            return;
        }
        int left = n;
        while (left > 0) {
            int k = Math.min(left, ZEROS.capacity());
            dst.put(ZEROS.duplicate().limit(k));
            left -= k;
        }
    }

    /** Writes {@code bytes} zero bytes at {@code position}. */
    public static void writeZeros(Storage storage, long position, long bytes) throws IOException {
        for (long done = 0; done < bytes; ) {
            int k = (int) Math.min(bytes - done, ZEROS.capacity());
            storage.write(ZEROS.duplicate().limit(k), position + done);
            done += k;
        }
    }

    /** Whether {@code src} (position to limit) holds zeros only; its position is left as it was. */
    public static boolean isAllZeros(ByteBuffer src) {
        for (int p = src.position(), limit = src.limit(); p < limit; ) {
            int n = Math.min(limit - p, ZEROS.capacity());
            if (src.slice(p, n).mismatch(ZEROS.slice(0, n)) >= 0) {
                return false;
            }
            p += n;
        }
        return true;
    }

    /** A positional read: a {@link Storage}'s or a {@link java.nio.channels.FileChannel}'s {@code read}. */
    @FunctionalInterface
    public interface PositionalRead {
        /** Reads up to {@code dst.remaining()} bytes at {@code position}; -1 at end of file. */
        int read(ByteBuffer dst, long position) throws IOException;
    }

    /**
     * The one read-fully loop of the library: reads at {@code position} until {@code dst} is full or the file
     * ends, and returns the number of bytes read (fewer than asked only at end of file).
     */
    public static int fill(PositionalRead source, ByteBuffer dst, long position) throws IOException {
        int total = 0;
        while (dst.hasRemaining()) {
            int n = source.read(dst, position + total);
            if (n < 0) {
                break;
            }
            total += n;
        }
        return total;
    }

    /** A view of the next {@code n} bytes of {@code buf}, positioned at 0; {@code buf} is not moved. */
    public static ByteBuffer slice(ByteBuffer buf, int n) {
        return buf.slice(buf.position(), n);
    }
}
