package io.github.qednio.engine;

import io.github.qednio.format.CorruptImageException;
import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

import static io.github.qednio.format.Geometry.ENTRY_UNALLOCATED;
import static io.github.qednio.format.Geometry.ENTRY_ZERO;

/**
 * Makes the image file as small as its content allows ({@link QedImage#compact}), in crash-safe steps, under the
 * allocation lock (allocating writes wait; reads and in-place writes run, except while a batch of clusters is
 * copied under the exclusive {@link ClusterGuard} section):
 * <ol>
 *   <li>data clusters holding only zeros become unallocated (zero clusters over a backing file), and L2 tables left
 *       with nothing to map are unlinked from L1; what they held is freed;</li>
 *   <li>every cluster no table references becomes reusable ({@link FreeSpace#reclaimLeaks}), once the tables are
 *       durable;</li>
 *   <li>L2 tables, then data clusters, lying past the smallest possible end of the file move into free clusters
 *       before it: the copy is written and forced, then the entry is repointed (an L1 entry written through, an L2
 *       entry written back and forced at the next flush), and only then is the old place reusable;</li>
 *   <li>the file is cut after its last cluster in use.</li>
 * </ol>
 * A crash at any point leaves every entry pointing at intact data; the worst left behind is leaked clusters.
 */
final class Compaction {
    /** Clusters copied per force. */
    private static final int BATCH_BYTES = 1 << 20;

    /** One L2 entry that points at a data cluster. */
    private record DataRef(int l1Index, int l2Index, long host) {
    }

    /** One L1 entry that points at an L2 table. */
    private record TableRef(int l1Index, long offset) {
    }

    private final Storage storage;
    private final Geometry geo;
    private final ReentrantLock lock;
    private final HeaderState header;
    private final ClusterLookup lookup;
    private final L2Cache l2Cache;
    private final TableIO tableIO;
    private final ClusterAllocator allocator;
    private final FreeClusters free;
    private final ClusterGuard guard;
    private final FreeSpace space;
    private final boolean hasBacking;
    private long done;
    private long total;

    Compaction(Storage storage, Geometry geo, ReentrantLock lock, HeaderState header, ClusterLookup lookup,
               L2Cache l2Cache, TableIO tableIO, ClusterAllocator allocator, FreeClusters free, ClusterGuard guard,
               FreeSpace space, boolean hasBacking) {
        this.storage = storage;
        this.geo = geo;
        this.lock = lock;
        this.header = header;
        this.lookup = lookup;
        this.l2Cache = l2Cache;
        this.tableIO = tableIO;
        this.allocator = allocator;
        this.free = free;
        this.guard = guard;
        this.space = space;
        this.hasBacking = hasBacking;
    }

    long run(Progress progress) throws IOException {
        lock.lock();
        try {
            flush();
            List<TableRef> tables = new ArrayList<>();
            List<DataRef> data = new ArrayList<>();
            scan(tables, data);
            done = 0;
            total = data.size();
            report(progress);
            dropZeroClusters(data, progress);
            dropEmptyTables(tables);
            flush();
            tables.clear();
            data.clear();
            ClusterBitmap used = scan(tables, data);
            long clusters = allocator.nextAllocationOffset() >> geo.clusterBits();
            space.reclaimLeaks(used, geo.headerSize(), clusters, geo.clusterBits());
            long end = Math.max(geo.headerSize() + used.count(), (lookup.l1Table().offset() >> geo.clusterBits())
                    + geo.tableSize()) << geo.clusterBits();
            total = done + tables.size() + data.size();
            moveTables(tables, end);
            moveData(data, end, progress);
            flush();
            done = total;
            report(progress);
            return allocator.nextAllocationOffset();
        } finally {
            lock.unlock();
        }
    }

    /** Reports the clusters processed so far, in bytes. */
    private void report(Progress progress) {
        progress.update(done << geo.clusterBits(), total << geo.clusterBits());
    }

    /** Every deferred update durable, freed clusters reusable, free space at the end cut off. */
    private void flush() throws IOException {
        l2Cache.writeBack();
        storage.force();
        space.afterFlush();
    }

    /**
     * Collects every table and data reference and marks the clusters in use (header area excluded).
     *
     * @throws CorruptImageException if an entry is invalid or a cluster is referenced twice
     */
    private ClusterBitmap scan(List<TableRef> tables, List<DataRef> data) throws IOException {
        ClusterBitmap used = new ClusterBitmap();
        L1Table l1Table = lookup.l1Table();
        if (!l1Table.isComplete()) {
            Table all = tableIO.read(l1Table.offset());
            for (int i = l1Table.table().length(); i < all.length(); i++) {
                if (all.get(i) != ENTRY_UNALLOCATED) {
                    throw corrupt(String.format("L1 entry %d (past the virtual size) is 0x%x", i, all.get(i)));
                }
            }
        }
        long fileSize = allocator.nextAllocationOffset();
        try {
            mark(used, l1Table.offset(), geo.tableSize());
            Table l1 = lookup.l1();
            for (int i = 0; i < l1.length(); i++) {
                long e = l1.get(i);
                if (e == ENTRY_UNALLOCATED) {
                    continue;
                }
                if (!geo.isValidTableOffset(e, fileSize) || mark(used, e, geo.tableSize())) {
                    throw corrupt(String.format("L1 entry %d is 0x%x", i, e));
                }
                tables.add(new TableRef(i, e));
                Table l2 = l2Cache.get(e);
                for (int j = 0; j < l2.length(); j++) {
                    long v = l2.get(j);
                    if (v == ENTRY_UNALLOCATED || v == ENTRY_ZERO) {
                        continue;
                    }
                    if (!geo.isValidClusterOffset(v, fileSize) || mark(used, v, 1)) {
                        throw corrupt(String.format("entry %d of the L2 table at 0x%x is 0x%x", j, e, v));
                    }
                    data.add(new DataRef(i, j, v));
                }
            }
        } catch (ClusterBitmap.TooLargeException e) {
            throw corrupt("the tables reference clusters scattered too widely to track");
        }
        return used;
    }

    /** Marks {@code count} clusters from {@code offset}; returns true if one was marked already. */
    private boolean mark(ClusterBitmap used, long offset, int count) throws ClusterBitmap.TooLargeException {
        boolean duplicate = false;
        for (int k = 0; k < count; k++) {
            duplicate |= used.testAndSet((offset >> geo.clusterBits()) + k);
        }
        return duplicate;
    }

    private CorruptImageException corrupt(String what) {
        return new CorruptImageException("table entry", storage.name() + ": " + what + "; compaction needs a"
                + " consistent image (run check with repair first); nothing was moved");
    }

    /**
     * Data clusters holding only zeros stop holding data, as a discard would (entry 0, or 1 over a backing file);
     * zero clusters without a backing file become unallocated, so that empty tables can go.
     */
    private void dropZeroClusters(List<DataRef> data, Progress progress) throws IOException {
        List<DataRef> byHost = new ArrayList<>(data);
        byHost.sort(Comparator.comparingLong(DataRef::host));
        int cs = geo.clusterSize();
        int perBatch = Math.max(1, BATCH_BYTES / cs);
        ByteBuffer buf = ByteBuffer.allocate(cs);
        for (int from = 0; from < byHost.size(); from += perBatch) {
            List<DataRef> batch = byHost.subList(from, Math.min(byHost.size(), from + perBatch));
            // Exclusive: an in-place write between reading a cluster and unlinking it would be lost.
            long stamp = guard.enterExclusive();
            try {
                for (DataRef r : batch) {
                    storage.readFully(buf.clear(), r.host());
                    if (Buffers.isAllZeros(buf.flip())) {
                        header.setNeedCheck();
                        setEntry(r, hasBacking ? ENTRY_ZERO : ENTRY_UNALLOCATED);
                        free.freed(r.host(), cs);
                    }
                }
            } finally {
                guard.exitExclusive(stamp);
            }
            done += batch.size();
            report(progress);
        }
        if (!hasBacking) {
            Table l1 = lookup.l1();
            for (int i = 0; i < l1.length(); i++) {
                long e = l1.get(i);
                if (e == ENTRY_UNALLOCATED) {
                    continue;
                }
                Table l2 = l2Cache.get(e);
                for (int j = 0; j < l2.length(); j++) {
                    if (l2.get(j) == ENTRY_ZERO) {
                        header.setNeedCheck();
                        l2Cache.update(e, j, new long[] {ENTRY_UNALLOCATED});
                    }
                }
            }
        }
    }

    private void setEntry(DataRef r, long value) throws IOException {
        l2Cache.update(lookup.l1().get(r.l1Index()), r.l2Index(), new long[] {value});
    }

    /** Unlinks L2 tables whose entries are all 0 (nothing to map, nothing to mask). */
    private void dropEmptyTables(List<TableRef> tables) throws IOException {
        Table l1 = lookup.l1();
        boolean dropped = false;
        for (TableRef t : tables) {
            Table l2 = l2Cache.get(t.offset());
            boolean empty = true;
            for (int j = 0; j < l2.length() && empty; j++) {
                empty = l2.get(j) == ENTRY_UNALLOCATED;
            }
            if (!empty) {
                continue;
            }
            header.setNeedCheck();
            long stamp = guard.enterExclusive();
            try {
                l1.set(t.l1Index(), ENTRY_UNALLOCATED);
                tableIO.writeEntries(l1, t.l1Index(), 1);
            } finally {
                guard.exitExclusive(stamp);
            }
            free.freed(t.offset(), geo.tableBytes());
            dropped = true;
        }
        if (dropped) {
            l2Cache.writeBack();
            l2Cache.clear(); // no unlinked table may stay cached: its clusters will hold other data
        }
    }

    /** Moves L2 tables that reach past {@code end} into free runs before it. */
    private void moveTables(List<TableRef> tables, long end) throws IOException {
        Table l1 = lookup.l1();
        boolean moved = false;
        for (TableRef t : tables) {
            if (t.offset() + geo.tableBytes() <= end) {
                continue;
            }
            long dst = free.take(geo.tableBytes());
            if (dst < 0 || dst + geo.tableBytes() > end) {
                // No free run of a table's length before the end: leave it (the file stays a little larger).
                if (dst >= 0) {
                    free.addReusable(dst, geo.tableBytes());
                }
                continue;
            }
            header.setNeedCheck();
            Table old = l2Cache.get(t.offset());
            Table copy = new Table(dst, old.length());
            long stamp = guard.enterExclusive();
            try {
                for (int j = 0; j < old.length(); j++) {
                    copy.set(j, old.get(j));
                }
                tableIO.writeAll(copy);
                storage.force(); // the copy is durable before L1 points at it
                l1.set(t.l1Index(), dst);
                tableIO.writeEntries(l1, t.l1Index(), 1);
            } catch (IOException | RuntimeException e) {
                // The L1 sector may hold either offset now (both tables are identical): point it back at the old
                // one if possible, and leave the copy leaked rather than free, as it may still be referenced.
                l1.set(t.l1Index(), t.offset());
                try {
                    tableIO.writeEntries(l1, t.l1Index(), 1);
                } catch (IOException | RuntimeException again) {
                    e.addSuppressed(again);
                }
                throw e;
            } finally {
                guard.exitExclusive(stamp);
            }
            free.freed(t.offset(), geo.tableBytes());
            moved = true;
            done++;
        }
        if (moved) {
            l2Cache.clear(); // the old copies must not be found by offset once their clusters hold other data
            flush();
        }
    }

    /** Moves data clusters past {@code end}, highest first, into free clusters before it. */
    private void moveData(List<DataRef> data, long end, Progress progress) throws IOException {
        List<DataRef> beyond = new ArrayList<>();
        for (DataRef r : data) {
            if (r.host() >= end) {
                beyond.add(r);
            }
        }
        beyond.sort(Comparator.comparingLong(DataRef::host).reversed());
        int cs = geo.clusterSize();
        int perBatch = Math.max(1, BATCH_BYTES / cs);
        ByteBuffer buf = ByteBuffer.allocate(cs);
        for (int from = 0; from < beyond.size(); from += perBatch) {
            List<DataRef> batch = beyond.subList(from, Math.min(beyond.size(), from + perBatch));
            long[] targets = new long[batch.size()];
            int n = 0;
            for (; n < batch.size(); n++) {
                long dst = free.take(cs);
                if (dst < 0 || dst >= end) {
                    if (dst >= 0) {
                        free.addReusable(dst, cs);
                    }
                    break;
                }
                targets[n] = dst;
            }
            if (n == 0) {
                return;
            }
            header.setNeedCheck();
            long stamp = guard.enterExclusive();
            try {
                for (int k = 0; k < n; k++) {
                    storage.readFully(buf.clear(), batch.get(k).host());
                    storage.write(buf.flip(), targets[k]);
                }
                storage.force(); // the copies are durable before any entry points at them
                for (int k = 0; k < n; k++) {
                    setEntry(batch.get(k), targets[k]);
                }
            } catch (IOException | RuntimeException e) {
                // Entries may point at some of the copies already: leave every target leaked, never free.
                throw e;
            } finally {
                guard.exitExclusive(stamp);
            }
            for (int k = 0; k < n; k++) {
                free.freed(batch.get(k).host(), cs);
            }
            flush(); // the new entries durable, then the old places reusable and the free end cut off
            done += n;
            report(progress);
        }
    }
}
