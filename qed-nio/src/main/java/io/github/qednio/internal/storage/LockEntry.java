package io.github.qednio.internal.storage;

import io.github.qednio.image.ImageLockedException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Every open of one file in this JVM, in its {@link LockTable}: who uses the file (readers, consistent readers,
 * writers), every descriptor of it (channels, hole probes, the preallocation), which channels no user has now, and
 * the locks they hold ({@link LockBytes}). Guarded by {@link #lock}; the file's I/O runs under it only, so it never
 * waits for another file's.
 */
final class LockEntry {
    final LockTable table;
    final Object key;
    final Path file;
    final String name;
    final ReentrantLock lock = new ReentrantLock();
    /** Set when the entry leaves its table: a thread that finds it retired looks the file up again. */
    boolean retired;
    final List<FileChannel> channels = new ArrayList<>();
    /** Open channels no user has now, to be reused; a channel cannot be closed while others hold locks. */
    final List<FileChannel> idle = new ArrayList<>();
    final Set<FileChannel> writable = new HashSet<>();
    /** Hole probes' descriptors ({@link LockHandle#holeProbe}): closed with the channels, never before. */
    final List<HoleProbe> probes = new ArrayList<>();
    /** Probes no user has now, to be reused. */
    final List<HoleProbe> idleProbes = new ArrayList<>();
    /** The writers' preallocation ({@link LockHandle#preallocation}), closed with the channels; null until asked. */
    Preallocation preallocation;
    /** The bytes locked for the users of the file. */
    final LockBytes bytes;
    /** Finds and repairs locks the kernel dropped when a descriptor of the file was closed. */
    final LockHealing healing;
    int readers;
    /** The readers without force-share: while there are any, the file's write and resize stay unshared. */
    int consistentReaders;
    int writers;
    /** Set when the locks could not be taken again after a descriptor was closed; fails every reopen. */
    ImageLockedException lockLost;

    LockEntry(LockTable table, Object key, Path file) {
        this.table = table;
        this.key = key;
        this.file = file;
        this.name = file.toString();
        this.bytes = new LockBytes(file, name);
        this.healing = new LockHealing(this);
    }

    /** Gives up the writer's permissions, keeping write and resize unshared for consistent readers left. */
    void unlockWriting() throws IOException {
        bytes.unlockWriting(consistentReaders > 0);
    }

    /** The file has no user left (or only a probe had it): closes its channels and retires the entry. */
    void release() throws IOException {
        if (readers + writers > 0) {
            return;
        }
        if (!channels.isEmpty() || !probes.isEmpty()) {
            table.beforeIo(file);
        }
        IOException failure = null;
        List<Closeable> descriptors = new ArrayList<>(probes);
        if (preallocation != null) {
            descriptors.add(preallocation);
        }
        descriptors.addAll(channels);
        for (Closeable ch : descriptors) {
            try {
                ch.close();
            } catch (IOException ex) {
                if (failure == null) {
                    failure = ex;
                } else {
                    failure.addSuppressed(ex);
                }
            }
        }
        // The lists are not cleared: a retired entry is never used again (lockEntry skips it, and no handle on
        // it is left open). Only now, with every channel (and so every lock in the JVM's lock table) gone, may a
        // new entry for the file be made: one made earlier would find the JVM refusing its locks as overlapping
        // ours.
        retired = true;
        table.forget(this);
        if (failure != null) {
            throw failure;
        }
    }

    /** An idle channel fit for the user (a writable one for a writer), taken off the idle list, or null. */
    FileChannel idleChannel(boolean writer) {
        for (int i = 0; i < idle.size(); i++) {
            if (!writer || writable.contains(idle.get(i))) {
                return idle.remove(i);
            }
        }
        return null;
    }

    /** Puts {@code fresh} where the closed {@code old} was. */
    void replace(FileChannel old, FileChannel fresh, boolean writable) {
        channels.remove(old);
        this.writable.remove(old);
        idle.remove(old);
        channels.add(fresh);
        if (writable) {
            this.writable.add(fresh);
        }
    }
}
