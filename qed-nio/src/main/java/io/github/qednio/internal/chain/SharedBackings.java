package io.github.qednio.internal.chain;

import io.github.qednio.internal.qed.Backing;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.internal.JvmState;
import io.github.qednio.internal.qed.QedEngine;
import io.github.qednio.internal.qcow2.Qcow2Image;
import io.github.qednio.internal.storage.StorageFactory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The backing files open in this JVM, shared between the overlays that use them and reference-counted: a base
 * image under a hundred thin overlays is opened once (one file handle, one L2 cache), read-only, and closed when
 * the last overlay above it closes.
 *
 * <p>Entries are keyed by the file's real path and by what changes how it is read (its format, the storage
 * factory, the table-size limit, and force-share: a backing file opened with it does not keep other processes
 * from writing it, so it cannot serve an overlay opened without it). A policy decision made for the first overlay
 * does not carry over to the next: whoever reuses an entry re-applies its own policy to the chain below it
 * ({@link Link}s).
 *
 * <p>The JVM's backing files are in one instance, {@link #jvm()}; tests may make their own.
 */
public final class SharedBackings {
    /** What makes two opens of a backing file interchangeable. */
    record Key(Path realPath, ImageFormat format, StorageFactory storageFactory, long maxTableBytes,
               boolean forceShare) {
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

    /**
     * The open backing files. No file I/O happens under a JVM-wide lock: a backing file is opened by the thread
     * that needs it without any lock held, and each entry's reference count has its own monitor, so opening or
     * closing one backing file never waits for another's I/O.
     */
    private final ConcurrentMap<Key, Entry> open = new ConcurrentHashMap<>();

    /** An empty set of shared backing files; the library uses the JVM's ({@link #jvm()}). */
    SharedBackings() {
    }

    /**
     * The backing files shared in this JVM.
     *
     * @return the one instance of the class loader, kept in {@link JvmState}
     */
    public static SharedBackings jvm() {
        return JvmState.jvm().part(SharedBackings.class, SharedBackings::new);
    }

    private static final class Entry {
        final Key key;
        final Backing backing;
        /** The chain below this backing file (empty for raw, or an image without a backing file). */
        final List<Link> below;
        /** Guarded by this entry's monitor. */
        public int references;
        /** Set (under the monitor) when the last reference went: the entry is out of the map. */
        boolean retired;

        Entry(Key key, Backing backing, List<Link> below) {
            this.key = key;
            this.backing = backing;
            this.below = below;
        }
    }

    /**
     * Returns a handle on the backing file for {@code key}: the open one, after {@code validator} accepts its
     * chain, or a new one from {@code opener}. Each handle must be closed once.
     *
     * <p>Two threads opening the same backing file for the first time at once may both open it; the first to
     * publish its entry wins and the other closes its copy and shares the winner's (closing goes through the lock
     * manager, so it drops no lock). Waiting for another thread's open instead could deadlock on a crafted pair of
     * images that name each other as backing files, opened from both ends at once.
     */
    Backing acquire(Key key, Link link, Path resolved, Opener opener, Validator validator)
            throws IOException {
        for (;;) {
            Entry e = open.get(key);
            if (e == null) {
                Backing b = opener.open();
                Entry fresh;
                try {
                    fresh = new Entry(key, b, chainBelow(b));
                } catch (RuntimeException ex) {
                    closeQuietly(b, ex);
                    throw ex;
                }
                fresh.references = 1;
                e = open.putIfAbsent(key, fresh);
                if (e == null) {
                    if (b.image() != null) {
                        b.image().markSharedBacking();
                    }
                    return new Handle(this, fresh, link, resolved);
                }
                // Another thread published the same file first: use its entry, drop this copy.
                b.close();
            }
            synchronized (e) {
                if (!e.retired) {
                    validator.check(e.below);
                    e.references++;
                    return new Handle(this, e, link, resolved);
                }
            }
            // Retired between the lookup and the monitor: its last overlay closed it; look again.
        }
    }

    private static void closeQuietly(Backing b, Exception cause) {
        try {
            b.close();
        } catch (IOException suppressed) {
            cause.addSuppressed(suppressed);
        }
    }

    private static List<Link> chainBelow(Backing b) {
        if (!(b.below() instanceof Handle h)) {
            return List.of();
        }
        List<Link> below = new ArrayList<>();
        below.add(h.link);
        below.addAll(h.entry.below);
        return List.copyOf(below);
    }

    private void release(Entry e) throws IOException {
        synchronized (e) {
            if (--e.references > 0) {
                return;
            }
            e.retired = true;
            open.remove(e.key, e);
        }
        // Closed outside every monitor: its flush and closes are this file's I/O only.
        if (e.backing.image() != null) {
            e.backing.image().closeNow();
        } else {
            e.backing.close();
        }
    }

    /** Whether any overlay in this JVM reads {@code realPath} as a backing file now. */
    public boolean isInUse(Path realPath) {
        return open.keySet().stream().anyMatch(k -> k.realPath().equals(realPath));
    }

    /** Number of overlays' references to {@code realPath} (all formats): none once every overlay is closed. */
    public int references(Path realPath) {
        int n = 0;
        for (Entry e : open.values()) {
            if (e.key.realPath().equals(realPath)) {
                synchronized (e) {
                    n += e.retired ? 0 : e.references;
                }
            }
        }
        return n;
    }

    /** One overlay's reference to a shared backing file. */
    static final class Handle implements Backing {
        private final SharedBackings owner;
        private final Entry entry;
        private final Link link;
        /** The path as this overlay resolved the name (the entry may have been opened through another). */
        private final Path path;
        private final AtomicBoolean closed = new AtomicBoolean();

        private Handle(SharedBackings owner, Entry entry, Link link, Path path) {
            this.owner = owner;
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
        public ImageFormat format() {
            return entry.backing.format();
        }

        @Override
        public Path path() {
            return path;
        }

        @Override
        public QedEngine image() {
            return entry.backing.image();
        }

        @Override
        public Qcow2Image qcow2() {
            return entry.backing.qcow2();
        }

        @Override
        public Backing below() {
            return entry.backing.below();
        }

        @Override
        public void close() throws IOException {
            if (closed.compareAndSet(false, true)) {
                owner.release(entry);
            }
        }
    }
}
