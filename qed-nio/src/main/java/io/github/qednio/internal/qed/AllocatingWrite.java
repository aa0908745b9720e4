package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.Buffers;
import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static io.github.qednio.format.Geometry.ENTRY_UNALLOCATED;
import static io.github.qednio.format.Geometry.ENTRY_ZERO;

/**
 * Writes to clusters the image does not hold yet (QEMU's allocating-write path in {@code qed.c}): new clusters
 * (reusable freed ones, else appended at the end of the file, see {@link ClusterAllocator}) are filled by copy-on-write from the backing chain, and linked into the L2 and
 * L1 tables in crash-safe order: data before the L2 entry, a new L2 table written whole and flushed before L1
 * points at it, data flushed first when there is a backing file. Allocations are serialised by the image's
 * allocation lock; on failure before any table points at new clusters, they are given back.
 */
public final class AllocatingWrite {
    /** The last byte of a new cluster whose tail is left as a hole. */
    private static final ByteBuffer ZERO_BYTE = ByteBuffer.allocateDirect(1).asReadOnlyBuffer();

    /** Scratch cluster for copy-on-write fills; guarded by the allocation lock. */
    private ByteBuffer scratch;

    private final QedState st;

    AllocatingWrite(QedState st) {
        this.st = st;
    }

    /** Before anything is allocated by this request (nothing allocated yet may be mistaken for free space). */
    private void beforeAllocating() throws IOException {
        st.space.findFreeOnce();
    }

    /**
     * Writes a run of unallocated or zero clusters at {@code pos} from {@code src} (position to limit). Returns the
     * bytes consumed, which may be fewer if the tables changed while waiting for the allocation lock.
     *
     * @param onlyIfUnallocated for copy-on-read: skip (rather than overwrite) clusters allocated meanwhile
     */
    long write(ByteBuffer src, long pos, boolean onlyIfUnallocated) throws IOException {
        st.lock.lock();
        try {
            int limit = src.limit();
            Extent run = st.lookup.lookup(pos, pos + src.remaining());
            int len = (int) run.length();
            if (onlyIfUnallocated && run.kind() != Extent.Kind.UNALLOCATED) {
                src.position(src.position() + len);
                return len;
            }
            src.limit(src.position() + len);
            try {
                if (run.kind() == Extent.Kind.DATA) {
                    st.storage.write(src, run.hostOffset());
                } else {
                    allocateAndWrite(src, pos, run.kind());
                }
            } finally {
                src.limit(limit);
            }
            return len;
        } finally {
            st.lock.unlock();
        }
    }

    /**
     * Makes the run of whole clusters at {@code pos} (up to {@code end}) read as zeros if it is unallocated or
     * zero, without writing data. Returns the run's extent as it was; a {@link Extent.Kind#DATA} run is left for
     * the caller to overwrite with zeros.
     */
    Extent zeroClusters(long pos, long end) throws IOException {
        st.lock.lock();
        try {
            Extent run = st.lookup.lookup(pos, end);
            if (run.kind() == Extent.Kind.UNALLOCATED) {
                beforeAllocating();
                st.header.setNeedCheck();
                link(pos, (int) (run.length() >> st.geo.clusterBits()), ENTRY_ZERO);
            }
            return run;
        } finally {
            st.lock.unlock();
        }
    }

    /** Copy-on-read: allocates the clusters under {@code [pos, pos + len)} with backing content. */
    void copyOnRead(long pos, int len) throws IOException {
        long size = st.header.imageSize();
        long first = st.geo.roundDownToCluster(pos);
        long last = Math.min(st.geo.roundUpToCluster(pos + len), st.geo.roundUpToCluster(size));
        int step = Math.max(st.geo.clusterSize(), 1 << 20);
        for (long p = first; p < last; ) {
            int n = (int) Math.min(step, last - p);
            int inside = (int) Math.min(n, size - p);
            ByteBuffer buf = ByteBuffer.allocate(inside);
            st.backingReads.read(buf, p);
            buf.flip();
            long q = p;
            while (buf.hasRemaining()) {
                q += write(buf, q, true);
            }
            p += n;
        }
    }

    /** Appends clusters for {@code [pos, pos + src.remaining())}, fills them, and links them into the tables. */
    private void allocateAndWrite(ByteBuffer src, long pos, Extent.Kind was) throws IOException {
        int cs = st.geo.clusterSize();
        long end = pos + src.remaining();
        long first = st.geo.roundDownToCluster(pos);
        long last = st.geo.roundUpToCluster(end);
        int clusters = (int) ((last - first) >> st.geo.clusterBits());
        beforeAllocating();
        st.header.setNeedCheck();
        long start = st.allocator.allocate(last - first);
        try {
            int head = (int) (pos - first);
            int tail = (int) (last - end);
            if ((head > 0 || tail > 0) && (!st.backingReads.hasBacking() || was == Extent.Kind.ZERO)
                    && st.storage.size() <= start) {
                // The untouched parts must read as zeros and the new clusters lie past the end of the file: leave
                // them as holes, which read as zeros, instead of writing zeros; one byte at the end keeps the file
                // ending on a cluster boundary (where the next allocation, also after a reopen, goes).
                st.storage.write(src, start + head);
                if (tail > 0) {
                    st.storage.write(ZERO_BYTE.duplicate(), start + (last - first) - 1);
                }
            } else if (clusters == 1 && (head > 0 || tail > 0)) {
                // One partial cluster: assemble it and write it with a single I/O.
                ByteBuffer buf = scratch();
                fillUnwritten(buf.limit(head), first, was);
                buf.limit(head + src.remaining()).put(src);
                fillUnwritten(buf.limit(cs), end, was);
                st.storage.write(buf.flip(), start);
            } else {
                // QEMU's order: copy-on-write head, then tail, then the data.
                if (head > 0) {
                    st.storage.write(fillUnwritten(scratch().limit(head), first, was).flip(), start);
                }
                if (tail > 0) {
                    st.storage.write(fillUnwritten(scratch().limit(tail), end, was).flip(), start + (end - first));
                }
                st.storage.write(src, start + head);
            }
            // With a backing file, or in a reused cluster (which holds another position's old data), the data must
            // be durable before an L2 entry points at it (notes §8.4): a new L2 table is forced before L1 links
            // it, and deferred updates of existing tables force at write-back.
        } catch (IOException | RuntimeException e) {
            st.allocator.release(start, last - first);
            throw e;
        }
        link(pos, clusters, start);
    }

    /**
     * The part of a new cluster that this write does not cover: zeros for a zero cluster (as the spec says; QEMU
     * 7.2 copies backing data here, notes §14.5), backing data (or zeros) for an unallocated one.
     */
    private ByteBuffer fillUnwritten(ByteBuffer buf, long guestPos, Extent.Kind was) throws IOException {
        if (was == Extent.Kind.ZERO) {
            Buffers.putZeros(buf, buf.remaining());
        } else {
            st.backingReads.read(buf, guestPos);
        }
        return buf;
    }

    private ByteBuffer scratch() {
        if (scratch == null) {
            scratch = ByteBuffer.allocateDirect(st.geo.clusterSize());
        }
        return scratch.clear();
    }

    /**
     * Points the L2 entries for {@code clusters} clusters from {@code pos} at {@code target} (consecutive
     * clusters), or makes them zero clusters when {@code target} is {@link Geometry#ENTRY_ZERO}. A missing L2 table
     * is allocated after the data, written whole and flushed before L1 points at it.
     */
    private void link(long pos, int clusters, long target) throws IOException {
        int l1i = st.geo.l1Index(pos);
        int idx = st.geo.l2Index(pos);
        long[] values = new long[clusters];
        for (int k = 0; k < clusters; k++) {
            values[k] = target == ENTRY_ZERO ? ENTRY_ZERO : target + ((long) k << st.geo.clusterBits());
        }
        Table l1 = st.lookup.l1();
        long l1e = l1.get(l1i);
        if (l1e != ENTRY_UNALLOCATED) {
            st.l2Cache.update(l1e, idx, values);
            return;
        }
        long tableOffset = st.allocator.allocate(st.geo.tableBytes());
        Table l2 = new Table(tableOffset, st.geo.entriesPerTable());
        for (int k = 0; k < clusters; k++) {
            l2.set(idx + k, values[k]);
        }
        try {
            st.tableIO.writeAll(l2);
            st.storage.force();
        } catch (IOException | RuntimeException e) {
            // Nothing points at the table yet; if the data clusters were new, nothing points at them either.
            st.allocator.release(tableOffset, st.geo.tableBytes());
            if (target != ENTRY_ZERO) {
                st.allocator.release(target, (long) clusters << st.geo.clusterBits());
            }
            throw e;
        }
        st.l2Cache.put(l2);
        l1.set(l1i, tableOffset);
        try {
            st.tableIO.writeEntries(l1, l1i, 1);
        } catch (IOException | RuntimeException e) {
            // The failed write may have reached the disk in part: keep in memory what the file now holds, or reads
            // would disagree with the image after a flush or a reopen.
            l1.set(l1i, l1EntryOnDisk(l1, l1i, tableOffset, e));
            throw e;
        }
    }

    /** L1 entry {@code l1i} as the file holds it after a failed update to {@code tableOffset} (0 if unreadable). */
    private long l1EntryOnDisk(Table l1, int l1i, long tableOffset, Exception failure) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        try {
            st.storage.readFully(b, l1.offset + 8L * l1i);
            long v = b.flip().getLong();
            if (v == tableOffset || v == ENTRY_UNALLOCATED) {
                return v;
            }
            // Torn inside the entry: put the old value back rather than leave a pointer to anywhere.
            l1.set(l1i, ENTRY_UNALLOCATED);
            st.tableIO.writeEntries(l1, l1i, 1);
            return ENTRY_UNALLOCATED;
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
            return ENTRY_UNALLOCATED;
        }
    }
}
