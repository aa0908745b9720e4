package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CacheMode;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.io.Closeable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Copies the guest content of a raw file or a QED or qcow2 image (with its chain) into a raw file or QED image, as
 * {@code qemu-img convert} does: regions that read as zeros are skipped (left unallocated in a new QED target, left
 * as holes in a new raw one). Zero detection works per target cluster (64 KiB for raw targets); on Java 22 and
 * later with native access, the whole target clusters inside the holes of a raw source are skipped without being
 * read ({@link io.github.qednio.internal.storage.LockSafeFiles#nextData}), with the same result. A new QED target is
 * written front to back, so it is compact: tables and data clusters in order, nothing leaked. As in qemu-img, the
 * target's cache mode is {@link CacheMode#UNSAFE} unless asked otherwise: nothing is synced, and the result is
 * durable only once the system has written it back.
 *
 * <pre>{@code
 * ImageConverter.convert(Path.of("disk.raw"), Path.of("disk.qed"), ConvertOptions.to(ImageFormat.QED));
 * // keep a backing file: write only what differs from it
 * ImageConverter.convert(Path.of("disk.qed"), Path.of("delta.qed"),
 *         ConvertOptions.to(ImageFormat.QED).withBackingFile("base.raw", ImageFormat.RAW));
 * }</pre>
 */
public final class ImageConverter {
    private static final int CHUNK = 1 << 20;
    private static final int RAW_GRANULE = 64 * 1024;
    /** Chunk buffers in flight: one being read and scanned while up to two are written. */
    private static final int PIPELINE_DEPTH = 3;
    /** With {@code -t writeback}: write-back of the target starts after every 32 MiB written. */
    static final long BYTES_PER_SYNC = 32L << 20;

    private ImageConverter() {
    }

    /**
     * What a conversion did.
     *
     * @param virtualSize  the guest bytes converted
     * @param bytesWritten the guest bytes written as data
     * @param bytesSkipped the guest bytes not written as data (zeros, or equal to the backing file)
     */
    public record Stats(long virtualSize, long bytesWritten, long bytesSkipped) {
    }

    /**
     * Converts {@code src} into a new file {@code dst}.
     *
     * @param src       the source file
     * @param srcFormat the source's format, or null to probe it
     * @param dst       the target file, which must not exist
     * @param dstFormat the target's format
     * @param geometry  for a QED target: cluster and table size (its size is ignored; the source's is used)
     * @return what was done
     * @throws FileAlreadyExistsException if {@code dst} exists (nothing is overwritten)
     * @throws IOException if a file cannot be read or written
     */
    public static Stats convert(Path src, ImageFormat srcFormat, Path dst, ImageFormat dstFormat,
                                CreateOptions geometry) throws IOException {
        return convert(src, srcFormat, dst, dstFormat, geometry, CacheMode.UNSAFE);
    }

    /**
     * {@link #convert(Path, ImageFormat, Path, ImageFormat, CreateOptions)} with the target's cache mode.
     *
     * @param src       the source file
     * @param srcFormat the source's format, or null to probe it
     * @param dst       the target file, which must not exist
     * @param dstFormat the target's format
     * @param geometry  for a QED target: cluster and table size
     * @param cache     the target's cache mode
     * @return what was done
     * @throws IOException if {@code dst} exists or a file cannot be read or written
     */
    public static Stats convert(Path src, ImageFormat srcFormat, Path dst, ImageFormat dstFormat,
                                CreateOptions geometry, CacheMode cache) throws IOException {
        return convert(src, dst, ConvertOptions.to(dstFormat).withSourceFormat(srcFormat).withGeometry(geometry)
                .withCacheMode(cache));
    }

    /**
     * Converts {@code src} into {@code dst} as {@code options} say.
     *
     * @param src     the source file: raw, QED or qcow2
     * @param dst     the target: a new file, or with {@link ConvertOptions#existingTarget()} an existing one at
     *                least as large as the source
     * @param options how
     * @return what was done
     * @throws FileAlreadyExistsException if {@code dst} exists and is not to be written in place
     * @throws IllegalArgumentException   if the options contradict each other (as qemu-img refuses them)
     * @throws IOException if a file cannot be read or written, or an existing target is too small
     */
    public static Stats convert(Path src, Path dst, ConvertOptions options) throws IOException {
        options.validate();
        if (!options.existingTarget() && Files.exists(dst)) {
            throw new FileAlreadyExistsException(dst.toString());
        }
        try (GuestImage in = GuestImage.open(src, options.sourceFormat(), options.forceShare())) {
            long size = in.size();
            try (Target out = openTarget(dst, size, options)) {
                if (out.size() < size) {
                    throw new IOException(dst + ": the target holds " + out.size() + " bytes, less than the "
                            + size + " bytes of " + src);
                }
                return copy(in, out, size, options);
            }
        }
    }

    private static Target openTarget(Path dst, long size, ConvertOptions options) throws IOException {
        CacheMode cache = options.cacheMode();
        if (options.targetFormat() == ImageFormat.RAW) {
            return new RawTarget(dst, size, cache, options.existingTarget());
        }
        // Synced at the end: the disk starts writing while the conversion still runs (no-op before Java 22).
        OpenOptions open = OpenOptions.defaults().withCacheMode(cache).withCopyOnRead(false)
                .withBytesPerSync(cache == CacheMode.WRITEBACK ? BYTES_PER_SYNC : 0);
        if (options.existingTarget()) {
            return new QedTarget(QedImage.open(dst, open), false);
        }
        CreateOptions create = options.geometry().withSize(size);
        if (options.backingFile() != null) {
            create = create.withBackingFile(options.backingFile(), options.backingFormat());
        }
        return new QedTarget(QedImage.create(dst, create, open), options.backingFile() != null);
    }

    /** What to do with a target granule. */
    private enum Action {
        /** Leave it: it already reads as the source. */
        SKIP,
        /** Make it read as zeros. */
        ZERO,
        /** Write the source's bytes. */
        DATA
    }

    private static Stats copy(GuestImage in, Target out, long size, ConvertOptions options) throws IOException {
        int granule = out.granule();
        int chunk = Math.max(CHUNK, granule);
        // Whole target clusters inside holes of a raw source are zeros the file system knows of: skipped unread.
        in.findHoles(granule);
        // Zeros need writing when the target may hold other bytes there: an existing target not known to be zero.
        // Over a backing file, a granule is compared with what the backing file provides instead.
        Action zeroAction = options.existingTarget() && !options.targetIsZero() ? Action.ZERO : Action.SKIP;
        boolean compareBacking = out.hasBacking();
        ByteBuffer base = compareBacking ? ByteBuffer.allocateDirect(chunk) : null;
        ByteBuffer zeros = ByteBuffer.allocateDirect(granule);
        // Over a backing file the target is read as well as written: then everything stays on this thread.
        try (WriteBehind pipe = new WriteBehind(out, chunk, compareBacking ? 1 : PIPELINE_DEPTH)) {
            return copy(in, pipe, size, options, zeroAction, base, zeros);
        }
    }

    private static Stats copy(GuestImage in, WriteBehind out, long size, ConvertOptions options, Action zeroAction,
                              ByteBuffer base, ByteBuffer zeros) throws IOException {
        int granule = out.granule();
        int chunk = Math.max(CHUNK, granule);
        boolean compareBacking = base != null;
        long minZeroRun = options.minZeroRun();
        Emitter emit = new Emitter(out, minZeroRun);
        long pos = 0;
        while (pos < size) {
            MappedExtent e = in.extentAt(pos);
            long runEnd = Math.min(size, e.end());
            if (e.readsAsZeros() && minZeroRun > 0 && !compareBacking) {
                emit.zeros(pos, runEnd - pos, zeroAction);
                pos = runEnd;
                options.progress().update(pos, size);
                continue;
            }
            int n = (int) Math.min(chunk, runEnd - pos);
            ByteBuffer buf = out.nextBuffer().limit(n);
            if (e.readsAsZeros()) {
                putZeros(buf, zeros);
            } else {
                in.read(buf, pos);
            }
            if (compareBacking) {
                base.clear().limit(n);
                out.readCurrent(base, pos);
            }
            emit.begin(pos, buf);
            int off = 0;
            while (off < n) {
                // Granules aligned to the target's clusters.
                int g = (int) Math.min(n - off, granule - Math.floorMod(pos + off, granule));
                ByteBuffer data = buf.slice(off, g);
                boolean zero = data.mismatch(zeros.slice(0, g)) == -1;
                Action a;
                if (compareBacking) {
                    a = data.mismatch(base.slice(off, g)) == -1 ? Action.SKIP : zero ? Action.ZERO : Action.DATA;
                } else {
                    a = zero ? zeroAction : Action.DATA;
                }
                emit.granule(off, g, a);
                off += g;
            }
            emit.end(n);
            out.endChunk(buf);
            pos += n;
            options.progress().update(pos, size);
        }
        out.finish();
        if (size == 0) {
            options.progress().update(0, 0);
        }
        return new Stats(size, emit.written, size - emit.written);
    }

    private static void putZeros(ByteBuffer dst, ByteBuffer zeros) {
        while (dst.hasRemaining()) {
            dst.put(zeros.duplicate().limit(Math.min(zeros.capacity(), dst.remaining())));
        }
        dst.flip();
    }

    /**
     * Coalesces the granules of a chunk into runs of one action and writes each run with one call. A run of zeros
     * to skip that is shorter than {@code -S} (any run with {@code -S 0}) is written as data instead, as qemu-img
     * does; runs are counted within one chunk of 1 MiB.
     */
    private static final class Emitter {
        private final Target out;
        private final long minZeroRun;
        private ByteBuffer buf;
        private long chunkPos;
        private Action runAction;
        private int runStart;
        long written;

        Emitter(Target out, long minZeroRun) {
            this.out = out;
            this.minZeroRun = minZeroRun;
        }

        /** A run known to read as zeros, not read into the buffer. */
        void zeros(long pos, long length, Action action) throws IOException {
            if (action == Action.ZERO) {
                out.zero(pos, length);
            }
        }

        void begin(long pos, ByteBuffer chunk) {
            buf = chunk;
            chunkPos = pos;
            runAction = null;
        }

        void granule(int off, int length, Action a) throws IOException {
            if (a != runAction) {
                flush(off);
                runAction = a;
                runStart = off;
            }
        }

        void end(int n) throws IOException {
            flush(n);
        }

        private void flush(int off) throws IOException {
            if (runAction == null || off == runStart) {
                return;
            }
            int len = off - runStart;
            boolean tooShort = minZeroRun == 0 || len < minZeroRun;
            Action a = runAction == Action.SKIP && tooShort && !isBackingSkip() ? Action.DATA : runAction;
            switch (a) {
                case DATA -> {
                    out.write(buf.slice(runStart, len), chunkPos + runStart);
                    written += len;
                }
                case ZERO -> out.zero(chunkPos + runStart, len);
                case SKIP -> { }
            }
        }

        /** A skip over a backing file keeps the backing file's bytes, whatever their length. */
        private boolean isBackingSkip() {
            return out.hasBacking();
        }
    }

    /** Where the guest bytes go. */
    interface Target extends Closeable {
        int granule();

        long size() throws IOException;

        /** Whether the target reads through a backing file, whose content {@link #readCurrent} returns. */
        boolean hasBacking();

        /** The target's current content at {@code pos} (for a new target over a backing file: the backing's). */
        void readCurrent(ByteBuffer dst, long pos) throws IOException;

        void write(ByteBuffer src, long pos) throws IOException;

        void zero(long pos, long length) throws IOException;
    }

    private static final class RawTarget implements Target {
        private final RandomAccessFile file;
        private final FileChannel ch;
        private final CacheMode cache;

        RawTarget(Path path, long size, CacheMode cache, boolean existing) throws IOException {
            this.cache = cache;
            if (!existing) {
                Files.createFile(path);
            } else if (!Files.isRegularFile(path)) {
                throw new java.nio.file.NoSuchFileException(path.toString(), null, "-n needs an existing target");
            }
            this.file = new RandomAccessFile(path.toFile(), "rw");
            this.ch = file.getChannel();
            if (!existing) {
                // Extend without writing: the skipped zero regions stay holes, as qemu-img leaves them.
                file.setLength(size);
            }
        }

        @Override
        public int granule() {
            return RAW_GRANULE;
        }

        @Override
        public long size() throws IOException {
            return ch.size();
        }

        @Override
        public boolean hasBacking() {
            return false;
        }

        @Override
        public void readCurrent(ByteBuffer dst, long pos) {
            throw new UnsupportedOperationException("a raw target has no backing file");
        }

        @Override
        public void write(ByteBuffer src, long pos) throws IOException {
            for (long p = pos; src.hasRemaining(); ) {
                p += ch.write(src, p);
            }
        }

        @Override
        public void zero(long pos, long length) throws IOException {
            ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, CHUNK));
            for (long p = pos; p < pos + length; ) {
                int k = (int) Math.min(pos + length - p, CHUNK);
                write(zeros.clear().limit(k), p);
                p += k;
            }
        }

        @Override
        public void close() throws IOException {
            try {
                if (cache == CacheMode.WRITEBACK) {
                    ch.force(true);
                }
            } finally {
                file.close();
            }
        }
    }

    private static final class QedTarget implements Target {
        private final QedImage img;
        private final boolean backing;

        QedTarget(QedImage img, boolean backing) {
            this.img = img;
            this.backing = backing;
        }

        @Override
        public int granule() {
            return img.geometry().clusterSize();
        }

        @Override
        public long size() {
            return img.size();
        }

        @Override
        public boolean hasBacking() {
            return backing;
        }

        @Override
        public void readCurrent(ByteBuffer dst, long pos) throws IOException {
            img.readFully(dst, pos);
            dst.flip();
        }

        @Override
        public void write(ByteBuffer src, long pos) throws IOException {
            img.write(src, pos);
        }

        @Override
        public void zero(long pos, long length) throws IOException {
            img.writeZeroes(pos, length);
        }

        @Override
        public void close() throws IOException {
            img.close();
        }
    }
}
