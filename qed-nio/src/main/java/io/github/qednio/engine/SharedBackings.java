package io.github.qednio.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The backing files open in this JVM, shared between the overlays that use them and reference-counted: a base
 * image under a hundred thin overlays is opened once (one file handle, one L2 cache), read-only, and closed when
 * the last overlay above it closes.
 *
 * <p>Entries are keyed by the file's real path and by what changes how it is read (its format, the storage
 * factory and the table-size limit). A policy decision made for the first overlay does not carry over to the
 * next: whoever reuses an entry re-applies its own policy to the chain below it ({@link Link}s).
 */
final class SharedBackings {
    /** What makes two opens of a backing file interchangeable. */
    record Key(Path realPath, BackingFormat format, StorageFactory storageFactory, long maxTableBytes) {
    }

    /**
     * One step of a backing chain, as the image above recorded it.
     *
     * @param image  the image that names the backing file
     * @param name   the name as stored in its header
     * @param real   the backing file's real path
     * @param probed whether its format was probed (no {@code QED_F_BACKING_FORMAT_NO_PROBE})
     */
    record Link(Path image, String name, Path real, boolean probed) {
    }

    /** Opens the backing file for a new entry. */
    @FunctionalInterface
    interface Opener {
        Backing open() throws IOException;
    }

    /** Checks an existing entry's chain against the policy of whoever wants to reuse it. */
    @FunctionalInterface
    interface Validator {
        void check(List<Link> below) throws IOException;
    }

    private static final Map<Key, Entry> OPEN = new HashMap<>();

    private SharedBackings() {
    }

    private static final class Entry {
        final Key key;
        final Backing backing;
        /** The chain below this backing file (empty for raw, or a QED image without a backing file). */
        final List<Link> below;
        int references;

        Entry(Key key, Backing backing, List<Link> below) {
            this.key = key;
            this.backing = backing;
            this.below = below;
        }
    }

    /**
     * Returns a handle on the backing file for {@code key}: the open one, after {@code validator} accepts its
     * chain, or a new one from {@code opener}. Each handle must be closed once.
     */
    static Backing acquire(Key key, Link link, Path resolved, Opener opener, Validator validator)
            throws IOException {
        synchronized (OPEN) {
            Entry e = OPEN.get(key);
            if (e != null) {
                validator.check(e.below);
            } else {
                // Opening under the lock keeps two overlays from opening the same base twice; nested backing
                // files of this one are acquired by the same thread, so the monitor is simply re-entered.
                Backing b = opener.open();
                e = new Entry(key, b, chainBelow(b));
                if (b.image() != null) {
                    b.image().markSharedBacking();
                }
                OPEN.put(key, e);
            }
            e.references++;
            return new Handle(e, link, resolved);
        }
    }

    private static List<Link> chainBelow(Backing b) {
        QedImage img = b.image();
        if (img == null || !(img.backing() instanceof Handle h)) {
            return List.of();
        }
        List<Link> below = new ArrayList<>();
        below.add(h.link);
        below.addAll(h.entry.below);
        return List.copyOf(below);
    }

    private static void release(Entry e) throws IOException {
        Backing toClose = null;
        synchronized (OPEN) {
            if (--e.references == 0) {
                OPEN.remove(e.key);
                toClose = e.backing;
            }
        }
        if (toClose != null) {
            if (toClose.image() != null) {
                toClose.image().closeNow();
            } else {
                toClose.close();
            }
        }
    }

    /** Whether any overlay in this JVM reads {@code realPath} as a backing file now. */
    static boolean isInUse(Path realPath) {
        synchronized (OPEN) {
            return OPEN.keySet().stream().anyMatch(k -> k.realPath().equals(realPath));
        }
    }

    /** Number of references to {@code realPath} (all formats), for tests. */
    static int references(Path realPath) {
        synchronized (OPEN) {
            return OPEN.values().stream().filter(e -> e.key.realPath().equals(realPath))
                    .mapToInt(e -> e.references).sum();
        }
    }

    /** One overlay's reference to a shared backing file. */
    static final class Handle implements Backing {
        private final Entry entry;
        private final Link link;
        /** The path as this overlay resolved the name (the entry may have been opened through another). */
        private final Path path;
        private final AtomicBoolean closed = new AtomicBoolean();

        private Handle(Entry entry, Link link, Path path) {
            this.entry = entry;
            this.link = link;
            this.path = path;
        }

        @Override
        public void read(ByteBuffer dst, long position) throws IOException {
            entry.backing.read(dst, position);
        }

        @Override
        public long size() throws IOException {
            return entry.backing.size();
        }

        @Override
        public BackingFormat format() {
            return entry.backing.format();
        }

        @Override
        public Path path() {
            return path;
        }

        @Override
        public QedImage image() {
            return entry.backing.image();
        }

        @Override
        public void close() throws IOException {
            if (closed.compareAndSet(false, true)) {
                release(entry);
            }
        }
    }
}
