package io.github.qednio.examples;

import io.github.qednio.engine.Storage;
import io.github.qednio.engine.StorageFactory;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A {@link Storage} whose {@link #force()} does nothing: qemu-img's {@code cache=unsafe}, the default of
 * {@code qemu-img convert}. The engine's ordering is unchanged, but nothing is made durable, so an image being
 * written this way is only as safe as the page cache until the system writes it back. For a conversion, whose
 * output is useless if interrupted anyway, that is the usual trade.
 */
final class UnsyncedStorage implements Storage {
    /** Opens files as usual and drops their syncs. */
    static final StorageFactory FACTORY = (file, readOnly) -> new UnsyncedStorage(Storage.open(file, readOnly));

    private final Storage inner;

    private UnsyncedStorage(Storage inner) {
        this.inner = inner;
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        return inner.read(dst, position);
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        inner.write(src, position);
    }

    @Override
    public long size() throws IOException {
        return inner.size();
    }

    @Override
    public void truncate(long size) throws IOException {
        inner.truncate(size);
    }

    @Override
    public void force() {
        // cache=unsafe: no sync
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public void close() throws IOException {
        inner.close();
    }
}
