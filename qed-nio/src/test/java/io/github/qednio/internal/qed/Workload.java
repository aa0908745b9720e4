package io.github.qednio.internal.qed;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Seeded random guest operations for interop tests, concentrated around the places where bugs live: the first
 * clusters, every L2 table boundary, the last byte of the disk, and a few random spots; lengths from one byte to
 * several clusters, rarely aligned. The same list is applied to the engine, to a raw model file, or rendered as
 * {@code qemu-io} commands.
 */
final class Workload {
    /** Multiplies operation counts for soak runs: {@code -Dqed.soak=20}. */
    static final int SOAK = Math.max(1, Integer.getInteger("qed.soak", 1));

    sealed interface Op permits Write, Zero, Flush, Reopen {
    }

    /** Write {@code length} bytes at {@code offset}: {@code pattern} repeated, or seeded random bytes if negative. */
    record Write(long offset, int length, int pattern, long dataSeed) implements Op {
        byte[] data() {
            byte[] b = new byte[length];
            if (pattern >= 0) {
                Arrays.fill(b, (byte) pattern);
            } else {
                new Random(dataSeed).nextBytes(b);
            }
            return b;
        }
    }

    record Zero(long offset, long length) implements Op {
    }

    record Flush() implements Op {
    }

    record Reopen() implements Op {
    }

    private final Random rnd;
    private final long size;
    private final long cs;
    private final List<Long> hotSpots = new ArrayList<>();
    /**
     * Length of the occasional write spanning several L2 tables. At most 8 MiB: with 4 KiB clusters and
     * table_size 8 or more, QEMU 7.2 corrupts its own image on single requests of 16 MiB - 4 KiB (notes §14.4).
     */
    private final int longWrite;

    private Workload(long seed, long size, long clusterSize, long bytesPerL2) {
        this.rnd = new Random(seed);
        this.size = size;
        this.cs = clusterSize;
        this.longWrite = (int) Math.min(8L << 20, Math.min(size, bytesPerL2 * 5 / 2));
        hotSpots.add(0L);
        hotSpots.add(size);
        for (long b = bytesPerL2; b < size && hotSpots.size() < 8; b += bytesPerL2) {
            hotSpots.add(b);
        }
        for (int i = 0; i < 3; i++) {
            hotSpots.add(Math.floorMod(rnd.nextLong(), size));
        }
    }

    /**
     * @param qemuIoOnly only operations {@code qemu-io} can express (pattern writes and zero writes)
     */
    static List<Op> random(long seed, long size, long clusterSize, long bytesPerL2, int count, boolean qemuIoOnly) {
        return new Workload(seed, size, clusterSize, bytesPerL2).generate(count, qemuIoOnly);
    }

    private List<Op> generate(int count, boolean qemuIoOnly) {
        List<Op> ops = new ArrayList<>();
        // The very last byte, and a write ending exactly at the end, always appear.
        ops.add(new Write(size - 1, 1, 0x7f, rnd.nextLong()));
        for (int i = 0; i < count; i++) {
            int dice = rnd.nextInt(100);
            if (!qemuIoOnly && dice < 3) {
                ops.add(new Flush());
            } else if (!qemuIoOnly && dice < 5) {
                ops.add(new Reopen());
            } else if (dice < 20) {
                long off = offset();
                long len = Math.min(length(), size - off);
                if (rnd.nextBoolean()) {
                    // Cluster-aligned, so that whole clusters can become zero clusters.
                    off = off / cs * cs;
                    len = Math.min(size - off, (1 + rnd.nextInt(4)) * cs);
                }
                ops.add(new Zero(off, Math.max(1, len)));
            } else {
                long off;
                int len = length();
                if (dice < 25) {
                    len = (int) Math.min(len, size);
                    off = size - len;
                } else if (dice < 27) {
                    len = longWrite;
                    off = Math.floorMod(rnd.nextLong(), size - len + 1);
                } else {
                    off = offset();
                    len = (int) Math.max(1, Math.min(len, size - off));
                }
                int pattern = qemuIoOnly || rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(255) : -1;
                ops.add(new Write(off, len, pattern, rnd.nextLong()));
            }
        }
        return ops;
    }

    private long offset() {
        if (rnd.nextInt(10) == 0) {
            return Math.floorMod(rnd.nextLong(), size);
        }
        long spot = hotSpots.get(rnd.nextInt(hotSpots.size()));
        long off = spot + (long) ((rnd.nextDouble() * 6 - 3) * cs);
        if (rnd.nextInt(3) == 0) {
            off = off / 512 * 512;
        }
        return Math.max(0, Math.min(size - 1, off));
    }

    private int length() {
        int d = rnd.nextInt(10);
        if (d < 4) {
            return 1 + rnd.nextInt(1200);
        }
        if (d < 7) {
            return 1 + rnd.nextInt((int) cs);
        }
        if (d < 9) {
            return (int) (cs + rnd.nextInt((int) (2 * cs)));
        }
        return rnd.nextBoolean() ? (int) cs : (int) (2 * cs);
    }

    /** Applies a write or zero-write to a raw model file. */
    static void applyToRaw(Op op, FileChannel raw) throws IOException {
        if (op instanceof Write w) {
            ByteBuffer b = ByteBuffer.wrap(w.data());
            long p = w.offset();
            while (b.hasRemaining()) {
                p += raw.write(b, p);
            }
        } else if (op instanceof Zero z) {
            ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(z.length(), 1 << 20));
            for (long p = z.offset(); p < z.offset() + z.length(); ) {
                zeros.clear().limit((int) Math.min(zeros.capacity(), z.offset() + z.length() - p));
                while (zeros.hasRemaining()) {
                    p += raw.write(zeros, p);
                }
            }
        }
    }

    /** The {@code qemu-io -c} command for a write or zero-write. */
    static String qemuIo(Op op) {
        if (op instanceof Write w) {
            if (w.pattern() < 0) {
                throw new IllegalArgumentException("qemu-io writes only patterns: " + w);
            }
            return "write -P 0x" + Integer.toHexString(w.pattern()) + " " + w.offset() + " " + w.length();
        }
        if (op instanceof Zero z) {
            return "write -z " + z.offset() + " " + z.length();
        }
        throw new IllegalArgumentException("no qemu-io command for " + op);
    }
}
