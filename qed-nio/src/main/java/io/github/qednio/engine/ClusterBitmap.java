package io.github.qednio.engine;

import java.util.HashMap;
import java.util.Map;

/**
 * One bit per cluster of the file, in pages allocated on first use, so a sparse file of many terabytes costs
 * memory only for the regions that tables actually reference.
 */
final class ClusterBitmap {
    private static final int PAGE_BITS = 18;
    private final Map<Long, long[]> pages = new HashMap<>();
    private long count;

    /** Sets the bit; returns true if it was already set. */
    boolean testAndSet(long index) {
        long[] page = pages.computeIfAbsent(index >>> PAGE_BITS, k -> new long[1 << (PAGE_BITS - 6)]);
        int bit = (int) (index & ((1 << PAGE_BITS) - 1));
        long mask = 1L << (bit & 63);
        boolean was = (page[bit >>> 6] & mask) != 0;
        if (!was) {
            page[bit >>> 6] |= mask;
            count++;
        }
        return was;
    }

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
}
