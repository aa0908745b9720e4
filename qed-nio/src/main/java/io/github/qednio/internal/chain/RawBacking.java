package io.github.qednio.internal.chain;

import io.github.qednio.internal.qed.Backing;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.internal.storage.Buffers;
import io.github.qednio.internal.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/** A raw backing file, opened read-only. */
final class RawBacking implements Backing {
    private final Storage storage;
    private final Path path;

    RawBacking(Storage storage, Path path) {
        this.storage = storage;
        this.path = path;
    }

    @Override
    public void read(ByteBuffer dst, long position) throws IOException {
        Buffers.fill(storage::read, dst, position);
        Buffers.putZeros(dst, dst.remaining());
    }

    @Override
    public long size() throws IOException {
        return storage.size();
    }

    @Override
    public ImageFormat format() {
        return ImageFormat.RAW;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public void close() throws IOException {
        storage.close();
    }
}
