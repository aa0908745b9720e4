package io.github.qednio.internal.qed;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A deliberately simple, independent QED reader for tests: walks L1 and L2 in a byte array exactly as notes §5
 * describes (entry 0 = backing or zeros, 1 = zero cluster, otherwise a cluster that must satisfy the §5.3
 * predicates), with none of the engine's caching, runs or extents. The oracle for hostile and fuzzed images.
 */
final class ReferenceImage {
    final long clusterSize;
    final long tableSize;
    final long headerSize;
    final long l1Offset;
    final long imageSize;
    final long entries;
    private final ByteBuffer file;
    private final long fileSize;
    private final byte[] backing;

    /**
     * @param file    the image file's bytes; the header must already have been accepted by the engine
     * @param backing the guest content of the backing file (its whole virtual disk), or null without one
     */
    ReferenceImage(byte[] file, byte[] backing) {
        this.file = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        this.clusterSize = Integer.toUnsignedLong(this.file.getInt(4));
        this.tableSize = Integer.toUnsignedLong(this.file.getInt(8));
        this.headerSize = Integer.toUnsignedLong(this.file.getInt(12));
        this.l1Offset = this.file.getLong(40);
        this.imageSize = this.file.getLong(48);
        this.entries = tableSize * clusterSize / 8;
        this.fileSize = file.length / clusterSize * clusterSize;
        this.backing = backing;
    }

    long clusters() {
        return (imageSize + clusterSize - 1) / clusterSize;
    }

    private boolean validCluster(long off) {
        return Long.remainderUnsigned(off, clusterSize) == 0 && Long.compareUnsigned(off, headerSize * clusterSize) >= 0
                && Long.compareUnsigned(off, fileSize) < 0;
    }

    private boolean validTable(long off) {
        long last = off + (tableSize - 1) * clusterSize;
        return Long.compareUnsigned(last, off) >= 0 && validCluster(off) && validCluster(last);
    }

    private long entry(long tableOffset, long index) {
        return file.getLong((int) (tableOffset + index * 8));
    }

    /** The L1 entry covering guest cluster {@code k}. */
    long l1Entry(long k) {
        return entry(l1Offset, k / entries);
    }

    /**
     * The guest bytes of cluster {@code k} (a whole cluster; bytes past the virtual size are meaningless), or
     * null if reading it must fail because an entry on the way is invalid.
     */
    byte[] cluster(long k) {
        int cs = (int) clusterSize;
        long l1e = l1Entry(k);
        if (l1e == 0) {
            return fromBacking(k);
        }
        if (!validTable(l1e)) {
            return null;
        }
        long l2e = entry(l1e, k % entries);
        if (l2e == 0) {
            return fromBacking(k);
        }
        if (l2e == 1) {
            return new byte[cs];
        }
        if (!validCluster(l2e)) {
            return null;
        }
        byte[] b = new byte[cs];
        file.get((int) l2e, b);
        return b;
    }

    private byte[] fromBacking(long k) {
        byte[] b = new byte[(int) clusterSize];
        if (backing != null) {
            long from = k * clusterSize;
            long to = Math.min(Math.min(from + clusterSize, backing.length), imageSize);
            if (to > from) {
                System.arraycopy(backing, (int) from, b, 0, (int) (to - from));
            }
        }
        return b;
    }

    /**
     * Guest clusters whose tables say something (an L1 entry that is set), at most {@code limit}: everything
     * else reads from the backing file or as zeros.
     */
    List<Long> interestingClusters(int limit) {
        List<Long> out = new ArrayList<>();
        long l1Entries = Math.min(entries, (clusters() + entries - 1) / entries);
        for (long i = 0; i < l1Entries && out.size() < limit; i++) {
            long l1e = entry(l1Offset, i);
            if (l1e == 0) {
                continue;
            }
            if (!validTable(l1e)) {
                out.add(i * entries);
                continue;
            }
            for (long j = 0; j < entries && out.size() < limit; j++) {
                long k = i * entries + j;
                if (k < clusters() && entry(l1e, j) != 0) {
                    out.add(k);
                }
            }
        }
        return out;
    }
}
