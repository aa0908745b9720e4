package io.github.qednio.image;

import io.github.qednio.internal.qed.L2Cache;
import io.github.qednio.internal.qed.Table;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The memory that the L2 caches of open images may hold, shared by every image that draws from it: by default all
 * images and backing chains of the JVM draw from {@link #jvm()}, so a deep chain of images with large tables stays
 * within one bound however many images it has (QEMU bounds each image; a JVM cannot afford that).
 *
 * <p>When a cache needs room for a table and the budget is exhausted, the least recently used clean tables of all
 * caches drawing from the budget are evicted; tables with L2 updates not yet written back are written back first
 * (by the cache that owns them) and never dropped. If the tables in use cannot be evicted either, the load fails
 * with an {@link IOException} naming the budget, never with an {@link OutOfMemoryError}. A cache gives its share
 * back when its image closes.
 *
 * <p>The default size of {@link #jvm()} is an eighth of {@link Runtime#maxMemory()}, at least 4 MiB and at most
 * 1 GiB: enough for QEMU's 50 tables of the default geometry (256 KiB each) on a heap of 100 MiB or more, small
 * enough that images never crowd out the application's own data. The system property {@code qed.cacheBudget}
 * (bytes, or a number with a {@code k}, {@code m} or {@code g} suffix) overrides it when the class is loaded (an
 * invalid value is logged and ignored), and
 * {@link #setLimit(long)} changes it at any time.
 */
public final class CacheBudget {
    /** Smallest default budget. */
    static final long DEFAULT_FLOOR = 4L << 20;
    /** Largest default budget. */
    static final long DEFAULT_CAP = 1L << 30;

    private static final CacheBudget JVM = new CacheBudget("the JVM-wide L2 cache budget (CacheBudget.jvm(),"
            + " system property qed.cacheBudget)", initialJvmLimit());

    private final String name;
    private long limit;
    private long used;
    /** Every cached table of every cache drawing from this budget, least recently used first. */
    private final LinkedHashMap<Table, L2Cache> lru = new LinkedHashMap<>(16, 0.75f, true);

    private CacheBudget(String name, long limit) {
        this.name = name;
        this.limit = limit;
    }

    /**
     * The budget that images draw from unless {@link OpenOptions#withCacheBudget} names another.
     *
     * @return the JVM-wide budget (one instance per class loader)
     */
    public static CacheBudget jvm() {
        return JVM;
    }

    /**
     * A separate budget of {@code bytes}, for images that must not compete with the rest of the JVM (or, in tests,
     * a small one).
     *
     * @param bytes the limit in bytes, at least 1
     * @return a new budget with nothing drawn from it yet
     * @throws IllegalArgumentException if {@code bytes} is not positive
     */
    public static CacheBudget ofBytes(long bytes) {
        return new CacheBudget("an L2 cache budget of " + checkLimit(bytes) + " bytes", bytes);
    }

    /** The default limit of {@link #jvm()} for a heap of {@code maxMemory} bytes. */
    static long defaultLimit(long maxMemory) {
        return Math.min(DEFAULT_CAP, Math.max(DEFAULT_FLOOR, maxMemory / 8));
    }

    private static long initialJvmLimit() {
        String p = System.getProperty("qed.cacheBudget");
        if (p != null && !p.isBlank()) {
            try {
                return checkLimit(io.github.qednio.format.Sizes.parse(p.trim()));
            } catch (IllegalArgumentException e) {
                // Failing here would make the class unusable (ExceptionInInitializerError); say so and go on.
                org.slf4j.LoggerFactory.getLogger(CacheBudget.class).warn(
                        "ignoring system property qed.cacheBudget={}: {}", p, e.getMessage());
            }
        }
        return defaultLimit(Runtime.getRuntime().maxMemory());
    }

    private static long checkLimit(long bytes) {
        if (bytes < 1) {
            throw new IllegalArgumentException("cache budget " + bytes + " must be positive");
        }
        return bytes;
    }

    /**
     * The most bytes of L2 tables the caches drawing from this budget may hold together.
     *
     * @return the limit in bytes
     */
    public synchronized long limit() {
        return limit;
    }

    /**
     * Bytes of L2 tables held now by all caches drawing from this budget.
     *
     * @return bytes in use, at most {@link #limit()} (a lowered limit is reached as tables are next loaded)
     */
    public synchronized long used() {
        return used;
    }

    /**
     * Changes the limit. A smaller limit is reached as tables are next loaded (clean tables are evicted then).
     *
     * @param bytes the new limit in bytes, at least 1
     * @throws IllegalArgumentException if {@code bytes} is not positive
     */
    public synchronized void setLimit(long bytes) {
        limit = checkLimit(bytes);
    }

    @Override
    public String toString() {
        return name;
    }

    // ---------------------------------------------------------------------------------------- for L2Cache

    /** The monitor that guards every cache's map as well as this budget: one lock, so no ordering to get wrong. */
    public Object lock() {
        return this;
    }

    /**
     * Makes room for {@code bytes} by evicting clean tables, least recently used first; called with {@link #lock()}
     * held. Returns the dirty tables that stand in the way (least recently used first) if there is still no room,
     * or an empty list once the bytes are charged.
     */
    public List<Map.Entry<Table, L2Cache>> tryReserve(long bytes) {
        List<Map.Entry<Table, L2Cache>> dirty = new ArrayList<>();
        Iterator<Map.Entry<Table, L2Cache>> it = lru.entrySet().iterator();
        while (used + bytes > limit && it.hasNext()) {
            Map.Entry<Table, L2Cache> e = it.next();
            if (e.getKey().isDirty()) {
                dirty.add(Map.entry(e.getKey(), e.getValue()));
                continue;
            }
            it.remove();
            used -= e.getValue().evicted(e.getKey());
        }
        if (used + bytes > limit) {
            return dirty.isEmpty() ? null : dirty;
        }
        used += bytes;
        return List.of();
    }

    /** Records a table charged by {@link #tryReserve} as cached by {@code owner}; with {@link #lock()} held. */
    public void added(Table t, L2Cache owner) {
        lru.put(t, owner);
    }

    /** A cache hit: the table becomes the most recently used; with {@link #lock()} held. */
    public void touched(Table t) {
        lru.get(t);
    }

    /** Gives back {@code bytes} of a table that left its cache (or was never added); with {@link #lock()} held. */
    public void released(Table t, long bytes) {
        if (t != null) {
            lru.remove(t);
        }
        used -= bytes;
    }

    /** The exception for a table that does not fit even after every evictable table was evicted. */
    public IOException exhausted(String image, long tableOffset, long bytes) {
        return new IOException(String.format("%s: cannot load the L2 table at offset 0x%x (%d bytes): %s is"
                        + " exhausted (%d of %d bytes held by tables in use or not yet written back); raise it with"
                        + " OpenOptions.withCacheBudget, CacheBudget.setLimit or -Dqed.cacheBudget", image,
                tableOffset, bytes, name, used, limit));
    }
}
