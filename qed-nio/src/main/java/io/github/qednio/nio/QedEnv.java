package io.github.qednio.nio;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.BackingPolicy;
import io.github.qednio.image.CacheBudget;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.format.Sizes;
import java.math.BigInteger;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The environment map of {@code FileSystems.newFileSystem(qedUri, env)}, parsed and checked.
 *
 * <p>Keys: {@code create}, {@code size}, {@code clusterSize}, {@code tableSize}, {@code backingFile},
 * {@code backingFormat} ({@code raw} or {@code qed}), {@code readOnly}, {@code copyOnRead},
 * {@code backingPolicy} ({@code follow}, {@code confine} or {@code deny}), {@code probeBacking} ({@code false}
 * refuses backing files whose format the header does not record, instead of probing them), {@code cacheBudget}
 * (a size, or a {@link CacheBudget}: the L2 tables of this file system's image and its backing chain then draw from
 * a budget of their own instead of the JVM-wide {@link CacheBudget#jvm()}) and {@code detectZeroes} ({@code true}
 * stores all-zero writes without allocating, as QEMU's {@code detect-zeroes=on}; see
 * {@link OpenOptions#withDetectZeroes}) and {@code forceShare} ({@code true} with {@code readOnly=true} reads the
 * image even while another process writes it, as qemu-img's {@code -U}; see {@link OpenOptions#withForceShare}).
 * Values may be Strings
 * or the natural Java type (Boolean, Number, {@link ImageFormat}, {@link BackingPolicy}, Path for
 * {@code backingFile}). Sizes take a binary K/M/G/T/P/E suffix as qemu-img does ({@code "64M"}, {@code "1.5G"};
 * see {@link Sizes}).
 *
 * <p>{@code create=true} creates the image only if it does not exist; an existing image is opened as it is and the
 * creation keys (size, clusterSize, tableSize, backingFile, backingFormat) are then checked but not used. Without
 * {@code size}, an image with a {@code backingFile} takes the backing file's size.
 */
final class QedEnv {
    static final String CREATE = "create";
    static final String SIZE = "size";
    static final String CLUSTER_SIZE = "clusterSize";
    static final String TABLE_SIZE = "tableSize";
    static final String BACKING_FILE = "backingFile";
    static final String BACKING_FORMAT = "backingFormat";
    static final String READ_ONLY = "readOnly";
    static final String COPY_ON_READ = "copyOnRead";
    static final String BACKING_POLICY = "backingPolicy";
    static final String PROBE_BACKING = "probeBacking";
    static final String CACHE_BUDGET = "cacheBudget";
    static final String DETECT_ZEROES = "detectZeroes";
    static final String FORCE_SHARE = "forceShare";

    private static final Set<String> KEYS = Set.of(CREATE, SIZE, CLUSTER_SIZE, TABLE_SIZE, BACKING_FILE,
            BACKING_FORMAT, READ_ONLY, COPY_ON_READ, BACKING_POLICY, PROBE_BACKING, CACHE_BUDGET,
            DETECT_ZEROES, FORCE_SHARE);

    private final boolean create;
    private final CreateOptions createOptions;
    private final OpenOptions openOptions;

    private QedEnv(boolean create, CreateOptions createOptions, OpenOptions openOptions) {
        this.create = create;
        this.createOptions = createOptions;
        this.openOptions = openOptions;
    }

    /**
     * Parses {@code env}.
     *
     * @throws IllegalArgumentException naming the key, for an unknown key or a bad value
     */
    static QedEnv parse(Map<String, ?> env) {
        for (String key : env.keySet()) {
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("unknown qed: file system env key '" + key + "' (known: "
                        + String.join(", ", new java.util.TreeSet<>(KEYS)) + ")");
            }
        }
        boolean create = bool(env, CREATE, false);
        OpenOptions open = OpenOptions.defaults()
                .withReadOnly(bool(env, READ_ONLY, false))
                .withCopyOnRead(bool(env, COPY_ON_READ, false))
                .withProbeBacking(bool(env, PROBE_BACKING, OpenOptions.defaults().probeBacking()))
                .withDetectZeroes(bool(env, DETECT_ZEROES, OpenOptions.defaults().detectZeroes()))
                .withForceShare(bool(env, FORCE_SHARE, false));
        if (open.forceShare() && !open.readOnly()) {
            throw new IllegalArgumentException("env key '" + FORCE_SHARE + "=true' needs '" + READ_ONLY
                    + "=true': force-share is only for read-only opens, as in QEMU");
        }
        Object budget = env.get(CACHE_BUDGET);
        if (budget instanceof CacheBudget b) {
            open = open.withCacheBudget(b);
        } else if (budget != null) {
            long n = bytes(CACHE_BUDGET, budget);
            try {
                open = open.withCacheBudget(CacheBudget.ofBytes(n));
            } catch (IllegalArgumentException e) {
                throw bad(CACHE_BUDGET, budget, e.getMessage());
            }
        }
        Object policy = env.get(BACKING_POLICY);
        if (policy != null) {
            open = open.withBackingPolicy(policy instanceof BackingPolicy p ? p
                    : parseWith(BACKING_POLICY, policy, BackingPolicy::parse));
        }
        Object backingFile = env.get(BACKING_FILE);
        String backingName = null;
        if (backingFile != null) {
            if (!(backingFile instanceof String || backingFile instanceof Path)) {
                throw bad(BACKING_FILE, backingFile, "a String or a Path");
            }
            backingName = backingFile.toString();
            if (backingName.isEmpty()) {
                throw bad(BACKING_FILE, backingFile, "a non-empty file name");
            }
        }
        Object format = env.get(BACKING_FORMAT);
        ImageFormat backingFormat = null;
        if (format != null) {
            backingFormat = format instanceof ImageFormat f ? f
                    : parseWith(BACKING_FORMAT, format, ImageFormat::parse);
            if (backingName == null) {
                throw new IllegalArgumentException("env key '" + BACKING_FORMAT + "' needs '" + BACKING_FILE + "'");
            }
        }
        Long size = env.containsKey(SIZE) ? bytes(SIZE, env.get(SIZE)) : null;
        CreateOptions c;
        if (size != null) {
            c = CreateOptions.ofSize(size).withBackingFile(backingName, backingFormat);
        } else if (backingName != null) {
            c = CreateOptions.overlay(backingName, backingFormat);
        } else {
            c = null; // only an error if an image must actually be created
        }
        if (c != null) {
            if (env.containsKey(CLUSTER_SIZE)) {
                c = c.withClusterSize(bytes(CLUSTER_SIZE, env.get(CLUSTER_SIZE)));
            }
            if (env.containsKey(TABLE_SIZE)) {
                c = c.withTableSize(integer(TABLE_SIZE, env.get(TABLE_SIZE)));
            }
        } else {
            // Still check the values, so a typo is reported even when the image exists.
            if (env.containsKey(CLUSTER_SIZE)) {
                bytes(CLUSTER_SIZE, env.get(CLUSTER_SIZE));
            }
            if (env.containsKey(TABLE_SIZE)) {
                integer(TABLE_SIZE, env.get(TABLE_SIZE));
            }
        }
        return new QedEnv(create, c, open);
    }

    /** Whether a missing image should be created. */
    boolean create() {
        return create;
    }

    /**
     * How to create the image.
     *
     * @throws IllegalArgumentException if neither {@code size} nor {@code backingFile} was given
     */
    CreateOptions createOptions() {
        if (createOptions == null) {
            throw new IllegalArgumentException("env key '" + SIZE + "' is required to create an image without a"
                    + " '" + BACKING_FILE + "'");
        }
        return createOptions;
    }

    OpenOptions openOptions() {
        return openOptions;
    }

    private static boolean bool(Map<String, ?> env, String key, boolean dflt) {
        Object v = env.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if (v instanceof String s) {
            if (s.equalsIgnoreCase("true")) {
                return true;
            }
            if (s.equalsIgnoreCase("false")) {
                return false;
            }
        }
        throw bad(key, v, "true or false");
    }

    private static long integer(String key, Object v) {
        if (v instanceof Byte || v instanceof Short || v instanceof Integer || v instanceof Long) {
            return ((Number) v).longValue();
        }
        if (v instanceof BigInteger b && b.bitLength() < 64) {
            return b.longValue();
        }
        if (v instanceof String s) {
            try {
                return Long.parseLong(s.trim());
            } catch (NumberFormatException e) {
                // fall through
            }
        }
        throw bad(key, v, "a whole number");
    }

    /** A byte count: a whole number, or a String as qemu-img takes it ({@link Sizes#parse}). */
    static long bytes(String key, Object v) {
        long n;
        if (v instanceof String s) {
            n = parseSize(key, s);
        } else {
            n = integer(key, v);
        }
        if (n < 0) {
            throw bad(key, v, "a non-negative number of bytes");
        }
        return n;
    }

    private static long parseSize(String key, String s) {
        try {
            return Sizes.parse(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("env key '" + key + "': " + e.getMessage(), e);
        }
    }

    private interface Parser<T> {
        T parse(String s);
    }

    private static <T> T parseWith(String key, Object v, Parser<T> parser) {
        if (!(v instanceof String s)) {
            throw bad(key, v, "a String");
        }
        try {
            return parser.parse(s.trim().toLowerCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("env key '" + key + "': " + e.getMessage(), e);
        }
    }

    private static IllegalArgumentException bad(String key, Object v, String expected) {
        return new IllegalArgumentException("env key '" + key + "' has value '" + v + "' ("
                + v.getClass().getSimpleName() + "); expected " + expected);
    }
}
