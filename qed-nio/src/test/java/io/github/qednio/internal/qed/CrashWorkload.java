package io.github.qednio.internal.qed;

import io.github.qednio.image.Progress;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A seeded random guest workload for crash tests: writes (allocating, in place, partial and multi-cluster),
 * write-zeroes and flushes; with {@code reclaiming}, also discards (whose clusters later writes reuse), and rarely
 * a compaction or a leak-reclaiming check. The same seed always gives the same operations and data, so a parent process can
 * recompute what a killed child was doing.
 */
final class CrashWorkload {
    public enum Kind { WRITE, ZEROES, FLUSH, DISCARD, COMPACT, RECLAIM_LEAKS, REPAIR_LEAKS }

    /** One guest operation; the data of a write comes from {@code dataSeed}. */
    record Op(int index, Kind kind, long position, int length, long dataSeed) {
        /** The bytes this operation puts at {@code position}: its data, or zeros. */
        byte[] data() {
            byte[] b = new byte[length];
            if (kind == Kind.WRITE) {
                new Random(dataSeed).nextBytes(b);
            }
            return b;
        }

        /** Runs the operation on the image. */
        void apply(QedImage image) throws IOException {
            switch (kind) {
                case WRITE -> image.write(ByteBuffer.wrap(data()), position);
                case ZEROES -> image.writeZeroes(position, length);
                case FLUSH -> image.flush();
                case DISCARD -> image.discard(position, length);
                case COMPACT -> image.compact(Progress.NONE);
                case RECLAIM_LEAKS -> image.check(Repair.ERRORS_AND_LEAKS);
                case REPAIR_LEAKS -> image.check(Repair.LEAKS);
            }
        }

        /**
         * Runs the operation through a channel on the {@code qed:} disk: write-zeroes becomes a write of zero bytes
         * (the same guest content), flush becomes {@code force}.
         */
        void apply(java.nio.channels.FileChannel disk) throws IOException {
            if (kind == Kind.FLUSH || kind == Kind.COMPACT || kind == Kind.RECLAIM_LEAKS || kind == Kind.REPAIR_LEAKS) {
                disk.force(true);
                return;
            }
            ByteBuffer buf = kind == Kind.WRITE ? ByteBuffer.wrap(data()) : ByteBuffer.allocate(length);
            for (long p = position; buf.hasRemaining(); ) {
                p += disk.write(buf, p);
            }
        }
    }

    private final Random random;
    private final long size;
    private final int clusterSize;
    private final boolean reclaiming;
    private final List<Op> ops = new ArrayList<>();

    CrashWorkload(long seed, long size, int clusterSize) {
        this(seed, size, clusterSize, false);
    }

    CrashWorkload(long seed, long size, int clusterSize, boolean reclaiming) {
        this.random = new Random(seed);
        this.size = size;
        this.clusterSize = clusterSize;
        this.reclaiming = reclaiming;
    }

    /** The next operation. */
    Op next() {
        int index = ops.size();
        int r = random.nextInt(100);
        Op op;
        if (reclaiming && r < 30) {
            // Discards as often as writes of fresh data, so that allocations keep reusing freed clusters.
            int kind = random.nextInt(100);
            if (kind < 3) {
                op = new Op(index, Kind.COMPACT, 0, 0, 0);
            } else if (kind < 6) {
                op = new Op(index, Kind.RECLAIM_LEAKS, 0, 0, 0);
            } else {
                int len = random.nextBoolean() ? clusterSize * (1 + random.nextInt(16))
                        : 1 + random.nextInt(clusterSize * 6);
                long pos = random.nextBoolean() ? position(len) / clusterSize * clusterSize : position(len);
                op = new Op(index, Kind.DISCARD, pos, (int) Math.min(len, size - pos), 0);
            }
        } else if (r < 12) {
            op = new Op(index, Kind.FLUSH, 0, 0, 0);
        } else if (r < 25) {
            int len = random.nextBoolean() ? clusterSize * (1 + random.nextInt(6))
                    : 1 + random.nextInt(clusterSize * 4);
            long pos = random.nextBoolean() ? position(len) / clusterSize * clusterSize : position(len);
            op = new Op(index, Kind.ZEROES, pos, (int) Math.min(len, size - pos), 0);
        } else {
            int len = length();
            long pos = position(len);
            op = new Op(index, Kind.WRITE, pos, (int) Math.min(len, size - pos), random.nextLong());
        }
        ops.add(op);
        return op;
    }

    /** The first {@code n} operations, generating them if needed. */
    List<Op> first(int n) {
        while (ops.size() < n) {
            next();
        }
        return List.copyOf(ops.subList(0, n));
    }

    private int length() {
        int r = random.nextInt(100);
        if (r < 45) {
            return 1 + random.nextInt(700);
        }
        if (r < 75) {
            return 1 + random.nextInt(2 * clusterSize);
        }
        if (r < 92) {
            return 1 + random.nextInt(12 * clusterSize);
        }
        return clusterSize * (1 + random.nextInt(8));
    }

    /** Near an earlier operation half of the time (so writes go in place), anywhere otherwise. */
    private long position(int len) {
        long pos;
        if (!ops.isEmpty() && random.nextInt(100) < 45) {
            Op near = ops.get(ops.size() - 1 - random.nextInt(Math.min(ops.size(), 16)));
            pos = near.position() + random.nextInt(2 * clusterSize) - clusterSize / 2;
        } else if (random.nextInt(4) == 0) {
            pos = (long) random.nextInt((int) (size / clusterSize)) * clusterSize;
        } else {
            pos = (long) (random.nextDouble() * size);
        }
        return Math.max(0, Math.min(pos, size - Math.min(len, size)));
    }
}
