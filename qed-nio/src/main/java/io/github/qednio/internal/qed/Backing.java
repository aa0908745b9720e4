package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.internal.qcow2.Qcow2Image;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Guest content below an image: a raw file, a QED image or a qcow2 image. Bytes past its end read as zeros. */
public interface Backing extends Closeable {
    /** Fills {@code dst} with the content at {@code position}, zeros past the end. */
    void read(ByteBuffer dst, long position) throws IOException;

    long size() throws IOException;

    ImageFormat format();

    /** The file this reads, for messages and for {@code info}. */
    java.nio.file.Path path();

    /** The QED image this reads, or null for a raw file or a qcow2 image. */
    default QedEngine image() {
        return null;
    }

    /** The qcow2 image this reads, or null. */
    default Qcow2Image qcow2() {
        return null;
    }

    /** The backing file of the image this reads, as that image holds it, or null (a raw file has none). */
    default Backing below() {
        QedEngine img = image();
        return img == null ? null : img.backing();
    }
}
