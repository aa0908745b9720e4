package io.github.qednio.internal.qed;

import java.util.HashMap;
import java.util.Map;

/**
 * One bit per cluster of the file, in pages allocated on first use, so a sparse file of many terabytes costs
 * memory only for the regions that tables actually reference. The number of pages is capped: a hostile image
 * whose entries are scattered across a huge sparse file must not exhaust the heap.
 */
final class ClusterBitmap {
    /** Bits per page: 4 KiB of memory. */
    static final int PAGE_BITS = 15;
    /**
     * Default memory cap: a quarter of the maximum heap, at least 1 MiB and at most 256 MiB (enough for a fully
     * referenced 8 TiB file of 4 KiB clusters, 2^31 bits), so that checking a huge image on a small heap is refused
     * with an exception rather than an {@link OutOfMemoryError}.
     */
    static final long DEFAULT_MAX_BYTES = defaultMaxBytes(Runtime.getRuntime().maxMemory());

    private final Map<Long, long[]> pages = new HashMap<>();
    private final long maxPages;
    private long count;

    ClusterBitmap() {
        this(DEFAULT_MAX_BYTES);
    }

    static long defaultMaxBytes(long maxMemory) {
        return Math.min(256L << 20, Math.max(1L << 20, maxMemory / 4));
    }

    ClusterBitmap(long maxBytes) {
        this.maxPages = Math.max(1, maxBytes >> (PAGE_BITS - 3));
    }

    /**
     * Sets the bit; returns true if it was already set.
     *
     * @throws TooLargeException if a new page would pass the memory cap
     */
    boolean testAndSet(long index) throws TooLargeException {
        long key = index >>> PAGE_BITS;
        long[] page = pages.get(key);
        if (page == null) {
            if (pages.size() >= maxPages) {
                throw new TooLargeException(maxPages << (PAGE_BITS - 3));
            }
            page = new long[1 << (PAGE_BITS - 6)];
            pages.put(key, page);
        }
        int bit = (int) (index & ((1 << PAGE_BITS) - 1));
        long mask = 1L << (bit & 63);
        boolean was = (page[bit >>> 6] & mask) != 0;
        if (!was) {
            page[bit >>> 6] |= mask;
            count++;
        }
        return was;
    }

    /** Whether the bit is set. */
    boolean get(long index) {
        long[] page = pages.get(index >>> PAGE_BITS);
        int bit = (int) (index & ((1 << PAGE_BITS) - 1));
        return page != null && (page[bit >>> 6] & (1L << (bit & 63))) != 0;
    }

    /** Number of bits set. */
    long count() {
        return count;
    }

    /** The highest set bit, or -1. */
    long highest() {
        long best = -1;
        for (Map.Entry<Long, long[]> e : pages.entrySet()) {
            long[] page = e.getValue();
            for (int w = page.length - 1; w >= 0; w--) {
                if (page[w] != 0) {
                    long idx = (e.getKey() << PAGE_BITS) + w * 64L + 63 - Long.numberOfLeadingZeros(page[w]);
                    best = Math.max(best, idx);
                    break;
                }
            }
        }
        return best;
    }

    /** The bitmap would need more memory than its cap. */
    static final class TooLargeException extends Exception {
        private static final long serialVersionUID = 1L;
        final long maxBytes;

        TooLargeException(long maxBytes) {
            super(null, null, false, false);
            this.maxBytes = maxBytes;
        }
    }
}
