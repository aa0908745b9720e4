package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@link OpenOptions#withBytesPerSync}: after every {@code bytesPerSync} bytes written, asks the storage to start
 * writing its dirty pages back ({@link Storage#startWriteback}), without waiting for them. A writer that ends with a
 * flush (a conversion with {@link CacheMode#WRITEBACK}) then has the disk working while it still computes, instead
 * of all the data waiting for the final {@code fsync}. Nothing changes what is written, in which order, or when it is
 * durable: only flushes make data durable, as before.
 */
public final class EarlyWriteback extends ForwardingStorage {
    private final long bytesPerSync;
    private final AtomicLong unsynced = new AtomicLong();

    public EarlyWriteback(Storage delegate, long bytesPerSync) {
        super(delegate);
        this.bytesPerSync = bytesPerSync;
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        int n = src.remaining();
        super.write(src, position);
        if (unsynced.addAndGet(n) >= bytesPerSync) {
            unsynced.set(0);
            startWriteback();
        }
    }

    @Override
    public void force() throws IOException {
        unsynced.set(0);
        super.force();
    }
}
