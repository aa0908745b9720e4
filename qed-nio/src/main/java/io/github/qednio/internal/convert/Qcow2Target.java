package io.github.qednio.internal.convert;

import io.github.qednio.ops.ConversionRefusedException;
import io.github.qednio.internal.storage.RawImageFile;
import io.github.qednio.format.Qcow2Header;
import io.github.qednio.internal.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.BitSet;

/**
 * The qcow2 writer: version 3, refcount width 16, the source's cluster size (QED clusters larger than qcow2's
 * 2 MiB maximum become several contiguous 2 MiB qcow2 clusters). Layout past the source's end: the L2 tables, the
 * L1 table, the refcount blocks, the refcount table. Refcount 1 for exactly the clusters the qcow2 image uses
 * (cluster 0, data, its own metadata), 0 for everything else, so the old format's tables are free space, not leaks;
 * the COPIED flag on every L1 and data L2 entry, as {@code qemu-img check} expects for refcount 1.
 */
public final class Qcow2Target implements TargetPlan {
    static final int MAX_CLUSTER_BITS = Qcow2Header.MAX_CLUSTER_BITS;
    private static final int REFCOUNT_ORDER = 4;

    private final SourceLayout src;
    private final long cs;
    private final int clusterBits;
    private final long perL2;
    private final long[] l2Indices;
    private final long l2Offset;
    private final int l1Size;
    private final long l1Offset;
    private final long l1Clusters;
    private final long rbOffset;
    private final long rbCount;
    private final long rtOffset;
    private final long rtClusters;
    private final long end;
    private final byte[] backingName;
    private final long backingOffset;
    private final Qcow2Header header;

    private Qcow2Target(SourceLayout src, String name) throws ConversionRefusedException {
        this.src = src;
        this.cs = Math.min(src.clusterSize(), 1L << MAX_CLUSTER_BITS);
        this.clusterBits = Long.numberOfTrailingZeros(cs);
        if (cs < 512 || Long.bitCount(cs) != 1) {
            throw new ConversionRefusedException("cluster size", name + ": cluster size " + src.clusterSize()
                    + " cannot be expressed in qcow2", null);
        }
        this.perL2 = cs * (cs / 8);
        long entries = (src.virtualSize() + perL2 - 1) / perL2;
        if (entries * 8 > Qcow2Header.MAX_L1_BYTES) {
            throw new ConversionRefusedException("virtual size", name + ": a virtual size of " + src.virtualSize()
                    + " bytes needs more than QEMU's 32 MiB of qcow2 L1 table with " + cs + "-byte clusters", null);
        }
        this.l1Size = (int) entries;
        this.l2Indices = src.tablesTouched(perL2);
        long base = src.freeFrom();
        this.l2Offset = base;
        this.l1Offset = l2Offset + l2Indices.length * cs;
        this.l1Clusters = (l1Size * 8L + cs - 1) / cs;
        this.rbOffset = l1Offset + l1Clusters * cs;
        // The refcount structures count themselves: grow them until they cover every cluster up to their end.
        long perBlock = cs * 8 / (1 << REFCOUNT_ORDER);
        long blocks = 0;
        long table = 1;
        while (true) {
            long clusters = rbOffset / cs + blocks + table;
            long needBlocks = (clusters + perBlock - 1) / perBlock;
            long needTable = Math.max(1, (needBlocks * 8 + cs - 1) / cs);
            if (needBlocks == blocks && needTable == table) {
                break;
            }
            blocks = needBlocks;
            table = needTable;
        }
        this.rbCount = blocks;
        this.rtClusters = table;
        this.rtOffset = rbOffset + rbCount * cs;
        this.end = rtOffset + rtClusters * cs;
        if (rtClusters * cs > Qcow2Header.MAX_REFTABLE_BYTES || end / cs > Integer.MAX_VALUE) {
            throw new ConversionRefusedException("file size", name + ": the file is too large for QEMU's 8 MiB"
                    + " qcow2 refcount table with " + cs + "-byte clusters", null);
        }

        String format = src.backingFormat();
        this.backingName = src.backingFile() == null ? null : src.backingFile().getBytes(StandardCharsets.UTF_8);
        if (backingName != null && backingName.length > Qcow2Header.MAX_BACKING_FILE_SIZE) {
            throw new ConversionRefusedException("backing file name", name + ": the backing file name is "
                    + backingName.length + " bytes long; qcow2 allows 1023", null);
        }
        Qcow2Header probe = header(0, format);
        long nameAt = backingName == null ? 0 : TargetPlan.backingNameOffset(src, probe.encodedLength(),
                backingName.length, cs, "qcow2", name);
        this.backingOffset = nameAt;
        this.header = header(nameAt, format);
    }

    /** Plans the conversion of {@code src} (named {@code name} in messages). */
    public static Qcow2Target plan(SourceLayout src, String name) throws ConversionRefusedException {
        return new Qcow2Target(src, name);
    }

    private Qcow2Header header(long nameAt, String format) {
        return new Qcow2Header(3, nameAt, backingName == null ? 0 : backingName.length, clusterBits,
                src.virtualSize(), 0, l1Size, l1Offset, rtOffset, (int) rtClusters, 0, 0, 0, 0, 0, REFCOUNT_ORDER,
                Qcow2Header.V3_HEADER_LENGTH, 0, backingName == null ? null : format, null, 0, 0);
    }

    @Override
    public SourceLayout source() {
        return src;
    }

    @Override
    public long end() {
        return end;
    }

    @Override
    public ByteBuffer headerSector() {
        return TargetPlan.sector(header.encodeV3(), backingName, backingOffset);
    }

    @Override
    public void writeMetadata(RawImageFile file, Progress progress) throws IOException {
        TargetPlan.writeBackingName(file, backingName, backingOffset);
        BitSet used = new BitSet();
        used.set(0);
        for (int t = 0; t < l2Indices.length; t++) {
            long tableStart = l2Indices[t] * perL2;
            ByteBuffer l2 = ByteBuffer.allocate((int) cs);
            src.forEachCluster(tableStart, tableStart + perL2, cs, (g, host) -> {
                long entry = Qcow2Image.ZERO;
                if (host >= 0) {
                    used.set(Math.toIntExact(host / cs));
                    entry = host | Qcow2Image.COPIED;
                }
                l2.putLong((int) ((g - tableStart) / cs * 8), entry);
            });
            TargetPlan.write(file, l2, l2Offset + t * cs, progress);
        }
        used.set(Math.toIntExact(l2Offset / cs), Math.toIntExact(end / cs));
        ByteBuffer l1 = ByteBuffer.allocate(Math.toIntExact(l1Clusters * cs));
        for (int t = 0; t < l2Indices.length; t++) {
            l1.putLong((int) (l2Indices[t] * 8), (l2Offset + t * cs) | Qcow2Image.COPIED);
        }
        TargetPlan.write(file, l1, l1Offset, progress);
        long perBlock = cs / 2;
        for (long b = 0; b < rbCount; b++) {
            ByteBuffer block = ByteBuffer.allocate((int) cs);
            long first = b * perBlock;
            for (int c = used.nextSetBit((int) first); c >= 0 && c < first + perBlock; c = used.nextSetBit(c + 1)) {
                block.putShort((int) ((c - first) * 2), (short) 1);
            }
            TargetPlan.write(file, block, rbOffset + b * cs, progress);
        }
        ByteBuffer rt = ByteBuffer.allocate(Math.toIntExact(rtClusters * cs));
        for (long b = 0; b < rbCount; b++) {
            rt.putLong((int) (b * 8), rbOffset + b * cs);
        }
        TargetPlan.write(file, rt, rtOffset, progress);
    }
}
