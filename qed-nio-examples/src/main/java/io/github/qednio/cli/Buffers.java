package io.github.qednio.cli;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;

/**
 * The examples' one read-fully and write-fully loop (the library keeps its own, internal one). A positional
 * {@code read} or {@code write} may move fewer bytes than asked; these loop until done.
 */
public final class Buffers {
    private Buffers() {
    }

    /** A positional read: {@link FileChannel#read(ByteBuffer, long)} or {@link #of(SeekableByteChannel)}. */
    @FunctionalInterface
    public interface PositionalRead {
        /**
         * Reads up to {@code dst.remaining()} bytes at {@code position}.
         *
         * @return the bytes read, or -1 at end of file
         * @throws IOException if the read fails
         */
        int read(ByteBuffer dst, long position) throws IOException;
    }

    /**
     * Positional reads on a channel that has only a current position.
     *
     * @param ch the channel; each read moves its position
     * @return reads that seek {@code ch} first
     */
    public static PositionalRead of(SeekableByteChannel ch) {
        return (dst, position) -> ch.position(position).read(dst);
    }

    /**
     * Reads at {@code position} until {@code dst} is full or the file ends.
     *
     * @param src where to read
     * @param dst filled from its position; on return its position has moved by the result
     * @param position the file offset of the first byte, non-negative
     * @return the bytes read: fewer than {@code dst.remaining()} was only if the file ended first
     * @throws IOException if a read fails
     */
    public static int fill(PositionalRead src, ByteBuffer dst, long position) throws IOException {
        int total = 0;
        while (dst.hasRemaining()) {
            int n = src.read(dst, position + total);
            if (n < 0) {
                break;
            }
            total += n;
        }
        return total;
    }

    /**
     * Fills {@code dst} from {@code src} at {@code pos}; bytes past the end of the file read as zeros (as a raw
     * disk image reads).
     *
     * @throws IOException if a read fails
     */
    public static void readRaw(PositionalRead src, ByteBuffer dst, long pos) throws IOException {
        fill(src, dst, pos);
        while (dst.hasRemaining()) {
            dst.put((byte) 0);
        }
    }

    /**
     * Fills {@code dst} from {@code src} at {@code pos}; the file must hold every byte.
     *
     * @param what names the file in the error message
     * @throws EOFException naming {@code what} and the offset where the file ended
     * @throws IOException if a read fails
     */
    public static void readFully(PositionalRead src, ByteBuffer dst, long pos, String what) throws IOException {
        int wanted = dst.remaining();
        int got = fill(src, dst, pos);
        if (got < wanted) {
            throw new EOFException(what + ": unexpected end of file at offset " + (pos + got) + " (needed "
                    + (wanted - got) + " more bytes from offset " + pos + ")");
        }
    }

    /**
     * Writes all of {@code src} at {@code position}.
     *
     * @throws IOException if a write fails
     */
    public static void writeFully(FileChannel ch, ByteBuffer src, long position) throws IOException {
        long p = position;
        while (src.hasRemaining()) {
            p += ch.write(src, p);
        }
    }
}
