package io.github.qednio.ops;

import io.github.qednio.engine.LockSafeFiles;
import io.github.qednio.engine.MappedExtent;
import io.github.qednio.engine.OpenOptions;
import io.github.qednio.engine.QedImage;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Path;
import java.util.List;

/**
 * The guest bytes of a raw file or a QED image with its chain, opened read-only, with what is known about each run
 * without reading it: for convert, compare and measure.
 */
interface GuestImage extends Closeable {
    /** Opens {@code file} read-only in {@code format} (null: probe it); a raw file is all data. */
    static GuestImage open(Path file, ImageFormat format) throws IOException {
        return open(file, format, false);
    }

    /**
     * Opens {@code file} read-only in {@code format} (null: probe it). With {@code findHoles}, the holes of a raw
     * file are {@link MappedExtent.Type#ZERO} runs where the file system can tell
     * ({@link LockSafeFiles#nextData}: Java 22+ with native access), so they need not be read.
     */
    static GuestImage open(Path file, ImageFormat format, boolean findHoles) throws IOException {
        ImageFormat f = format != null ? format : ImageFormat.probe(file);
        return f == ImageFormat.QED ? new Qed(file) : new Raw(file, findHoles);
    }

    long size();

    /**
     * The run starting at {@code pos} that shares one state: its end, and its type (a raw file is all
     * {@link MappedExtent.Type#DATA} unless opened to find holes and the file system tells them).
     */
    MappedExtent extentAt(long pos) throws IOException;

    /** Fills {@code dst} with guest bytes from {@code pos}. */
    void read(ByteBuffer dst, long pos) throws IOException;

    /** A raw file: one data run, or its data runs and holes. */
    final class Raw implements GuestImage {
        /** Opened through the library's lock manager, so closing it never drops a lock this JVM holds. */
        private final SeekableByteChannel ch;
        private final long size;
        private final Path file;
        private final boolean findHoles;

        Raw(Path file, boolean findHoles) throws IOException {
            this.file = file;
            this.findHoles = findHoles;
            this.ch = LockSafeFiles.newReadChannel(file);
            this.size = ch.size();
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public MappedExtent extentAt(long pos) throws IOException {
            if (!findHoles) {
                return new MappedExtent(pos, size - pos, MappedExtent.Type.DATA, 0, file, pos);
            }
            long data = Math.min(size, LockSafeFiles.nextData(ch, pos));
            if (data > pos) {
                return new MappedExtent(pos, data - pos, MappedExtent.Type.ZERO, 0, null, -1);
            }
            // A file that grew since it was opened can put its next hole past the size read then.
            long hole = Math.min(size, LockSafeFiles.nextHole(ch, pos));
            return new MappedExtent(pos, Math.max(hole, pos + 1) - pos, MappedExtent.Type.DATA, 0, file, pos);
        }

        @Override
        public void read(ByteBuffer dst, long pos) throws IOException {
            for (long p = pos; dst.hasRemaining(); ) {
                int n = ch.position(p).read(dst);
                if (n < 0) {
                    throw new EOFException(file + ": unexpected end of file at offset " + p);
                }
                p += n;
            }
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    /** A QED image and its chain, mapped through the library's mapping query a window at a time. */
    final class Qed implements GuestImage {
        /** Guest bytes mapped per query: bounds the memory a fragmented image's mapping takes. */
        private static final long WINDOW = 1L << 30;
        private final QedImage img;
        private List<MappedExtent> window = List.of();
        private int index;

        Qed(Path file) throws IOException {
            this.img = QedImage.open(file, OpenOptions.readOnlyDefaults());
        }

        @Override
        public long size() {
            return img.size();
        }

        @Override
        public MappedExtent extentAt(long pos) throws IOException {
            if (index < window.size() && window.get(index).end() <= pos) {
                index++;
            }
            if (index >= window.size() || pos < window.get(index).start() || pos >= window.get(index).end()) {
                window = img.map(pos, WINDOW);
                index = 0;
            }
            return window.get(index);
        }

        @Override
        public void read(ByteBuffer dst, long pos) throws IOException {
            img.readFully(dst, pos);
        }

        @Override
        public void close() throws IOException {
            img.close();
        }
    }
}
