package io.github.qednio.internal.chain;

import io.github.qednio.internal.qed.Backing;
import io.github.qednio.image.ImageFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * The backing file of an image opened only to change its header or read its own clusters (unsafe rebase,
 * commit): the name is resolved but the file is not opened, so it may be missing. Reading it is a bug.
 */
final class DetachedBacking implements Backing {
    private final Path image;
    private final Path path;
    private final ImageFormat format;

    DetachedBacking(Path image, Path path, ImageFormat format) {
        this.image = image;
        this.path = path;
        this.format = format;
    }

    @Override
    public void read(ByteBuffer dst, long position) throws IOException {
        throw new IOException(image + ": the backing file " + path + " was not opened (the image was opened for"
                + " a header-only operation), so unallocated clusters cannot be read");
    }

    @Override
    public long size() throws IOException {
        throw new IOException(image + ": the backing file " + path + " was not opened");
    }

    /** RAW if the header says so, otherwise null: the file is not probed. */
    @Override
    public ImageFormat format() {
        return format;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public void close() {
        // nothing was opened
    }
}
