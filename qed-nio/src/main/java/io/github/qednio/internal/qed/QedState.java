package io.github.qednio.internal.qed;

import io.github.qednio.format.Geometry;
import io.github.qednio.format.QedHeader;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.internal.storage.Storage;
import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Everything one open QED image is made of, built in one place and handed whole to each part of the engine, as
 * QEMU hands every function of its driver one {@code BDRVQEDState}. The parts ({@link AllocatingWrite},
 * {@link ReadPath}, {@link WritePath}, {@link Discard}, {@link CheckAndRepair}, {@link Compaction},
 * {@link FreeSpace}) reach each other and the shared collaborators through it, so none of them is wired by hand
 * and no loop between them is closed by a setter.
 *
 * <p>The fields are final and set here; the parts only read them, and only after this constructor has returned
 * (none of them calls another while it is being built).
 */
final class QedState {
    final Path path;
    final Storage storage;
    final OpenOptions options;
    final Geometry geo;
    final HeaderState header;
    final TableIO tableIO;
    /** Clusters freed by discard, compaction or a leak repair, pending until durable, then reusable. */
    final FreeClusters free;
    /** Draws from the JVM-wide (or the options') cache budget; holds deferred L2 entry updates. */
    final L2Cache l2Cache;
    final ClusterAllocator allocator;
    final ClusterLookup lookup;
    /** Serialises allocating writes, header updates and checks (QEMU's allocating-write queue). */
    final ReentrantLock lock = new ReentrantLock(true);
    /** Keeps reads and in-place writes off clusters being freed or moved. */
    final ClusterGuard guard = new ClusterGuard();
    /** Operations in progress; close waits for them. */
    final InFlightGate gate = new InFlightGate();
    /** The backing file as this image holds it (a shared handle, or a detached one), or null. */
    final Backing backing;
    /** The backing file name as stored in the header, or null. */
    final String backingName;
    final BackingReads backingReads;

    final AllocatingWrite allocating;
    final ReadPath reads;
    final WritePath writes;
    final CheckAndRepair checker;
    final FreeSpace space;
    final Discard discards;
    final Compaction compaction;

    QedState(Path path, Storage storage, OpenOptions options, QedHeader header, Geometry geo, L1Table l1,
             Backing backing, String backingName, long fileLength) {
        this.path = path;
        this.storage = storage;
        this.options = options;
        this.geo = geo;
        this.backing = backing;
        this.backingName = backingName;
        this.header = new HeaderState(storage, lock, header);
        this.tableIO = new TableIO(storage, geo);
        this.free = new FreeClusters();
        // Data must be durable before an entry points at it when a backing file would show through otherwise, or
        // when the cluster was reused (it holds another position's old data).
        this.l2Cache = new L2Cache(tableIO, options.cacheBudget(), options.l2CacheTables(), () -> {
            if (backing != null || free.everReused()) {
                storage.force();
            }
        });
        this.allocator = new ClusterAllocator(storage, geo, fileLength, free, this::reclaimFreed);
        this.lookup = new ClusterLookup(storage.name(), geo, l1, l2Cache, allocator);
        this.backingReads = new BackingReads(backing, this.header);
        this.allocating = new AllocatingWrite(this);
        this.reads = new ReadPath(this);
        this.writes = new WritePath(this);
        this.checker = new CheckAndRepair(this);
        this.space = new FreeSpace(this);
        this.discards = new Discard(this);
        this.compaction = new Compaction(this);
    }

    /** The allocator's reclaimer; reads {@link #space} when an allocation needs it, long after construction. */
    private void reclaimFreed() throws java.io.IOException {
        space.reclaimFreed();
    }

    /** Whether unallocated clusters show a backing file (else they read as zeros). */
    boolean hasBacking() {
        return backing != null;
    }
}
