package io.github.qednio.engine;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Guest content below an image: a raw file or another QED image. Bytes past its end read as zeros. */
interface Backing extends Closeable {
    /** Fills {@code dst} with the content at {@code position}, zeros past the end. */
    void read(ByteBuffer dst, long position) throws IOException;

    long size() throws IOException;

    BackingFormat format();

    /** The file this reads, for messages and for {@code info}. */
    java.nio.file.Path path();

    /** The QED image this reads, or null for a raw file. */
    default QedImage image() {
        return null;
    }
}
