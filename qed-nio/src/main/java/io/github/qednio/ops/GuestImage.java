package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.internal.storage.LockSafeFiles;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.internal.qed.Backing;
import io.github.qednio.internal.qed.QedEngine;
import io.github.qednio.internal.chain.BackingChain;
import io.github.qednio.internal.qed.ChainMapper;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Path;
import java.util.List;

/**
 * The guest bytes of a raw file, or of a QED or qcow2 image with its chain, opened read-only, with what is known
 * about each run without reading it: for convert, compare and measure.
 */
interface GuestImage extends Closeable {
    /**
     * Opens {@code file} read-only in {@code format} (null: probe it); raw is all data until {@link #findHoles}.
     * With {@code forceShare} it is read even while another process writes it ({@link OpenOptions#withForceShare}).
     */
    static GuestImage open(Path file, ImageFormat format, boolean forceShare) throws IOException {
        ImageFormat f = format != null ? format : ImageFormat.probe(file);
        return switch (f) {
            case QED -> new Qed(file, forceShare);
            case QCOW2 -> new Qcow2(file, forceShare);
            case RAW -> new Raw(file, forceShare);
        };
    }

    /**
     * From now on, reports the holes of a raw file as {@link MappedExtent.Type#ZERO} runs where the file system can
     * tell ({@link LockSafeFiles#nextData}: Java 22+ with native access), so they need not be read: only the whole
     * granules of {@code granule} bytes (aligned to it) within holes, so that a caller deciding per granule (the
     * converter, per target cluster) decides as it would after reading them; the edges of a hole are data runs.
     * A QED or qcow2 image's zero runs come from its tables: nothing changes for it.
     */
    default void findHoles(int granule) {
    }

    long size();

    /**
     * The run starting at {@code pos} that shares one state: its end, and its type (a raw file is all
     * {@link MappedExtent.Type#DATA} unless opened to find holes and the file system tells them).
     */
    MappedExtent extentAt(long pos) throws IOException;

    /** Fills {@code dst} with guest bytes from {@code pos}. */
    void read(ByteBuffer dst, long pos) throws IOException;

    /** The image as the top of its chain in QEMU's block status terms, for {@code compare -s}. */
    BlockStatus.Layer statusLayer();

    /** A raw file: one data run, or its data runs and holes. */
    final class Raw implements GuestImage {
        /** Opened through the library's lock manager, so closing it never drops a lock this JVM holds. */
        private final SeekableByteChannel ch;
        private final long size;
        private final Path file;
        /** Holes are reported in whole granules of this size; 0: not at all. */
        private long holeGranule;

        Raw(Path file, boolean forceShare) throws IOException {
            this.file = file;
            this.ch = LockSafeFiles.newReadChannel(file, forceShare);
            this.size = ch.size();
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public void findHoles(int granule) {
            if (granule <= 0) {
                throw new IllegalArgumentException(file + ": hole granule " + granule + ", expected above 0");
            }
            holeGranule = granule;
        }

        @Override
        public MappedExtent extentAt(long pos) throws IOException {
            if (holeGranule == 0) {
                return new MappedExtent(pos, size - pos, MappedExtent.Type.DATA, 0, file, pos);
            }
            long g = holeGranule;
            if (pos % g == 0) {
                long zeroEnd = holeEnd(pos);
                if (zeroEnd > pos) {
                    return new MappedExtent(pos, zeroEnd - pos, MappedExtent.Type.ZERO, 0, null, -1);
                }
            }
            // Data up to the first whole granule inside a hole (or the end).
            long end = size;
            for (long p = pos; p < size; ) {
                long hole = Math.min(size, LockSafeFiles.nextHole(ch, p));
                long granule = Math.max(ceil(hole, g), ceil(pos + 1, g));
                if (granule >= size || holeEnd(granule) > granule) {
                    end = Math.min(granule, size);
                    break;
                }
                p = Math.max(granule, Math.min(size, LockSafeFiles.nextData(ch, granule)));
                p = Math.max(p, hole + 1);
            }
            return new MappedExtent(pos, end - pos, MappedExtent.Type.DATA, 0, file, pos);
        }

        /**
         * The end of the whole granules of zeros from {@code pos} (granule-aligned): the next data, or the file's end
         * if only a hole follows, rounded down to a granule; {@code pos} if data starts within its granule.
         */
        private long holeEnd(long pos) throws IOException {
            long data = Math.min(size, LockSafeFiles.nextData(ch, pos));
            return Math.max(pos, data / holeGranule * holeGranule);
        }

        private static long ceil(long n, long unit) {
            return (n + unit - 1) / unit * unit;
        }

        @Override
        public BlockStatus.Layer statusLayer() {
            return BlockStatus.raw(() -> size);
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
        private final QedEngine img;
        private List<MappedExtent> window = List.of();
        private int index;

        Qed(Path file, boolean forceShare) throws IOException {
            this.img = BackingChain.openTop(file, OpenOptions.readOnlyDefaults().withForceShare(forceShare));
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
        public BlockStatus.Layer statusLayer() {
            return BlockStatus.qed(img);
        }

        @Override
        public void close() throws IOException {
            img.close();
        }
    }

    /**
     * A qcow2 image and its chain (raw, QED or qcow2 backing files), mapped a window at a time as {@code qemu-img
     * map} walks it; compressed clusters are data, inflated when read.
     */
    final class Qcow2 implements GuestImage {
        /** Guest bytes mapped per query: bounds the memory a fragmented image's mapping takes. */
        private static final long WINDOW = 1L << 30;
        private final Backing img;
        private final long size;
        private List<MappedExtent> window = List.of();
        private int index;

        Qcow2(Path file, boolean forceShare) throws IOException {
            this.img = BackingChain.openQcow2Top(file, OpenOptions.readOnlyDefaults().withForceShare(forceShare));
            this.size = img.size();
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public MappedExtent extentAt(long pos) throws IOException {
            if (index < window.size() && window.get(index).end() <= pos) {
                index++;
            }
            if (index >= window.size() || pos < window.get(index).start() || pos >= window.get(index).end()) {
                window = ChainMapper.mapQcow2Top(img, pos, Math.min(size, pos + WINDOW));
                index = 0;
            }
            return window.get(index);
        }

        @Override
        public void read(ByteBuffer dst, long pos) throws IOException {
            img.read(dst, pos);
        }

        @Override
        public BlockStatus.Layer statusLayer() {
            return BlockStatus.qcow2(img);
        }

        @Override
        public void close() throws IOException {
            img.close();
        }
    }
}
