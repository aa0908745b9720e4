package io.github.qednio.internal.qed;

import io.github.qednio.image.Progress;
import io.github.qednio.internal.storage.Buffers;
import io.github.qednio.format.CorruptImageException;
import io.github.qednio.format.Geometry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.github.qednio.format.Geometry.ENTRY_UNALLOCATED;
import static io.github.qednio.format.Geometry.ENTRY_ZERO;

/**
 * Makes the image file as small as its content allows ({@link QedImage#compact}), in crash-safe steps, under the
 * allocation lock (allocating writes wait; reads and in-place writes run, except while clusters are copied under the
 * exclusive {@link ClusterGuard} section):
 * <ol>
 *   <li>data clusters holding only zeros become unallocated (zero clusters over a backing file), and L2 tables left
 *       with nothing to map are unlinked from L1; what they held is freed;</li>
 *   <li>every cluster no table references becomes reusable ({@link FreeSpace#reclaimLeaks}), once the tables are
 *       durable;</li>
 *   <li>everything in use is laid out again without gaps from the end of the header: the L1 table, each L2 table
 *       and each L2 table's data clusters as one run in guest order (so {@code qemu-img check} finds no fragmented
 *       cluster), these blocks in the order in which they lie in the file now, so that what is in place already
 *       stays. The layout is reached window by window: what lies in a window's way moves past the end of the new
 *       layout (into space freed there, else to the end of the file), then what belongs in the window moves in;</li>
 *   <li>the file is cut after its last cluster in use.</li>
 * </ol>
 * Every move copies first and forces the copy, then repoints: a data cluster through its L2 entry (written back
 * and forced), an L2 table through its L1 entry (written through), the L1 table through one header write (forced).
 * The old place becomes reusable only after the flush that follows. A crash at any point leaves every entry
 * pointing at intact data; the worst left behind is leaked clusters.
 */
public final class Compaction {
    /** Clusters scanned for zeros per exclusive section. */
    private static final int BATCH_BYTES = 1 << 20;
    /** Target bytes laid out per window: what lies in the way of one window moves past the end of the layout. */
    private static final long WINDOW_BYTES = 16L << 20;

    /** One L2 entry that points at a data cluster. */
    private record DataRef(int l1Index, int l2Index, long host) {
    }

    /** One L1 entry that points at an L2 table. */
    private record TableRef(int l1Index, long offset) {
    }

    /** What a {@link Unit} is: a data cluster, an L2 table or the L1 table. */
    private enum Kind { DATA, L2, L1 }

    /** Something in use that moves as a whole: where it was, where it is, where it belongs. */
    private static final class Unit {
        final Kind kind;
        final int l1Index;
        final int l2Index;
        final long initial;
        final long bytes;
        long at;
        long target;

        Unit(Kind kind, int l1Index, int l2Index, long at, long bytes) {
            this.kind = kind;
            this.l1Index = l1Index;
            this.l2Index = l2Index;
            this.initial = at;
            this.at = at;
            this.bytes = bytes;
        }

        boolean placed() {
            return at == target;
        }
    }

    /** The units that belong in one window, and those that lie in its way at first. */
    private record Window(List<Unit> inWay, List<Unit> belong) {
    }

    private long done;
    private long total;

    private final QedState st;

    Compaction(QedState st) {
        this.st = st;
    }

    /**
     * Compacts: drops all-zero data clusters and tables mapping nothing, reclaims every leaked cluster, and lays
     * everything out again, so that afterwards no cluster of the file is leaked or free and each L2 table's data is
     * one run in guest order. Takes the allocation lock (it may be held already: a leak-reclaiming check can call
     * this); must not be called inside a {@link ClusterGuard} section.
     *
     * @return the file length afterwards
     * @throws CorruptImageException if the tables are inconsistent; nothing is changed then
     */
    public long run(Progress progress) throws IOException {
        st.lock.lock();
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
            long clusters = st.allocator.nextAllocationOffset() >> st.geo.clusterBits();
            st.space.reclaimLeaks(used, st.geo.headerSize(), clusters, st.geo.clusterBits());
            List<Unit> layout = layout(tables, data);
            List<Window> windows = plan(layout);
            for (Window w : windows) {
                total += clustersOf(w.inWay()) + clustersOf(w.belong());
            }
            report(progress);
            long layoutEnd = layout.get(layout.size() - 1).target + layout.get(layout.size() - 1).bytes;
            for (Window w : windows) {
                evacuate(w.inWay(), layoutEnd, progress);
                moveIn(w.belong(), progress);
            }
            flush();
            done = total;
            report(progress);
            return st.allocator.nextAllocationOffset();
        } finally {
            st.lock.unlock();
        }
    }

    /** Reports the clusters processed so far, in bytes. */
    private void report(Progress progress) {
        progress.update(done << st.geo.clusterBits(), total << st.geo.clusterBits());
    }

    /** Every deferred update durable, freed clusters reusable, free space at the end cut off. */
    private void flush() throws IOException {
        st.l2Cache.writeBack();
        st.storage.force();
        st.space.afterFlush();
    }

    /**
     * Collects every table and data reference and marks the clusters in use (header area excluded).
     *
     * @throws CorruptImageException if an entry is invalid or a cluster is referenced twice
     */
    private ClusterBitmap scan(List<TableRef> tables, List<DataRef> data) throws IOException {
        ClusterBitmap used = new ClusterBitmap();
        L1Table l1Table = st.lookup.l1Table();
        if (!l1Table.isComplete()) {
            Table all = st.tableIO.read(l1Table.offset());
            for (int i = l1Table.table().length(); i < all.length(); i++) {
                if (all.get(i) != ENTRY_UNALLOCATED) {
                    throw corrupt(String.format("L1 entry %d (past the virtual size) is 0x%x", i, all.get(i)));
                }
            }
        }
        long fileSize = st.allocator.nextAllocationOffset();
        try {
            mark(used, l1Table.offset(), st.geo.tableSize());
            Table l1 = st.lookup.l1();
            for (int i = 0; i < l1.length(); i++) {
                long e = l1.get(i);
                if (e == ENTRY_UNALLOCATED) {
                    continue;
                }
                if (!st.geo.isValidTableOffset(e, fileSize) || mark(used, e, st.geo.tableSize())) {
                    throw corrupt(String.format("L1 entry %d is 0x%x", i, e));
                }
                tables.add(new TableRef(i, e));
                Table l2 = st.l2Cache.get(e);
                for (int j = 0; j < l2.length(); j++) {
                    long v = l2.get(j);
                    if (v == ENTRY_UNALLOCATED || v == ENTRY_ZERO) {
                        continue;
                    }
                    if (!st.geo.isValidClusterOffset(v, fileSize) || mark(used, v, 1)) {
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
            duplicate |= used.testAndSet((offset >> st.geo.clusterBits()) + k);
        }
        return duplicate;
    }

    private CorruptImageException corrupt(String what) {
        return new CorruptImageException("table entry", st.storage.name() + ": " + what + "; compaction needs a"
                + " consistent image (run check with repair first); nothing was moved");
    }

    /**
     * Data clusters holding only zeros stop holding data, as a discard would (entry 0, or 1 over a backing file);
     * zero clusters without a backing file become unallocated, so that empty tables can go.
     */
    private void dropZeroClusters(List<DataRef> data, Progress progress) throws IOException {
        List<DataRef> byHost = new ArrayList<>(data);
        byHost.sort(Comparator.comparingLong(DataRef::host));
        int cs = st.geo.clusterSize();
        int perBatch = Math.max(1, BATCH_BYTES / cs);
        ByteBuffer buf = ByteBuffer.allocate(cs);
        for (int from = 0; from < byHost.size(); from += perBatch) {
            List<DataRef> batch = byHost.subList(from, Math.min(byHost.size(), from + perBatch));
            // Exclusive: an in-place write between reading a cluster and unlinking it would be lost.
            long stamp = st.guard.enterExclusive();
            try {
                for (DataRef r : batch) {
                    st.storage.readFully(buf.clear(), r.host());
                    if (Buffers.isAllZeros(buf.flip())) {
                        st.header.setNeedCheck();
                        setEntry(r, st.hasBacking() ? ENTRY_ZERO : ENTRY_UNALLOCATED);
                        st.free.freed(r.host(), cs);
                    }
                }
            } finally {
                st.guard.exitExclusive(stamp);
            }
            done += batch.size();
            report(progress);
        }
        if (!st.hasBacking()) {
            Table l1 = st.lookup.l1();
            for (int i = 0; i < l1.length(); i++) {
                long e = l1.get(i);
                if (e == ENTRY_UNALLOCATED) {
                    continue;
                }
                Table l2 = st.l2Cache.get(e);
                for (int j = 0; j < l2.length(); j++) {
                    if (l2.get(j) == ENTRY_ZERO) {
                        st.header.setNeedCheck();
                        st.l2Cache.update(e, j, new long[] {ENTRY_UNALLOCATED});
                    }
                }
            }
        }
    }

    private void setEntry(DataRef r, long value) throws IOException {
        st.l2Cache.update(st.lookup.l1().get(r.l1Index()), r.l2Index(), new long[] {value});
    }

    /** Unlinks L2 tables whose entries are all 0 (nothing to map, nothing to mask). */
    private void dropEmptyTables(List<TableRef> tables) throws IOException {
        Table l1 = st.lookup.l1();
        boolean dropped = false;
        for (TableRef t : tables) {
            Table l2 = st.l2Cache.get(t.offset());
            boolean empty = true;
            for (int j = 0; j < l2.length() && empty; j++) {
                empty = l2.get(j) == ENTRY_UNALLOCATED;
            }
            if (!empty) {
                continue;
            }
            st.header.setNeedCheck();
            long stamp = st.guard.enterExclusive();
            try {
                l1.set(t.l1Index(), ENTRY_UNALLOCATED);
                st.tableIO.writeEntries(l1, t.l1Index(), 1);
            } finally {
                st.guard.exitExclusive(stamp);
            }
            st.free.freed(t.offset(), st.geo.tableBytes());
            dropped = true;
        }
        if (dropped) {
            st.l2Cache.writeBack();
            st.l2Cache.clear(); // no unlinked table may stay cached: its clusters will hold other data
        }
    }

    /**
     * Every unit in use, in the order of the new layout, with its target: the L1 table, each L2 table and each
     * table's data run (in guest order) are blocks, ordered by where they begin now (a run by its lowest cluster),
     * packed from the end of the header.
     */
    private List<Unit> layout(List<TableRef> tables, List<DataRef> data) {
        List<List<Unit>> blocks = new ArrayList<>();
        blocks.add(List.of(new Unit(Kind.L1, -1, -1, st.lookup.l1Table().offset(), st.geo.tableBytes())));
        Map<Integer, List<Unit>> runs = new HashMap<>();
        for (TableRef t : tables) {
            blocks.add(List.of(new Unit(Kind.L2, t.l1Index(), -1, t.offset(), st.geo.tableBytes())));
            List<Unit> run = new ArrayList<>();
            runs.put(t.l1Index(), run);
            blocks.add(run);
        }
        for (DataRef r : data) { // in guest order: scan walks L1, then each L2, by index
            runs.get(r.l1Index()).add(new Unit(Kind.DATA, r.l1Index(), r.l2Index(), r.host(), st.geo.clusterSize()));
        }
        blocks.removeIf(List::isEmpty);
        Map<List<Unit>, Long> begins = new IdentityHashMap<>();
        for (List<Unit> b : blocks) {
            begins.put(b, b.stream().mapToLong(u -> u.at).min().orElseThrow());
        }
        blocks.sort(Comparator.comparingLong(begins::get));
        List<Unit> layout = new ArrayList<>();
        long next = st.geo.headerBytes();
        for (List<Unit> b : blocks) {
            for (Unit u : b) {
                u.target = next;
                next += u.bytes;
                layout.add(u);
            }
        }
        return layout;
    }

    /**
     * Cuts the layout into windows of about {@link #WINDOW_BYTES} and finds, for each, the units not yet moved that
     * lie in its way (all of them move past the end of the layout before the window is filled, so none of them is
     * in the way of a later window).
     */
    private List<Window> plan(List<Unit> layout) {
        Unit[] byPlace = layout.toArray(Unit[]::new);
        Arrays.sort(byPlace, Comparator.comparingLong(u -> u.initial));
        Set<Unit> moved = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Window> windows = new ArrayList<>();
        for (int from = 0; from < layout.size(); ) {
            long start = layout.get(from).target;
            int to = from;
            while (to < layout.size() && (to == from || layout.get(to).target - start < WINDOW_BYTES)) {
                to++;
            }
            long end = to < layout.size() ? layout.get(to).target : layout.get(to - 1).target
                    + layout.get(to - 1).bytes;
            List<Unit> belong = new ArrayList<>();
            for (Unit u : layout.subList(from, to)) {
                if (!u.placed()) {
                    belong.add(u);
                }
            }
            List<Unit> inWay = new ArrayList<>();
            if (!belong.isEmpty()) {
                for (int k = firstEndingAfter(byPlace, start); k < byPlace.length && byPlace[k].initial < end; k++) {
                    Unit u = byPlace[k];
                    if (!u.placed() && moved.add(u)) {
                        inWay.add(u);
                    }
                }
                moved.addAll(belong);
            }
            windows.add(new Window(inWay, belong));
            from = to;
        }
        return windows;
    }

    /** The index of the first unit (by initial place) that ends after {@code offset}. */
    private int firstEndingAfter(Unit[] byPlace, long offset) {
        int lo = 0;
        int hi = byPlace.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (byPlace[mid].initial + byPlace[mid].bytes <= offset) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    private long clustersOf(List<Unit> units) {
        long bytes = 0;
        for (Unit u : units) {
            bytes += u.bytes;
        }
        return bytes >> st.geo.clusterBits();
    }

    /**
     * Moves the units in a window's way past {@code layoutEnd}, where no target lies: into space freed there by
     * earlier windows, else to the end of the file.
     */
    private void evacuate(List<Unit> units, long layoutEnd, Progress progress) throws IOException {
        if (units.isEmpty()) {
            return;
        }
        long[] dst = new long[units.size()];
        for (int k = 0; k < dst.length; k++) {
            long bytes = units.get(k).bytes;
            long at = st.free.takeFrom(layoutEnd, bytes);
            dst[k] = at >= 0 ? at : st.allocator.allocateAtEnd(bytes);
        }
        move(units, dst, progress);
    }

    /** Moves the units that belong in a window to their targets, all free by now. */
    private void moveIn(List<Unit> units, Progress progress) throws IOException {
        if (units.isEmpty()) {
            return;
        }
        long[] dst = new long[units.size()];
        for (int k = 0; k < dst.length; k++) {
            Unit u = units.get(k);
            // Free by now: everything in the window's way has moved out and the flush made its place reusable.
            // Nor was the target cut off: the units in use end at or past the end of the layout.
            if (!st.free.takeAt(u.target, u.bytes)) {
                throw new IllegalStateException(String.format("%s: compaction found the target 0x%x of the"
                        + " cluster at 0x%x in use; nothing was moved in this step", st.storage.name(), u.target, u.at));
            }
            dst[k] = u.target;
        }
        move(units, dst, progress);
    }

    /**
     * Moves each unit to its {@code dst} (free, claimed), crash-safe: data first (copies forced, then the L2
     * entries), then L2 tables (copies forced, then the L1 entries), then the L1 table (copy forced, then the
     * header); the old places are freed, and become reusable at the flush that ends the step.
     */
    private void move(List<Unit> units, long[] dst, Progress progress) throws IOException {
        st.header.setNeedCheck();
        moveData(units, dst);
        moveTables(units, dst);
        for (int k = 0; k < units.size(); k++) {
            if (units.get(k).kind == Kind.L1) {
                moveL1(dst[k]);
            }
        }
        for (int k = 0; k < units.size(); k++) {
            Unit u = units.get(k);
            st.free.freed(u.at, u.bytes);
            u.at = dst[k];
        }
        flush();
        done += clustersOf(units);
        report(progress);
    }

    private void moveData(List<Unit> units, long[] dst) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(st.geo.clusterSize());
        // Exclusive: an in-place write between reading a cluster and repointing its entry would be lost.
        long stamp = st.guard.enterExclusive();
        try {
            boolean copied = false;
            for (int k = 0; k < units.size(); k++) {
                Unit u = units.get(k);
                if (u.kind == Kind.DATA) {
                    st.storage.readFully(buf.clear(), u.at);
                    st.storage.write(buf.flip(), dst[k]);
                    copied = true;
                }
            }
            if (!copied) {
                return;
            }
            st.storage.force(); // the copies are durable before any entry points at them
            for (int k = 0; k < units.size(); k++) {
                Unit u = units.get(k);
                if (u.kind == Kind.DATA) {
                    st.l2Cache.update(st.lookup.l1().get(u.l1Index), u.l2Index, new long[] {dst[k]});
                }
            }
        } finally {
            st.guard.exitExclusive(stamp);
        }
    }

    private void moveTables(List<Unit> units, long[] dst) throws IOException {
        List<Integer> tables = new ArrayList<>();
        for (int k = 0; k < units.size(); k++) {
            if (units.get(k).kind == Kind.L2) {
                tables.add(k);
            }
        }
        if (tables.isEmpty()) {
            return;
        }
        // The copies take the entries as they are now; the old tables get them too, and leave the cache clean, so
        // that no stale copy is found by its offset (nor written back there) once its clusters hold other data.
        st.l2Cache.writeBack();
        for (int k : tables) {
            st.tableIO.writeAll(st.l2Cache.get(units.get(k).at).copyAt(dst[k]));
        }
        st.storage.force(); // the copies are durable before L1 points at them
        Table l1 = st.lookup.l1();
        for (int k : tables) {
            Unit u = units.get(k);
            l1.set(u.l1Index, dst[k]);
            try {
                st.tableIO.writeEntries(l1, u.l1Index, 1);
            } catch (IOException | RuntimeException e) {
                // The L1 sector may hold either offset now (both tables are identical): point it back at the old
                // one if possible, and leave the copy leaked rather than free, as it may still be referenced.
                l1.set(u.l1Index, u.at);
                try {
                    st.tableIO.writeEntries(l1, u.l1Index, 1);
                } catch (IOException | RuntimeException again) {
                    e.addSuppressed(again);
                }
                throw e;
            }
        }
        st.l2Cache.clear();
    }

    /**
     * Moves the L1 table: its copy (the entries past the loaded ones are all 0) is durable before the one header
     * write that names it.
     */
    private void moveL1(long dst) throws IOException {
        L1Table l1 = st.lookup.l1Table();
        Table copy = l1.table().copyAt(dst);
        st.tableIO.writeAll(copy);
        long loaded = (long) copy.length() * 8;
        Buffers.writeZeros(st.storage, dst + loaded, st.geo.tableBytes() - loaded);
        st.storage.force();
        try {
            st.header.moveL1(dst);
        } finally {
            // Whatever the write did, the header in memory names the table the file names.
            if (st.header.current().l1TableOffset() == dst) {
                l1.moveTo(copy);
            }
        }
    }
}
