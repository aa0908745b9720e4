package io.github.qednio.image;

import java.io.IOException;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * The memory that the L2 caches of open images may hold, shared by every image that draws from it: by default all
 * images and backing chains of the JVM draw from {@link #jvm()}, so a deep chain of images with large tables stays
 * within one bound however many images it has (QEMU bounds each image; a JVM cannot afford that).
 *
 * <p>The budget only counts bytes (atomically, without a lock): each cache keeps its own least-recently-used order
 * under its own lock, so that a cache miss in one image never waits on another image's lock or I/O. When a cache
 * needs room and the budget is exhausted, it evicts its own least recently used clean tables, writing its own dirty
 * ones back first (they are never dropped); a cache holding less than its {@linkplain #fairShare() fair share} first
 * asks the other caches to give a clean table back, which each does only if its lock is free at that moment, so an
 * idle image cannot keep the budget forever and a busy one is simply skipped. If no room can be made, a read is
 * served by a table that is not kept, and a load fails with an {@link IOException} naming the budget (never an
 * {@link OutOfMemoryError}) only when the cache's own tables cannot be written back or the table is larger than the
 * whole budget. A cache gives its share back when its image closes.
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
    private volatile long limit;
    private final AtomicLong used = new AtomicLong();
    /** The caches drawing from this budget, as their non-blocking shrink requests. */
    private final CopyOnWriteArraySet<BooleanSupplier> members = new CopyOnWriteArraySet<>();

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
    public long limit() {
        return limit;
    }

    /**
     * Bytes of L2 tables held now by all caches drawing from this budget.
     *
     * @return bytes in use, at most {@link #limit()} (a lowered limit is reached as tables are next loaded)
     */
    public long used() {
        return used.get();
    }

    /**
     * Changes the limit. A smaller limit is reached as tables are next loaded (clean tables are evicted then).
     *
     * @param bytes the new limit in bytes, at least 1
     * @throws IllegalArgumentException if {@code bytes} is not positive
     */
    public void setLimit(long bytes) {
        limit = checkLimit(bytes);
    }

    @Override
    public String toString() {
        return name;
    }

    // ---------------------------------------------------------------------------------------- for the caches

    /**
     * Charges {@code bytes} if they fit under the limit; never blocks. For the caches drawing from this budget.
     *
     * @param bytes the bytes of one table
     * @return true if charged; false leaves the budget unchanged
     */
    public boolean tryCharge(long bytes) {
        while (true) {
            long u = used.get();
            if (u + bytes > limit) {
                return false;
            }
            if (used.compareAndSet(u, u + bytes)) {
                return true;
            }
        }
    }

    /**
     * Gives back {@code bytes} charged by {@link #tryCharge}; for the caches drawing from this budget.
     *
     * @param bytes the bytes of a table that left its cache (or never entered it)
     */
    public void release(long bytes) {
        used.addAndGet(-bytes);
    }

    /**
     * Registers a cache drawing from this budget. {@code shrinker} is what other caches call, when the budget is
     * short, to make a cache give back one table: it must return at once, never waiting for a lock or for I/O
     * (true if it gave bytes back).
     *
     * @param shrinker the cache's non-blocking shrink request
     */
    public void join(BooleanSupplier shrinker) {
        members.add(shrinker);
    }

    /**
     * Unregisters a cache (its image closed).
     *
     * @param shrinker as given to {@link #join}
     */
    public void leave(BooleanSupplier shrinker) {
        members.remove(shrinker);
    }

    /**
     * The bytes a cache may hold before it must make room from its own tables rather than take it from others: an
     * equal share of the limit among the caches drawing from this budget.
     *
     * @return the limit divided by the number of registered caches (the limit if none)
     */
    public long fairShare() {
        return limit / Math.max(1, members.size());
    }

    /**
     * Asks the other caches, one after another, to give back a table without waiting (each skips the request
     * if it is busy). Starts after {@code self} in registration order so that the caller does not always drain
     * the same cache first.
     *
     * @param self the caller's shrinker, skipped
     * @return true once one cache gave bytes back; false if none could at once
     */
    public boolean askOthersToShrink(BooleanSupplier self) {
        for (BooleanSupplier other : members) {
            if (other != self && other.getAsBoolean()) {
                return true;
            }
        }
        return false;
    }

    /**
     * The exception for a table that does not fit in the budget, naming the ways to raise it.
     *
     * @param image the image whose table was to be loaded
     * @param tableOffset the table's offset in that image
     * @param bytes the table's size
     * @return the exception to throw
     */
    public IOException exhausted(String image, long tableOffset, long bytes) {
        return new IOException(String.format("%s: cannot load the L2 table at offset 0x%x (%d bytes): %s is"
                        + " exhausted (%d of %d bytes held by tables in use or not yet written back); raise it with"
                        + " OpenOptions.withCacheBudget, CacheBudget.setLimit or -Dqed.cacheBudget", image,
                tableOffset, bytes, name, used.get(), limit));
    }
}
