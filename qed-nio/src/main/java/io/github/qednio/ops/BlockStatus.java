package io.github.qednio.ops;

import io.github.qednio.image.MappedExtent;
import io.github.qednio.internal.qed.QedEngine;
import io.github.qednio.internal.qed.Backing;
import io.github.qednio.internal.qcow2.Qcow2Image;
import io.github.qednio.internal.qed.Extent;
import java.io.IOException;
import java.util.List;

/**
 * QEMU 7.2's block status of a chain ({@code bdrv_block_status_above}), which {@code qemu-img compare -s} compares
 * flag for flag, piece by piece: each driver reports a piece of its own length (QED and qcow2 stop at the end of
 * an L2 table's range, qcow2 also after one compressed cluster and 2^31 - 1 bytes), and a piece reaching the end of
 * the top image is marked so ({@code BDRV_BLOCK_EOF}). Two images with the same content and allocation can
 * therefore differ in status where their pieces end apart.
 *
 * <p>A raw file is data throughout: Java 17 cannot see its holes, where QEMU reports them as zeros.
 */
final class BlockStatus {
    static final int DATA = 0x01;
    static final int ZERO = 0x02;
    static final int OFFSET_VALID = 0x04;
    static final int ALLOCATED = 0x10;
    static final int EOF = 0x20;

    private BlockStatus() {
    }

    /**
     * A piece: its status flags and where it ends.
     *
     * @param flags the {@code BDRV_BLOCK_*} flags
     * @param end   guest offset just past the piece ({@code pos} itself: nothing there, past the layer's end)
     */
    record Piece(int flags, long end) {
    }

    /** One image of a chain, as its QEMU driver reports its own allocation. */
    interface Layer {
        long size() throws IOException;

        /** The layer below, or null. */
        Layer below() throws IOException;

        /** Whether the format has backing files at all (raw has none, and is never "zero because no backing"). */
        boolean supportsBacking();

        /** The driver's own piece at {@code pos} (below {@link #size()}), ending at most at {@code limit}. */
        Piece driver(long pos, long limit) throws IOException;
    }

    /** The status of {@code [pos, pos + bytes)} through the chain below {@code top}, as QEMU 7.2 computes it. */
    static Piece above(Layer top, long pos, long bytes) throws IOException {
        Piece r = layer(top, pos, bytes);
        if ((r.flags() & ALLOCATED) != 0 || r.end() == pos) {
            return r;
        }
        long eof = (r.flags() & EOF) != 0 ? r.end() : -1;
        int flags = r.flags();
        long end = r.end();
        for (Layer p = top.below(); p != null; p = p.below()) {
            Piece s = layer(p, pos, end - pos);
            if (s.end() == pos) {
                // The top deferred to a layer that is short here: its zeros count as allocated at this layer.
                flags = ZERO | ALLOCATED;
                break;
            }
            flags = s.flags();
            end = s.end();
            if ((flags & ALLOCATED) != 0) {
                flags &= ~EOF; // not the top's end
                break;
            }
        }
        return new Piece(end == eof ? flags | EOF : flags, end);
    }

    /** One layer's status ({@code bdrv_co_block_status}). */
    private static Piece layer(Layer l, long pos, long bytes) throws IOException {
        long size = l.size();
        if (pos >= size) {
            return new Piece(EOF, pos);
        }
        long limit = Math.min(size, pos + bytes);
        Piece d = l.driver(pos, limit);
        int flags = d.flags();
        long end = Math.min(d.end(), limit);
        if ((flags & (DATA | ZERO)) != 0) {
            flags |= ALLOCATED;
        } else if (l.supportsBacking()) {
            Layer b = l.below();
            if (b == null || pos >= b.size()) {
                flags |= ZERO;
            }
        }
        return new Piece(end == size ? flags | EOF : flags, end);
    }

    /** The layer of a backing file: raw, QED or qcow2. */
    static Layer of(Backing b) {
        if (b == null) {
            return null;
        }
        if (b.image() != null) {
            return qed(b.image());
        }
        if (b.qcow2() != null) {
            return qcow2(b);
        }
        return raw(b::size);
    }

    /** A raw file of {@code size} bytes: data, with a valid offset, to its end. */
    static Layer raw(SizeSource size) {
        return new Layer() {
            @Override
            public long size() throws IOException {
                return size.size();
            }

            @Override
            public Layer below() {
                return null;
            }

            @Override
            public boolean supportsBacking() {
                return false;
            }

            @Override
            public Piece driver(long pos, long limit) {
                return new Piece(DATA | OFFSET_VALID, limit);
            }
        };
    }

    /** A QED image: its own extents, which never cross an L2 table's range ({@code qed_find_cluster}). */
    static Layer qed(QedEngine img) {
        return new Layer() {
            @Override
            public long size() {
                return img.size();
            }

            @Override
            public Layer below() {
                return of(img.backing());
            }

            @Override
            public boolean supportsBacking() {
                return true;
            }

            @Override
            public Piece driver(long pos, long limit) throws IOException {
                Extent e = img.extentAt(pos);
                int flags = switch (e.kind()) {
                    case DATA -> DATA | OFFSET_VALID;
                    case ZERO -> ZERO;
                    case UNALLOCATED -> 0;
                };
                return new Piece(flags, Math.min(limit, e.end()));
            }
        };
    }

    /**
     * A qcow2 image ({@code qcow2_co_block_status}): a piece ends with its L2 table's range, after 2^31 - 1 bytes, and
     * after one cluster when compressed.
     */
    static Layer qcow2(Backing b) {
        Qcow2Image q = b.qcow2();
        long cs = q.header().clusterSize();
        long perTable = cs * (cs / 8);
        return new Layer() {
            @Override
            public long size() {
                return q.size();
            }

            @Override
            public Layer below() {
                return of(b.below());
            }

            @Override
            public boolean supportsBacking() {
                return true;
            }

            @Override
            public Piece driver(long pos, long limit) throws IOException {
                long stop = Math.min(limit, Math.min((pos / perTable + 1) * perTable, pos + Integer.MAX_VALUE));
                List<MappedExtent> own = q.map(pos, stop - pos);
                MappedExtent e = own.get(0);
                long end = Math.min(stop, e.end());
                int flags;
                switch (e.type()) {
                    case DATA -> {
                        if (e.hostOffset() < 0) {
                            flags = DATA;
                            end = Math.min(end, (pos / cs + 1) * cs);
                        } else {
                            flags = DATA | OFFSET_VALID;
                        }
                    }
                    case ZERO -> flags = e.hostOffset() < 0 ? ZERO : ZERO | OFFSET_VALID;
                    default -> flags = 0;
                }
                return new Piece(flags, end);
            }
        };
    }

    /** A size that may need reading. */
    @FunctionalInterface
    interface SizeSource {
        long size() throws IOException;
    }
}
