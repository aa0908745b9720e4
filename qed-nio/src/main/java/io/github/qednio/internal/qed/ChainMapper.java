package io.github.qednio.internal.qed;

import io.github.qednio.image.MappedExtent;
import io.github.qednio.internal.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Builds {@link MappedExtent}s for a QED image and its backing chain, the way {@code qemu-img map} walks it: each
 * level's own extents first, then the backing file for what the level leaves unallocated. A raw backing file maps
 * as data at its own offsets up to its end; past the end of a backing file, the bytes read as zeros and are
 * reported at the level of the overlay above it (QEMU's {@code bdrv_co_block_status}). A qcow2 backing file maps
 * its own extents the same way; its compressed clusters are data without a host offset.
 */
public final class ChainMapper {
    private ChainMapper() {
    }

    /**
     * Appends to {@code out} the runs of {@code [start, end)} as {@code image} at chain level {@code depth} sees
     * them; {@code own} looks up the image's own extents.
     */
    public static void map(Lookup own, Backing backing, String backingName, Path name, long start, long end, int depth,
                    List<MappedExtent> out) throws IOException {
        long pos = start;
        while (pos < end) {
            Extent e = own.extentAt(pos, end);
            long stop = Math.min(e.end(), end);
            switch (e.kind()) {
                case DATA -> add(out, new MappedExtent(pos, stop - pos, MappedExtent.Type.DATA, depth, name,
                        e.hostOffset()));
                case ZERO -> add(out, new MappedExtent(pos, stop - pos, MappedExtent.Type.ZERO, depth, null, -1));
                case UNALLOCATED -> mapBacking(backing, backingName, name, pos, stop, depth, out);
            }
            pos = stop;
        }
    }

    private static void mapBacking(Backing backing, String backingName, Path name, long pos, long stop, int depth,
                                   List<MappedExtent> out) throws IOException {
        if (backing == null) {
            add(out, new MappedExtent(pos, stop - pos, MappedExtent.Type.UNALLOCATED, depth, null, -1));
            return;
        }
        Path baseName = name.resolveSibling(backingName);
        QedEngine base = backing.image();
        long inside = Math.max(pos, Math.min(stop, base != null ? base.size() : backing.size()));
        if (inside > pos) {
            if (base != null) {
                base.mapInto(baseName, pos, inside, depth + 1, out);
            } else if (backing.qcow2() != null) {
                mapQcow2(backing, baseName, pos, inside, depth + 1, out);
            } else {
                add(out, new MappedExtent(pos, inside - pos, MappedExtent.Type.DATA, depth + 1, baseName, pos));
            }
        }
        if (stop > inside) {
            add(out, new MappedExtent(inside, stop - inside, MappedExtent.Type.UNALLOCATED, depth, null, -1));
        }
    }

    /**
     * The runs of {@code [start, end)} of a qcow2 image at the top of its chain ({@link BackingChain#openQcow2Top}),
     * its data named by the path it was opened with, as {@code qemu-img map} walks it.
     */
    public static List<MappedExtent> mapQcow2Top(Backing top, long start, long end) throws IOException {
        List<MappedExtent> out = new java.util.ArrayList<>();
        mapQcow2(top, top.path(), start, Math.min(end, top.size()), 0, out);
        return out;
    }

    /**
     * A qcow2 backing file at chain level {@code depth}: its own extents (compressed data without a host offset),
     * then its own backing file for what it leaves unallocated.
     */
    private static void mapQcow2(Backing backing, Path name, long pos, long stop, int depth, List<MappedExtent> out)
            throws IOException {
        Qcow2Image q = backing.qcow2();
        for (MappedExtent e : q.map(pos, stop - pos)) {
            switch (e.type()) {
                case DATA -> add(out, new MappedExtent(e.start(), e.length(), MappedExtent.Type.DATA, depth, name,
                        e.hostOffset()));
                case ZERO -> add(out, new MappedExtent(e.start(), e.length(), MappedExtent.Type.ZERO, depth,
                        e.hostOffset() < 0 ? null : name, e.hostOffset()));
                case UNALLOCATED -> mapBacking(backing.below(), q.header().backingFile(), name, e.start(), e.end(),
                        depth, out);
            }
        }
    }

    /** Appends {@code e}, merged into the last run if it continues it. */
    static void add(List<MappedExtent> out, MappedExtent e) {
        int last = out.size() - 1;
        if (last >= 0 && out.get(last).isContinuedBy(e)) {
            out.set(last, out.get(last).extendedBy(e));
        } else {
            out.add(e);
        }
    }

    /** An image's own extents. */
    @FunctionalInterface
    public interface Lookup {
        Extent extentAt(long pos, long end) throws IOException;
    }
}
