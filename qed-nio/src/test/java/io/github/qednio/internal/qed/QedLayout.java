package io.github.qednio.internal.qed;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * An image file's tables as they are on disk, parsed independently of the engine (raw little-endian reads), so
 * tests can compare where the engine and QEMU put things.
 *
 * @param clusterSize  header {@code cluster_size}
 * @param tableSize    header {@code table_size}
 * @param features     header {@code features}
 * @param fileLength   the file's length in bytes
 * @param l1           non-zero L1 entries by index
 * @param l2           for each L1 index with a table inside the file: that table's non-zero entries by index
 */
public record QedLayout(long clusterSize, long tableSize, long features, long fileLength, Map<Integer, Long> l1,
                 Map<Integer, Map<Integer, Long>> l2) {

    static QedLayout read(Path image) throws IOException {
        try (FileChannel ch = FileChannel.open(image)) {
            ByteBuffer h = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(h, 0);
            h.flip();
            long cs = Integer.toUnsignedLong(h.getInt(4));
            long ts = Integer.toUnsignedLong(h.getInt(8));
            long features = h.getLong(0x10);
            long l1Offset = h.getLong(0x28);
            int entries = (int) (cs * ts / 8);
            long length = ch.size();
            long[] l1 = readTable(ch, l1Offset, entries);
            Map<Integer, Long> l1Map = new TreeMap<>();
            Map<Integer, Map<Integer, Long>> l2Map = new TreeMap<>();
            for (int i = 0; i < entries; i++) {
                if (l1[i] == 0) {
                    continue;
                }
                l1Map.put(i, l1[i]);
                if (l1[i] % cs == 0 && l1[i] + cs * ts <= length) {
                    long[] l2 = readTable(ch, l1[i], entries);
                    Map<Integer, Long> m = new TreeMap<>();
                    for (int j = 0; j < entries; j++) {
                        if (l2[j] != 0) {
                            m.put(j, l2[j]);
                        }
                    }
                    l2Map.put(i, m);
                }
            }
            return new QedLayout(cs, ts, features, length, l1Map, l2Map);
        }
    }

    /** The {@code features} field (offset 0x10) read straight from the file. */
    public static long featuresOnDisk(Path image) throws IOException {
        try (FileChannel ch = FileChannel.open(image)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, 0x10);
            return b.flip().getLong();
        }
    }

    /** Entry {@code index} of the L2 table under L1 entry {@code l1Index}, 0 when unallocated. */
    long l2Entry(int l1Index, int index) {
        Map<Integer, Long> t = l2.get(l1Index);
        return t == null ? 0 : t.getOrDefault(index, 0L);
    }

    private static long[] readTable(FileChannel ch, long offset, int entries) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(entries * 8).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, offset + b.position()) < 0) {
                break;
            }
        }
        b.flip();
        long[] t = new long[entries];
        for (int i = 0; i < entries && b.remaining() >= 8; i++) {
            t[i] = b.getLong();
        }
        return t;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("file length 0x").append(Long.toHexString(fileLength))
                .append(", features 0x").append(Long.toHexString(features));
        l1.forEach((i, off) -> {
            sb.append("\n  L1[").append(i).append("] = 0x").append(Long.toHexString(off)).append(':');
            l2.getOrDefault(i, Map.of()).forEach((j, e) ->
                    sb.append(" [").append(j).append("]=0x").append(Long.toHexString(e)));
        });
        return sb.toString();
    }
}
