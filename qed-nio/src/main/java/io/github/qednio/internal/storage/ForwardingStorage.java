package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * A {@link Storage} that forwards every call to another one. Subclasses override only what they change: drop syncs
 * ({@link CacheMode#UNSAFE}), or, in tests, record or delay calls and inject faults. Not part of the public API: tests
 * outside this package reach it through the test tree's {@code EngineTestHooks}.
 */
public abstract class ForwardingStorage implements Storage {
    private final Storage delegate;

    protected ForwardingStorage(Storage delegate) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
    }

    /** The storage calls are forwarded to. */
    protected final Storage delegate() {
        return delegate;
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        return delegate.read(dst, position);
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        delegate.write(src, position);
    }

    @Override
    public long size() throws IOException {
        return delegate.size();
    }

    @Override
    public void appending(long offset, long end) {
        delegate.appending(offset, end);
    }

    @Override
    public void startWriteback() {
        delegate.startWriteback();
    }

    @Override
    public void truncate(long size) throws IOException {
        delegate.truncate(size);
    }

    @Override
    public void force() throws IOException {
        delegate.force();
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }
}
