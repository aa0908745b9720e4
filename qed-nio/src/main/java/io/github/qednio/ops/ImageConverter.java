package io.github.qednio.ops;

import io.github.qednio.engine.CacheMode;
import io.github.qednio.engine.CreateOptions;
import io.github.qednio.engine.MappedExtent;
import io.github.qednio.engine.OpenOptions;
import io.github.qednio.engine.QedImage;
import io.github.qednio.engine.LockSafeFiles;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Copies the guest content of a raw file or QED image into a new raw file or QED image, as {@code qemu-img convert}
 * does without a backing file for the target: regions that read as zeros are skipped (left unallocated in a QED
 * target, left as holes in a raw one). Zero detection works per target cluster (64 KiB for raw targets). As in
 * qemu-img, the target's cache mode is {@link CacheMode#UNSAFE} unless asked otherwise: nothing is synced, and the
 * result is durable only once the system has written it back.
 *
 * <pre>{@code
 * ImageConverter.convert(Path.of("disk.raw"), ImageFormat.RAW, Path.of("disk.qed"), ImageFormat.QED,
 *         CreateOptions.ofSize(0));  // geometry taken from the options, size from the source
 * }</pre>
 */
public final class ImageConverter {
    private static final int CHUNK = 1 << 20;
    private static final int RAW_GRANULE = 64 * 1024;

    private ImageConverter() {
    }

    /** What a conversion did. */
    public record Stats(long virtualSize, long bytesWritten, long bytesSkipped) {
    }

    /**
     * Converts {@code src} into a new file {@code dst}.
     *
     * @param srcFormat the source's format, or null to probe it
     * @param geometry  for a QED target: cluster and table size (its size is ignored; the source's is used)
     * @throws FileAlreadyExistsException if {@code dst} exists (nothing is overwritten)
     */
    public static Stats convert(Path src, ImageFormat srcFormat, Path dst, ImageFormat dstFormat,
                                CreateOptions geometry) throws IOException {
        return convert(src, srcFormat, dst, dstFormat, geometry, CacheMode.UNSAFE);
    }

    /** {@link #convert(Path, ImageFormat, Path, ImageFormat, CreateOptions)} with the target's cache mode. */
    public static Stats convert(Path src, ImageFormat srcFormat, Path dst, ImageFormat dstFormat,
                                CreateOptions geometry, CacheMode cache) throws IOException {
        ImageFormat from = srcFormat != null ? srcFormat : ImageFormat.probe(src);
        if (Files.exists(dst)) {
            throw new FileAlreadyExistsException(dst.toString());
        }
        try (Source in = from == ImageFormat.QED ? new QedSource(src) : new RawSource(src)) {
            long size = in.size();
            try (Target out = dstFormat == ImageFormat.QED
                    ? new QedTarget(dst, geometry.withSize(size), cache) : new RawTarget(dst, size, cache)) {
                return copy(in, out, size);
            }
        }
    }

    private static Stats copy(Source in, Target out, long size) throws IOException {
        int granule = out.granule();
        int chunk = Math.max(CHUNK, granule);
        ByteBuffer buf = ByteBuffer.allocateDirect(chunk);
        ByteBuffer zeros = ByteBuffer.allocateDirect(granule);
        long written = 0;
        long pos = 0;
        while (pos < size) {
            long runEnd = Math.min(size, in.runEnd(pos));
            if (in.knownZero(pos)) {
                pos = runEnd;
                continue;
            }
            int n = (int) Math.min(chunk, runEnd - pos);
            buf.clear().limit(n);
            in.read(buf, pos);
            // Scan granule by granule (aligned to the target's clusters) and write each run of non-zero granules
            // with one call.
            int runStart = -1;
            int off = 0;
            while (off < n) {
                int g = (int) Math.min(n - off, granule - Math.floorMod(pos + off, granule));
                boolean zero = buf.slice(off, g).mismatch(zeros.slice(0, g)) == -1;
                if (!zero && runStart < 0) {
                    runStart = off;
                } else if (zero && runStart >= 0) {
                    out.write(buf.slice(runStart, off - runStart), pos + runStart);
                    written += off - runStart;
                    runStart = -1;
                }
                off += g;
            }
            if (runStart >= 0) {
                out.write(buf.slice(runStart, n - runStart), pos + runStart);
                written += n - runStart;
            }
            pos += n;
        }
        return new Stats(size, written, size - written);
    }

    /** Guest bytes to copy. */
    private interface Source extends Closeable {
        long size();

        /** End of the run starting at {@code pos} that shares one state (data or known zeros). */
        long runEnd(long pos) throws IOException;

        /** Whether the run at {@code pos} is known to read as zeros without reading it. */
        boolean knownZero(long pos) throws IOException;

        /** Fills {@code dst} with guest bytes from {@code pos}. */
        void read(ByteBuffer dst, long pos) throws IOException;
    }

    private interface Target extends Closeable {
        int granule();

        void write(ByteBuffer src, long pos) throws IOException;
    }

    private static final class RawSource implements Source {
        /** Opened through the library's lock manager, so closing it never drops a lock this JVM holds. */
        private final SeekableByteChannel ch;
        private final long size;
        private final Path file;

        RawSource(Path file) throws IOException {
            this.file = file;
            this.ch = LockSafeFiles.newReadChannel(file);
            this.size = ch.size();
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public long runEnd(long pos) {
            return size;
        }

        @Override
        public boolean knownZero(long pos) {
            return false;
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

    /** A QED image and its chain, read through the library's mapping query a window at a time. */
    private static final class QedSource implements Source {
        /** Guest bytes mapped per query: bounds the memory a fragmented image's mapping takes. */
        private static final long WINDOW = 1L << 30;
        private final QedImage img;
        private List<MappedExtent> window = List.of();
        private int index;

        QedSource(Path file) throws IOException {
            this.img = QedImage.open(file, OpenOptions.readOnlyDefaults());
        }

        @Override
        public long size() {
            return img.size();
        }

        private MappedExtent extent(long pos) throws IOException {
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
        public long runEnd(long pos) throws IOException {
            return extent(pos).end();
        }

        /** Zero clusters anywhere in the chain, and bytes no image of the chain holds, read as zeros. */
        @Override
        public boolean knownZero(long pos) throws IOException {
            return extent(pos).readsAsZeros();
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

    private static final class RawTarget implements Target {
        private final RandomAccessFile file;
        private final FileChannel ch;
        private final CacheMode cache;

        RawTarget(Path path, long size, CacheMode cache) throws IOException {
            this.cache = cache;
            Files.createFile(path);
            this.file = new RandomAccessFile(path.toFile(), "rw");
            this.ch = file.getChannel();
            // Extend without writing: the skipped zero regions stay holes, as qemu-img leaves them.
            file.setLength(size);
        }

        @Override
        public int granule() {
            return RAW_GRANULE;
        }

        @Override
        public void write(ByteBuffer src, long pos) throws IOException {
            for (long p = pos; src.hasRemaining(); ) {
                p += ch.write(src, p);
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

        QedTarget(Path path, CreateOptions options, CacheMode cache) throws IOException {
            this.img = QedImage.create(path, options, OpenOptions.defaults().withCacheMode(cache));
        }

        @Override
        public int granule() {
            return img.geometry().clusterSize();
        }

        @Override
        public void write(ByteBuffer src, long pos) throws IOException {
            img.write(src, pos);
        }

        @Override
        public void close() throws IOException {
            img.close();
        }
    }
}
