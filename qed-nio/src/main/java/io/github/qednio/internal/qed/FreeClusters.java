package io.github.qednio.internal.qed;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The clusters inside the image file that no table references any more, in two sets: <em>pending</em> clusters,
 * freed by a table update that may not be durable yet, and <em>reusable</em> ones, whose freeing update is durable
 * and which no operation in progress can still be using. Only reusable clusters are handed out: a crash can then
 * never leave two guest positions pointing at one cluster, nor one position reading another's data. Pending
 * clusters become reusable when the image is flushed ({@link #promote()}, after the flush and
 * {@link ClusterGuard#awaitQuiescence()}).
 *
 * <p>Ranges are kept merged, by file offset; allocation is first fit, so space is reused from the start of the
 * file and free space at its end can be cut off. Guarded by the image's allocation lock (and synchronized, for
 * the rare reader without it).
 */
public final class FreeClusters {
    /** Reusable ranges: start to end (exclusive), disjoint and not adjacent. */
    private final TreeMap<Long, Long> reusable = new TreeMap<>();
    private final List<long[]> pending = new ArrayList<>();
    private long reusableBytes;
    private long pendingBytes;
    /** No reusable run is this long (or longer) since the last change: such requests fail without a scan. */
    private long noRunOf = Long.MAX_VALUE;
    /** Set once a reused cluster was handed out: its data must be durable before an entry points at it. */
    private volatile boolean reused;

    /** Clusters {@code [offset, offset + bytes)} are no longer referenced, by a table update not yet durable. */
    synchronized void freed(long offset, long bytes) {
        pending.add(new long[] {offset, bytes});
        pendingBytes += bytes;
    }

    synchronized long pendingBytes() {
        return pendingBytes;
    }

    synchronized long reusableBytes() {
        return reusableBytes;
    }

    /** The pending clusters' freeing updates are durable and nothing uses them: make them reusable. */
    synchronized void promote() {
        for (long[] p : pending) {
            addReusable(p[0], p[1]);
        }
        pending.clear();
        pendingBytes = 0;
    }

    /** Forgets every free cluster (before a scan that finds them all again). */
    synchronized void clear() {
        reusable.clear();
        pending.clear();
        reusableBytes = 0;
        pendingBytes = 0;
    }

    /**
     * Takes the lowest reusable run of {@code bytes} contiguous bytes.
     *
     * @return its offset, or -1 if no reusable run is that long
     */
    synchronized long take(long bytes) {
        if (bytes >= noRunOf) {
            return -1;
        }
        for (Map.Entry<Long, Long> e : reusable.entrySet()) {
            long start = e.getKey();
            long end = e.getValue();
            if (end - start >= bytes) {
                reusable.remove(start);
                if (end - start > bytes) {
                    reusable.put(start + bytes, end);
                }
                reusableBytes -= bytes;
                reused = true;
                return start;
            }
        }
        noRunOf = bytes;
        return -1;
    }

    /**
     * Takes the lowest reusable run of {@code bytes} contiguous bytes at or past {@code from}.
     *
     * @return its offset, or -1 if there is none
     */
    synchronized long takeFrom(long from, long bytes) {
        Map.Entry<Long, Long> before = reusable.floorEntry(from);
        Long key = before != null && before.getValue() > from ? before.getKey() : reusable.ceilingKey(from);
        for (; key != null; key = reusable.higherKey(key)) {
            long start = Math.max(key, from);
            if (reusable.get(key) - start >= bytes) {
                takeAt(start, bytes);
                return start;
            }
        }
        return -1;
    }

    /**
     * Takes exactly {@code [offset, offset + bytes)}, if all of it is reusable.
     *
     * @return whether it was taken (nothing is taken otherwise)
     */
    synchronized boolean takeAt(long offset, long bytes) {
        Map.Entry<Long, Long> e = reusable.floorEntry(offset);
        if (e == null || e.getValue() < offset + bytes) {
            return false;
        }
        long start = e.getKey();
        long end = e.getValue();
        reusable.remove(start);
        if (start < offset) {
            reusable.put(start, offset);
        }
        if (offset + bytes < end) {
            reusable.put(offset + bytes, end);
        }
        reusableBytes -= bytes;
        reused = true;
        return true;
    }

    /** Clusters {@code [offset, offset + bytes)} may be handed out again (never referenced since they were free). */
    synchronized void addReusable(long offset, long bytes) {
        long start = offset;
        long end = offset + bytes;
        Map.Entry<Long, Long> before = reusable.floorEntry(start);
        if (before != null && before.getValue() >= start) {
            start = before.getKey();
            end = Math.max(end, before.getValue());
            reusableBytes -= before.getValue() - before.getKey();
            reusable.remove(before.getKey());
        }
        Iterator<Map.Entry<Long, Long>> it = reusable.tailMap(start, true).entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<Long, Long> e = it.next();
            if (e.getKey() > end) {
                break;
            }
            end = Math.max(end, e.getValue());
            reusableBytes -= e.getValue() - e.getKey();
            it.remove();
        }
        reusable.put(start, end);
        reusableBytes += end - start;
        noRunOf = Long.MAX_VALUE;
    }

    /**
     * Removes the reusable run that ends at {@code end} (the end of the file), if any.
     *
     * @return where the file may now end: the run's start, or {@code end}
     */
    synchronized long trimTail(long end) {
        Map.Entry<Long, Long> last = reusable.lastEntry();
        if (last == null || last.getValue() != end) {
            return end;
        }
        reusable.remove(last.getKey());
        reusableBytes -= end - last.getKey();
        return last.getKey();
    }

    /** Whether the cluster at {@code offset} is reusable. */
    synchronized boolean isReusable(long offset) {
        Map.Entry<Long, Long> e = reusable.floorEntry(offset);
        return e != null && offset < e.getValue();
    }

    /** Whether the cluster at {@code offset} is pending. */
    synchronized boolean isPending(long offset) {
        for (long[] p : pending) {
            if (offset >= p[0] && offset < p[0] + p[1]) {
                return true;
            }
        }
        return false;
    }

    /** Whether a reused cluster was ever handed out (so data must be durable before entries point at it). */
    public boolean everReused() {
        return reused;
    }
}
