package io.github.qednio.internal.qed;

import java.util.concurrent.locks.StampedLock;

/**
 * Keeps guest I/O off clusters that are being freed or moved. Reads and in-place writes look a cluster up and then
 * do their I/O without the allocation lock; once clusters can be freed (discard, leak reclaim) and moved
 * (compaction), such an operation might still be using a cluster that has meanwhile been handed to another guest
 * position. So in-place writes hold a shared section from their lookup to the end of their I/O; reads run
 * optimistically and are repeated if clusters were freed or moved meanwhile. A freed cluster is handed out again
 * only after {@link #awaitQuiescence()}, which waits for every section in progress (and invalidates every
 * optimistic read); compaction holds the exclusive section while it copies a cluster and repoints its entry.
 *
 * <p>Lock order: the image's allocation lock before the exclusive section. Code inside a shared section never takes
 * the allocation lock.
 */
public final class ClusterGuard {
    private final StampedLock lock = new StampedLock();

    /** A stamp for an optimistic read, or 0 while the exclusive section is held. */
    long optimistic() {
        return lock.tryOptimisticRead();
    }

    /** Whether no cluster was freed for reuse or moved since {@code stamp} was taken. */
    boolean validate(long stamp) {
        return stamp != 0 && lock.validate(stamp);
    }

    long enterShared() {
        return lock.readLock();
    }

    void exitShared(long stamp) {
        lock.unlockRead(stamp);
    }

    long enterExclusive() {
        return lock.writeLock();
    }

    void exitExclusive(long stamp) {
        lock.unlockWrite(stamp);
    }

    /**
     * Waits until no operation that may have looked up a cluster before now is still using it: every shared
     * section in progress has ended, and every optimistic read will repeat itself.
     */
    void awaitQuiescence() {
        lock.unlockWrite(lock.writeLock());
    }
}
