package io.github.qednio.internal.chain;

import io.github.qednio.internal.qed.Backing;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.internal.qed.QedEngine;
import io.github.qednio.internal.storage.Buffers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/** A QED image used as a backing file: opened read-only; reads past its virtual size are zeros. */
final class QedBacking implements Backing {
    private final QedEngine image;

    QedBacking(QedEngine image) {
        this.image = image;
    }

    @Override
    public QedEngine image() {
        return image;
    }

    @Override
    public void read(ByteBuffer dst, long position) throws IOException {
        int n = dst.remaining();
        long inside = Math.max(0, Math.min(n, image.size() - position));
        if (inside > 0) {
            ByteBuffer part = Buffers.slice(dst, (int) inside);
            image.readFully(part, position);
            dst.position(dst.position() + (int) inside);
        }
        Buffers.putZeros(dst, dst.remaining());
    }

    @Override
    public long size() {
        return image.size();
    }

    @Override
    public ImageFormat format() {
        return ImageFormat.QED;
    }

    @Override
    public Path path() {
        return image.path();
    }

    @Override
    public void close() throws IOException {
        image.close();
    }
}
