package io.github.qednio.nio;

import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.util.ArrayList;
import java.util.List;

/**
 * The byte-range locks held on one open image in this JVM. As with the JDK's own file channels, a lock that would
 * overlap one already held in this JVM gives {@link OverlappingFileLockException}. The locks are advisory and
 * local to this JVM: the image has a single engine per JVM, so they only coordinate users of the disk.
 */
final class LockTable {
    private final List<FileLock> locks = new ArrayList<>();

    synchronized void add(FileLock lock) {
        for (FileLock l : locks) {
            if (l.overlaps(lock.position(), lock.size())) {
                throw new OverlappingFileLockException();
            }
        }
        locks.add(lock);
    }

    synchronized void remove(FileLock lock) {
        locks.remove(lock);
    }

    synchronized boolean contains(FileLock lock) {
        return locks.contains(lock);
    }

    synchronized void removeAll(DiskChannel channel) {
        locks.removeIf(l -> l.channel() == channel);
    }
}
