package io.github.qednio.nio;

import java.nio.channels.FileLock;

/** A byte-range lock on a disk, held in its image's {@link LockTable} until released or the channel closes. */
final class DiskLock extends FileLock {
    private final LockTable table;

    DiskLock(DiskChannel channel, long position, long size, boolean shared, LockTable table) {
        super(channel, position, size, shared);
        this.table = table;
    }

    @Override
    public boolean isValid() {
        return channel().isOpen() && table.contains(this);
    }

    @Override
    public void release() throws java.nio.channels.ClosedChannelException {
        if (!channel().isOpen()) {
            throw new java.nio.channels.ClosedChannelException();
        }
        table.remove(this);
    }
}
