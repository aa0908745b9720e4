package io.github.qednio.engine;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Guest reads: each run is read from this image's clusters, as zeros, or from the backing chain, which with
 * copy-on-read is then copied into the image.
 */
final class ReadPath {
    private final Storage storage;
    private final ClusterLookup lookup;
    private final BackingReads backing;
    /** The allocating-write path when copy-on-read is on, else null. */
    private final AllocatingWrite copyOnRead;

    ReadPath(Storage storage, ClusterLookup lookup, BackingReads backing, AllocatingWrite copyOnRead) {
        this.storage = storage;
        this.lookup = lookup;
        this.backing = backing;
        this.copyOnRead = copyOnRead;
    }

    /** Fills {@code buf} (position to limit) with guest bytes from {@code pos}; the range is inside the disk. */
    void read(ByteBuffer buf, long pos) throws IOException {
        int limit = buf.limit();
        while (buf.position() < limit) {
            Extent run = lookup.lookup(pos, pos + (limit - buf.position()));
            int len = (int) run.length();
            buf.limit(buf.position() + len);
            switch (run.kind()) {
                case DATA -> storage.readFully(buf, run.hostOffset());
                case ZERO -> Buffers.putZeros(buf, len);
                case UNALLOCATED -> {
                    backing.read(buf, pos);
                    if (copyOnRead != null && backing.hasBacking()) {
                        copyOnRead.copyOnRead(pos, len);
                    }
                }
            }
            buf.limit(limit);
            pos += len;
        }
    }
}
