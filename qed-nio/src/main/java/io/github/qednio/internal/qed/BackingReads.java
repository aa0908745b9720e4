package io.github.qednio.internal.qed;

import io.github.qednio.internal.storage.Buffers;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Reads of the backing chain below an image, cut at the image's virtual size: bytes past it read as zeros. */
public final class BackingReads {
    private final Backing backing;
    private final HeaderState header;

    public BackingReads(Backing backing, HeaderState header) {
        this.backing = backing;
        this.header = header;
    }

    boolean hasBacking() {
        return backing != null;
    }

    /** Fills {@code dst} with the chain's content at guest offset {@code pos} (zeros without a backing file). */
    void read(ByteBuffer dst, long pos) throws IOException {
        if (backing == null) {
            Buffers.putZeros(dst, dst.remaining());
            return;
        }
        int n = dst.remaining();
        int inside = (int) Math.max(0, Math.min(n, header.imageSize() - pos));
        int limit = dst.limit();
        dst.limit(dst.position() + inside);
        backing.read(dst, pos);
        dst.limit(limit);
        Buffers.putZeros(dst, n - inside);
    }
}
