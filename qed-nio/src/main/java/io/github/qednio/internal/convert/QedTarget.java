package io.github.qednio.internal.convert;

import io.github.qednio.ops.ConversionRefusedException;
import io.github.qednio.internal.storage.RawImageFile;
import io.github.qednio.format.Geometry;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The QED writer: the source's cluster size (4 KiB or more), one header cluster, the smallest table size from 2
 * (QEMU 7.2 cannot open table size 1, notes §14.1) whose geometry covers the virtual size and that QEMU can open;
 * the L1 table, then the L2 tables, past the source's end. QED keeps no free map, so the old format's metadata
 * clusters become leaks that {@code check -r leaks} or compaction can reclaim. A raw backing file gets
 * {@code QED_F_BACKING_FORMAT_NO_PROBE}; any other backing format is probed, as QED cannot record it.
 */
public final class QedTarget implements TargetPlan {
    private final SourceLayout src;
    private final Geometry geo;
    private final long cs;
    private final long perL2;
    private final long[] l2Indices;
    private final long l1Offset;
    private final long l2Offset;
    private final long end;
    private final byte[] backingName;
    private final long backingOffset;

    private QedTarget(SourceLayout src, String name) throws ConversionRefusedException {
        this.src = src;
        long sourceCluster = src.clusterSize();
        if (sourceCluster < QedHeader.MIN_CLUSTER_SIZE || sourceCluster > QedHeader.MAX_CLUSTER_SIZE) {
            throw new ConversionRefusedException("cluster size " + sourceCluster, name + ": cluster size "
                    + sourceCluster + ": QED clusters are 4 KiB to 64 MiB; use a copying conversion"
                    + " (qemu-img convert -O qed)", null);
        }
        if (src.virtualSize() % 512 != 0) {
            throw new ConversionRefusedException("virtual size", name + ": virtual size " + src.virtualSize()
                    + " is not a multiple of 512, as QED requires", null);
        }
        Geometry chosen = null;
        for (int ts = 2; ts <= QedHeader.MAX_TABLE_SIZE && chosen == null; ts *= 2) {
            Geometry g = Geometry.of((int) sourceCluster, ts, 1);
            if (g.isQemuCompatible() && g.maxImageSize() >= src.virtualSize()) {
                chosen = g;
            }
        }
        if (chosen == null) {
            throw new ConversionRefusedException("virtual size", name + ": virtual size " + src.virtualSize()
                    + " is more than QED can address with " + sourceCluster + "-byte clusters; use a copying"
                    + " conversion with larger clusters (qemu-img convert -O qed -o cluster_size=...)", null);
        }
        this.geo = chosen;
        this.cs = sourceCluster;
        this.perL2 = geo.bytesPerL2();
        this.l2Indices = src.tablesTouched(perL2);
        this.l1Offset = src.freeFrom();
        this.l2Offset = l1Offset + geo.tableBytes();
        this.end = l2Offset + l2Indices.length * geo.tableBytes();
        if (end > 0xFFFF_FFFFL * cs) {
            throw new ConversionRefusedException("file size", name + ": the file is too large for QED", null);
        }
        this.backingName = src.backingFile() == null ? null : src.backingFile().getBytes(StandardCharsets.UTF_8);
        long at = 0;
        if (backingName != null) {
            if (backingName.length > QedHeader.MAX_BACKING_FILENAME_SIZE) {
                throw new ConversionRefusedException("backing file name", name + ": backing file name of "
                        + backingName.length + " bytes is too long for QED", null);
            }
            at = TargetPlan.backingNameOffset(src, QedHeader.HEADER_LENGTH, backingName.length, cs, "QED", name);
        }
        this.backingOffset = at;
    }

    /** Plans the conversion of {@code src} (named {@code name} in messages). */
    public static QedTarget plan(SourceLayout src, String name) throws ConversionRefusedException {
        return new QedTarget(src, name);
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
        long features = 0;
        if (backingName != null) {
            features |= QedHeader.QED_F_BACKING_FILE;
            if ("raw".equals(src.backingFormat())) {
                features |= QedHeader.QED_F_BACKING_FORMAT_NO_PROBE;
            }
        }
        QedHeader h = new QedHeader(cs, geo.tableSize(), 1, features, 0, 0, l1Offset, src.virtualSize(),
                backingName == null ? 0 : backingOffset, backingName == null ? 0 : backingName.length);
        return TargetPlan.sector(h.encode(), backingName, backingOffset);
    }

    @Override
    public void writeMetadata(RawImageFile file, Progress progress) throws IOException {
        TargetPlan.writeBackingName(file, backingName, backingOffset);
        int tableBytes = Math.toIntExact(geo.tableBytes());
        for (int t = 0; t < l2Indices.length; t++) {
            long tableStart = l2Indices[t] * perL2;
            ByteBuffer l2 = ByteBuffer.allocate(tableBytes).order(ByteOrder.LITTLE_ENDIAN);
            src.forEachCluster(tableStart, tableStart + perL2, cs, (g, host) ->
                    l2.putLong((int) ((g - tableStart) / cs * 8), host < 0 ? Geometry.ENTRY_ZERO : host));
            TargetPlan.write(file, l2, l2Offset + t * geo.tableBytes(), progress);
        }
        ByteBuffer l1 = ByteBuffer.allocate(tableBytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int t = 0; t < l2Indices.length; t++) {
            l1.putLong((int) (l2Indices[t] * 8), l2Offset + t * geo.tableBytes());
        }
        TargetPlan.write(file, l1, l1Offset, progress);
    }
}
