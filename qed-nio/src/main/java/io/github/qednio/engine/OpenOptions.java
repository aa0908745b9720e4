package io.github.qednio.engine;

import java.util.Objects;

/**
 * How to open an image. Immutable; start from {@link #defaults()} or {@link #readOnlyDefaults()}.
 *
 * <pre>{@code
 * OpenOptions opts = OpenOptions.defaults().withCopyOnRead(true).withL2CacheTables(200);
 * try (QedImage img = QedImage.open(path, opts)) { ... }
 * }</pre>
 */
public final class OpenOptions {
    /** Default limit on the chain of backing files below an image. */
    public static final int DEFAULT_MAX_CHAIN_DEPTH = 64;
    /** Default limit on the bytes of one table kept in memory (the L1 table, and each cached L2 table). */
    public static final long DEFAULT_MAX_TABLE_BYTES = 64L << 20;

    private static final OpenOptions DEFAULTS = new OpenOptions(false, false, L2Cache.DEFAULT_TABLES,
            DEFAULT_MAX_TABLE_BYTES, BackingPolicy.FOLLOW, DEFAULT_MAX_CHAIN_DEPTH, true, StorageFactory.DEFAULT,
            null);

    private final boolean readOnly;
    private final boolean copyOnRead;
    private final int l2CacheTables;
    private final long maxTableBytes;
    private final BackingPolicy backingPolicy;
    private final int maxChainDepth;
    private final boolean probeBacking;
    private final StorageFactory storageFactory;
    /** Null: {@link CacheBudget#jvm()}, looked up at use so that the JVM-wide budget is created lazily. */
    private final CacheBudget cacheBudget;

    private OpenOptions(boolean readOnly, boolean copyOnRead, int l2CacheTables, long maxTableBytes,
                        BackingPolicy backingPolicy, int maxChainDepth, boolean probeBacking,
                        StorageFactory storageFactory, CacheBudget cacheBudget) {
        this.readOnly = readOnly;
        this.copyOnRead = copyOnRead;
        this.l2CacheTables = l2CacheTables;
        this.maxTableBytes = maxTableBytes;
        this.backingPolicy = backingPolicy;
        this.maxChainDepth = maxChainDepth;
        this.probeBacking = probeBacking;
        this.storageFactory = storageFactory;
        this.cacheBudget = cacheBudget;
    }

    /** Read-write, no copy-on-read, a 50-table L2 cache, backing files followed as QEMU does. */
    public static OpenOptions defaults() {
        return DEFAULTS;
    }

    /** {@link #defaults()} but read-only. */
    public static OpenOptions readOnlyDefaults() {
        return DEFAULTS.withReadOnly(true);
    }

    /** Whether the image is opened read-only. */
    public boolean readOnly() {
        return readOnly;
    }

    /** Whether reads served by the backing chain are copied into the image. */
    public boolean copyOnRead() {
        return copyOnRead;
    }

    /** Maximum number of L2 tables kept in memory. */
    public int l2CacheTables() {
        return l2CacheTables;
    }

    /** Largest table size ({@code table_size * cluster_size}) an image may have. */
    public long maxTableBytes() {
        return maxTableBytes;
    }

    /** Which backing files may be followed. */
    public BackingPolicy backingPolicy() {
        return backingPolicy;
    }

    /** Maximum number of backing files below the image. */
    public int maxChainDepth() {
        return maxChainDepth;
    }

    /** Whether an unrecorded backing format may be probed. */
    public boolean probeBacking() {
        return probeBacking;
    }

    /** The memory budget the image's L2 cache draws from (default {@link CacheBudget#jvm()}). */
    public CacheBudget cacheBudget() {
        return cacheBudget != null ? cacheBudget : CacheBudget.jvm();
    }

    /** Where the image's bytes come from. */
    public StorageFactory storageFactory() {
        return storageFactory;
    }

    /** Open the image read-only: nothing is ever written to it, not even a header bit. */
    public OpenOptions withReadOnly(boolean value) {
        return new OpenOptions(value, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheBudget);
    }

    /** Reads served by the backing chain copy the whole cluster(s) into this image, as {@code qemu-io -C}. */
    public OpenOptions withCopyOnRead(boolean value) {
        return new OpenOptions(readOnly, value, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheBudget);
    }

    /**
     * Maximum number of L2 tables cached in memory for this image (at least 1; default 50 as in QEMU). The bytes
     * they take are also bounded by the {@linkplain #withCacheBudget cache budget} shared with other images.
     */
    public OpenOptions withL2CacheTables(int tables) {
        if (tables < 1) {
            throw new IllegalArgumentException("l2CacheTables " + tables + " must be at least 1");
        }
        return new OpenOptions(readOnly, copyOnRead, tables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheBudget);
    }

    /**
     * The memory budget that this image's L2 cache, and those of its backing files, draw from. By default every
     * image of the JVM shares {@link CacheBudget#jvm()} (an eighth of the maximum heap, at least 4 MiB, at most
     * 1 GiB; system property {@code qed.cacheBudget}); pass {@link CacheBudget#ofBytes(long)} to give images a budget
     * of their own. A table that does not fit even after evicting every other table fails with an IOException naming
     * the budget. The {@code qed:} file system's env key for this is {@code cacheBudget} (a size in bytes, with an
     * optional k, m or g suffix: a budget of that size for the file system's image and its backing chain).
     */
    public OpenOptions withCacheBudget(CacheBudget budget) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, Objects.requireNonNull(budget));
    }

    /** Refuse images whose tables ({@code table_size * cluster_size}) are larger than this (default 64 MiB). */
    public OpenOptions withMaxTableBytes(long bytes) {
        if (bytes < 4096) {
            throw new IllegalArgumentException("maxTableBytes " + bytes + " must be at least 4096");
        }
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, bytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheBudget);
    }

    /** Which backing files may be followed (default {@link BackingPolicy#FOLLOW}). */
    public OpenOptions withBackingPolicy(BackingPolicy policy) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, Objects.requireNonNull(policy),
                maxChainDepth, probeBacking, storageFactory, cacheBudget);
    }

    /** Maximum number of backing files below the image (default 64). */
    public OpenOptions withMaxChainDepth(int depth) {
        if (depth < 0) {
            throw new IllegalArgumentException("maxChainDepth " + depth + " must not be negative");
        }
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, depth,
                probeBacking, storageFactory, cacheBudget);
    }

    /**
     * Whether a backing file without {@code QED_F_BACKING_FORMAT_NO_PROBE} may be probed (QED by its magic,
     * otherwise raw). When false such images are refused. Default true, as QEMU.
     */
    public OpenOptions withProbeBacking(boolean value) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                value, storageFactory, cacheBudget);
    }

    /** Where the image's bytes come from; tests use this to inject faults. */
    public OpenOptions withStorageFactory(StorageFactory factory) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, Objects.requireNonNull(factory), cacheBudget);
    }
}
