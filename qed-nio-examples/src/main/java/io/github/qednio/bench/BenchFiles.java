package io.github.qednio.bench;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.cli.Buffers;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/** Files the benchmarks work on, in a scratch directory under {@code -Dbench.dir} (default: the temp dir). */
final class BenchFiles {
    static final int KIB64 = 64 * 1024;
    static final int KIB4 = 4096;
    private static final int FILL_CHUNK = 1 << 20;
    /**
     * The full files are written in 64 KiB requests at 64 KiB-aligned file offsets, so that the page cache holds
     * both in the same folio sizes. (Written in 1 MiB requests, a raw file gets large folios on recent kernels, and
     * each random 4 KiB rewrite then dirties a whole folio: 3x slower rewrites, measured on Linux 6.18/ext4.)
     */
    private static final int FULL_FILL_CHUNK = 64 * 1024;

    private BenchFiles() {
    }

    /** A new scratch directory. */
    static Path newDir(String prefix) throws IOException {
        Path base = Path.of(System.getProperty("bench.dir", System.getProperty("java.io.tmpdir")));
        Files.createDirectories(base);
        return Files.createTempDirectory(base, prefix);
    }

    /** A direct buffer of {@code n} bytes of non-zero pseudo-random data. */
    static ByteBuffer data(int n, long seed) {
        ByteBuffer b = ByteBuffer.allocateDirect(n);
        SplittableRandom r = new SplittableRandom(seed);
        while (b.remaining() >= 8) {
            b.putLong(r.nextLong() | 1L);
        }
        while (b.hasRemaining()) {
            b.put((byte) 1);
        }
        return b.flip();
    }

    /**
     * A fully allocated image ({@link #fullQed}) or raw file ({@link #fullRaw}) of {@code size} bytes, shared by all
     * benchmarks and forks of a run: made once in the {@code -Dbench.dir} directory, reused afterwards (the script
     * removes it). Both are flushed to disk when made, so no benchmark starts with the other's dirty pages.
     */
    static Path shared(String kind, long size) throws IOException {
        Path base = Path.of(System.getProperty("bench.dir", System.getProperty("java.io.tmpdir")));
        Files.createDirectories(base);
        Path file = base.resolve("shared-full-" + size + "." + kind);
        if (!Files.exists(file)) {
            Path dir = Files.createTempDirectory(base, "making-");
            Path made = kind.equals("qed") ? fullQed(dir, "full", size) : fullRaw(dir, "full", size);
            Files.move(made, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            deleteTree(dir);
        }
        return file;
    }

    /** A QED image of {@code size} bytes with every cluster allocated, in guest order. */
    static Path fullQed(Path dir, String name, long size) throws IOException {
        Path file = dir.resolve(name);
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(size))) {
            ByteBuffer buf = data(FULL_FILL_CHUNK, 1);
            for (long pos = 0; pos < size; pos += FULL_FILL_CHUNK) {
                img.write(buf.clear().limit((int) Math.min(FULL_FILL_CHUNK, size - pos)), pos);
            }
        }
        return file;
    }

    /** A raw file of {@code size} bytes with the same content as {@link #fullQed}. */
    static Path fullRaw(Path dir, String name, long size) throws IOException {
        Path file = dir.resolve(name);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer buf = data(FULL_FILL_CHUNK, 1);
            for (long pos = 0; pos < size; pos += FULL_FILL_CHUNK) {
                Buffers.writeFully(ch, buf.clear().limit((int) Math.min(FULL_FILL_CHUNK, size - pos)), pos);
            }
            ch.force(true);
        }
        return file;
    }

    /** A raw file of {@code size} bytes, alternately 1 MiB of data and 1 MiB of zeros (a hole). */
    static Path halfZeroRaw(Path dir, String name, long size) throws IOException {
        Path file = dir.resolve(name);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer buf = data(FILL_CHUNK, 2);
            for (long pos = 0; pos < size; pos += 2L * FILL_CHUNK) {
                Buffers.writeFully(ch, buf.clear().limit((int) Math.min(FILL_CHUNK, size - pos)), pos);
            }
            ch.truncate(size);
            if (ch.size() < size) {
                Buffers.writeFully(ch, ByteBuffer.allocate(1), size - 1);
            }
            ch.force(true);
        }
        return file;
    }

    /** {@code count} distinct cluster indices in {@code [0, clusters)}, in random order (a partial shuffle). */
    static long[] distinctClusters(long clusters, int count, long seed) {
        if (count > clusters || clusters > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(count + " distinct clusters out of " + clusters);
        }
        int[] all = new int[(int) clusters];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        SplittableRandom r = new SplittableRandom(seed);
        long[] out = new long[count];
        for (int i = 0; i < count; i++) {
            int j = i + r.nextInt(all.length - i);
            int t = all[i];
            all[i] = all[j];
            all[j] = t;
            out[i] = all[i];
        }
        return out;
    }

    static void deleteTree(Path dir) {
        if (dir == null) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
