package io.github.qednio.image;

import io.github.qednio.internal.qed.L2Cache;
import io.github.qednio.internal.storage.EarlyWriteback;
import io.github.qednio.internal.storage.Storage;
import io.github.qednio.internal.storage.StorageFactory;
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
            CacheMode.WRITEBACK, null, false, 0, false);

    private final boolean readOnly;
    private final boolean copyOnRead;
    private final int l2CacheTables;
    private final long maxTableBytes;
    private final BackingPolicy backingPolicy;
    private final int maxChainDepth;
    private final boolean probeBacking;
    private final StorageFactory storageFactory;
    private final CacheMode cacheMode;
    /** Null: {@link CacheBudget#jvm()}, looked up at use so that the JVM-wide budget is created lazily. */
    private final CacheBudget cacheBudget;
    private final boolean detectZeroes;
    private final long bytesPerSync;
    private final boolean forceShare;

    private OpenOptions(boolean readOnly, boolean copyOnRead, int l2CacheTables, long maxTableBytes,
                        BackingPolicy backingPolicy, int maxChainDepth, boolean probeBacking,
                        StorageFactory storageFactory, CacheMode cacheMode, CacheBudget cacheBudget,
                        boolean detectZeroes, long bytesPerSync, boolean forceShare) {
        this.readOnly = readOnly;
        this.copyOnRead = copyOnRead;
        this.l2CacheTables = l2CacheTables;
        this.maxTableBytes = maxTableBytes;
        this.backingPolicy = backingPolicy;
        this.maxChainDepth = maxChainDepth;
        this.probeBacking = probeBacking;
        this.storageFactory = storageFactory;
        this.cacheMode = cacheMode;
        this.cacheBudget = cacheBudget;
        this.detectZeroes = detectZeroes;
        this.bytesPerSync = bytesPerSync;
        this.forceShare = forceShare;
    }

    /**
     * The defaults: read-write, no copy-on-read, a 50-table L2 cache, tables up to 64 MiB, backing files followed
     * and probed as QEMU does up to 64 deep, {@link CacheMode#WRITEBACK}.
     *
     * @return the default options (a shared immutable instance)
     */
    public static OpenOptions defaults() {
        return DEFAULTS;
    }

    /**
     * {@link #defaults()} but read-only.
     *
     * @return options for opening an image without ever writing to it
     */
    public static OpenOptions readOnlyDefaults() {
        return DEFAULTS.withReadOnly(true);
    }

    /**
     * Whether the image is opened read-only.
     *
     * @return true if nothing is ever written to the image (default false)
     */
    public boolean readOnly() {
        return readOnly;
    }

    /**
     * Whether reads served by the backing chain are copied into the image.
     *
     * @return true for copy-on-read (default false)
     */
    public boolean copyOnRead() {
        return copyOnRead;
    }

    /**
     * Maximum number of L2 tables kept in memory per image.
     *
     * @return at least 1 (default 50)
     */
    public int l2CacheTables() {
        return l2CacheTables;
    }

    /**
     * Largest table size ({@code table_size * cluster_size}) an image may have.
     *
     * @return bytes, at least 4096 (default 64 MiB)
     */
    public long maxTableBytes() {
        return maxTableBytes;
    }

    /**
     * Which backing files may be followed.
     *
     * @return the policy, never null (default {@link BackingPolicy#FOLLOW})
     */
    public BackingPolicy backingPolicy() {
        return backingPolicy;
    }

    /**
     * Maximum number of backing files below the image.
     *
     * @return zero or more (default 64)
     */
    public int maxChainDepth() {
        return maxChainDepth;
    }

    /**
     * Whether an unrecorded backing format may be probed.
     *
     * @return true if probing is allowed (default true)
     */
    public boolean probeBacking() {
        return probeBacking;
    }

    /**
     * Where the image's bytes come from (internal; tests wrap it to inject faults).
     *
     * @return the storage factory
     */
    public StorageFactory storageFactory() {
        return storageFactory;
    }

    /**
     * Whether flushes reach the disk.
     *
     * @return the cache mode, never null; {@link CacheMode#WRITEBACK} unless changed
     */
    public CacheMode cacheMode() {
        return cacheMode;
    }

    /**
     * Opens the storage of {@code file} from the factory, with this cache mode applied over it; a read-only open
     * shares the file as {@link #forceShare()} says (internal).
     *
     * @param file the image file
     * @param readOnly whether it is opened for reading only
     * @return the storage
     * @throws java.io.IOException if the file cannot be opened or is locked by another process
     */
    public Storage openStorage(java.nio.file.Path file, boolean readOnly) throws java.io.IOException {
        if (forceShare && !readOnly) {
            throw new IllegalArgumentException(file + ": force-share (OpenOptions.withForceShare) is only for"
                    + " read-only opens (OpenOptions.withReadOnly(true)), as in QEMU");
        }
        Storage s = cacheMode.apply(storageFactory.open(file, readOnly, readOnly && forceShare));
        return bytesPerSync > 0 && !readOnly && cacheMode == CacheMode.WRITEBACK ? new EarlyWriteback(s, bytesPerSync)
                : s;
    }

    /**
     * Opens the image read-only: nothing is ever written to it, not even a header bit. The image is locked as
     * QEMU's read-only users lock it: the open is refused with an {@link ImageLockedException} while another
     * process writes the image, and while it is open no other process can start writing it (QEMU's writers are
     * refused with {@code Failed to get "write" lock}), unless {@linkplain #withForceShare force-share} is on.
     *
     * @param value true for read-only
     * @return options equal to these but for the flag
     */
    public OpenOptions withReadOnly(boolean value) {
        return new OpenOptions(value, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheMode, cacheBudget, detectZeroes, bytesPerSync, forceShare);
    }

    /**
     * Reads served by the backing chain copy the whole cluster(s) into this image, as {@code qemu-io -C}. Ignored on a
     * read-only image.
     *
     * @param value true for copy-on-read
     * @return options equal to these but for the flag
     */
    public OpenOptions withCopyOnRead(boolean value) {
        return new OpenOptions(readOnly, value, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheMode, cacheBudget, detectZeroes, bytesPerSync, forceShare);
    }

    /**
     * Maximum number of L2 tables cached in memory per image (default 50, as in QEMU). The bytes they take are also
     * bounded by the {@linkplain #withCacheBudget cache budget} shared with other images.
     *
     * @param tables the number of tables, at least 1
     * @return options equal to these but for the count
     * @throws IllegalArgumentException if {@code tables} is less than 1
     */
    public OpenOptions withL2CacheTables(int tables) {
        if (tables < 1) {
            throw new IllegalArgumentException("l2CacheTables " + tables + " must be at least 1");
        }
        return new OpenOptions(readOnly, copyOnRead, tables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheMode, cacheBudget, detectZeroes, bytesPerSync, forceShare);
    }

    /**
     * Refuses images whose tables ({@code table_size * cluster_size}) are larger than this (default 64 MiB), so that a
     * hostile header cannot make the engine allocate huge tables.
     *
     * @param bytes the limit in bytes, at least 4096
     * @return options equal to these but for the limit
     * @throws IllegalArgumentException if {@code bytes} is less than 4096
     */
    public OpenOptions withMaxTableBytes(long bytes) {
        if (bytes < 4096) {
            throw new IllegalArgumentException("maxTableBytes " + bytes + " must be at least 4096");
        }
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, bytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheMode, cacheBudget, detectZeroes, bytesPerSync, forceShare);
    }

    /**
     * Which backing files may be followed (default {@link BackingPolicy#FOLLOW}).
     *
     * @param policy the policy, not null
     * @return options equal to these but for the policy
     * @throws NullPointerException if {@code policy} is null
     */
    public OpenOptions withBackingPolicy(BackingPolicy policy) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, Objects.requireNonNull(policy),
                maxChainDepth, probeBacking, storageFactory, cacheMode, cacheBudget, detectZeroes, bytesPerSync,
                forceShare);
    }

    /**
     * Maximum number of backing files below the image (default 64); a deeper chain is refused when opened.
     *
     * @param depth the limit, zero (no backing file allowed) or more
     * @return options equal to these but for the limit
     * @throws IllegalArgumentException if {@code depth} is negative
     */
    public OpenOptions withMaxChainDepth(int depth) {
        if (depth < 0) {
            throw new IllegalArgumentException("maxChainDepth " + depth + " must not be negative");
        }
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, depth,
                probeBacking, storageFactory, cacheMode, cacheBudget, detectZeroes, bytesPerSync, forceShare);
    }

    /**
     * Whether a backing file without {@code QED_F_BACKING_FORMAT_NO_PROBE} may be probed (QED by its magic,
     * refused if of another known format, otherwise raw). When false such images are refused. Default true, as
     * QEMU.
     *
     * @param value true to allow probing
     * @return options equal to these but for the flag
     */
    public OpenOptions withProbeBacking(boolean value) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                value, storageFactory, cacheMode, cacheBudget, detectZeroes, bytesPerSync, forceShare);
    }

    /**
     * Where the image's bytes come from; tests use this to inject faults (not part of the public API).
     *
     * @param factory opens an image file's storage
     * @return options like these with that factory
     */
    public OpenOptions withStorageFactory(StorageFactory factory) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, Objects.requireNonNull(factory), cacheMode, cacheBudget, detectZeroes, bytesPerSync,
                forceShare);
    }

    /**
     * Whether the image's flushes reach the disk (default {@link CacheMode#WRITEBACK}, every flush an
     * {@code fsync}). {@link CacheMode#UNSAFE} skips every {@code fsync}, as {@code qemu-img -t unsafe}: the image is
     * written in the same order and a clean close still clears {@code QED_F_NEED_CHECK}; only durability across a
     * power loss or kernel crash is given up. The mode applies to the image and to a raw base written by a commit;
     * backing files are only read.
     *
     * @param mode the cache mode, not null
     * @return options equal to these but for the cache mode
     * @throws NullPointerException if {@code mode} is null
     */
    public OpenOptions withCacheMode(CacheMode mode) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, Objects.requireNonNull(mode, "mode"), cacheBudget, detectZeroes,
                bytesPerSync, forceShare);
    }

    /**
     * The memory budget the image's L2 cache draws from.
     *
     * @return the budget set by {@link #withCacheBudget}, or {@link CacheBudget#jvm()} by default; never null
     */
    public CacheBudget cacheBudget() {
        return cacheBudget != null ? cacheBudget : CacheBudget.jvm();
    }

    /**
     * The memory budget that this image's L2 cache, and those of its backing files, draw from. By default every
     * image of the JVM shares {@link CacheBudget#jvm()} (an eighth of the maximum heap, at least 4 MiB, at most
     * 1 GiB; system property {@code qed.cacheBudget}); pass {@link CacheBudget#ofBytes(long)} to give images a budget
     * of their own. A table that does not fit even after evicting every other table fails with an IOException naming
     * the budget. The {@code qed:} file system's env key for this is {@code cacheBudget} (a size as qemu-img takes
     * it, or a {@link CacheBudget}).
     *
     * @param budget the budget, not null
     * @return options equal to these but for the budget
     * @throws NullPointerException if {@code budget} is null
     */
    public OpenOptions withCacheBudget(CacheBudget budget) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheMode, Objects.requireNonNull(budget, "budget"), detectZeroes,
                bytesPerSync, forceShare);
    }

    /**
     * Whether writes of all-zero data are detected, as QEMU's {@code detect-zeroes=on}.
     *
     * @return true if zero detection is on (default false, as in QEMU)
     */
    public boolean detectZeroes() {
        return detectZeroes;
    }

    /**
     * Detects writes whose data is all zeros, as QEMU's {@code detect-zeroes=on}, and stores them without allocating
     * space: whole clusters that the image does not hold stay unallocated when nothing is below them (no backing
     * file), and become zero clusters (as {@link QedImage#writeZeroes}) when a backing file would otherwise show
     * through; clusters the image already holds are overwritten in place. A zero write to part of a cluster is
     * skipped when that cluster already reads as zeros from this image alone (a zero cluster, or an unallocated one
     * without a backing file), and written as ordinary data otherwise. Reads return exactly what was written either
     * way; only the space used differs. The {@code qed:} file system's env key for this is {@code detectZeroes}.
     * Default false, as in QEMU (checking costs a scan of each written buffer).
     *
     * @param value true to detect zero writes
     * @return options equal to these but for the flag
     */
    public OpenOptions withDetectZeroes(boolean value) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheMode, cacheBudget, value, bytesPerSync, forceShare);
    }

    /**
     * After how many bytes written the image starts writing its data back to disk without waiting.
     *
     * @return the byte count set by {@link #withBytesPerSync}, or 0 (off, the default)
     */
    public long bytesPerSync() {
        return bytesPerSync;
    }

    /**
     * Starts writing the image's new data back to disk after every {@code bytes} bytes written, without waiting for
     * it ({@code sync_file_range(SYNC_FILE_RANGE_WRITE)}, as RocksDB's {@code bytes_per_sync}), so that the flush at
     * the end of a long write has less left to do: the disk works while the writer still computes. For large writes
     * that end with a flush, such as a conversion with {@link CacheMode#WRITEBACK} ({@code qed convert -t writeback}
     * sets 32 MiB). Durability is unchanged: data is durable after a flush, not before. Only with
     * {@link CacheMode#WRITEBACK} (with {@link CacheMode#UNSAFE} nothing needs to reach the disk), for writers, and
     * where the native call exists (Java 22+ on Linux with native access, as for hole detection); elsewhere it does
     * nothing.
     *
     * <pre>{@code
     * OpenOptions bulk = OpenOptions.defaults().withBytesPerSync(32L << 20);
     * }</pre>
     *
     * @param bytes the byte count, or 0 for off (the default)
     * @return options equal to these but for the byte count
     * @throws IllegalArgumentException if {@code bytes} is negative
     */
    public OpenOptions withBytesPerSync(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("bytesPerSync must be 0 (off) or positive, not " + bytes);
        }
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheMode, cacheBudget, detectZeroes, bytes, forceShare);
    }

    /**
     * Whether a read-only open shares the image with writers in other processes.
     *
     * @return true for force-share (default false)
     */
    public boolean forceShare() {
        return forceShare;
    }

    /**
     * Reads the image even while another process writes it, as qemu-img's and qemu-io's {@code -U}
     * ({@code --force-share}): the read-only open takes only QEMU's consistent-read lock and shares every
     * permission, so it is not refused by a writer and does not keep one from starting. What it reads may change,
     * or be inconsistent (a table written but not yet the data), while the other process writes. Applies to the
     * image and its backing files; only for read-only opens ({@link #withReadOnly}): a read-write open with it is
     * refused, as QEMU refuses {@code force-share=on} for read-write images. The {@code qed:} file system's env key
     * for this is {@code forceShare}. Within one JVM readers and the writer of an image share it either way.
     *
     * @param value true to share the image with writers in other processes
     * @return options equal to these but for the flag
     */
    public OpenOptions withForceShare(boolean value) {
        return new OpenOptions(readOnly, copyOnRead, l2CacheTables, maxTableBytes, backingPolicy, maxChainDepth,
                probeBacking, storageFactory, cacheMode, cacheBudget, detectZeroes, bytesPerSync, value);
    }
}
