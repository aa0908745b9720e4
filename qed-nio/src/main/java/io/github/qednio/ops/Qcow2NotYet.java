package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import java.io.IOException;
import java.nio.file.Path;

/** The whole-image operations that do not read qcow2 yet refuse it by name instead of reading it as raw bytes. */
final class Qcow2NotYet {
    private Qcow2NotYet() {
    }

    static ImageFormat refuse(Path file, ImageFormat f) throws IOException {
        if (f == ImageFormat.QCOW2) {
            throw new IOException(file + ": is a qcow2 image, which this tool does not read (give -f raw to copy its"
                    + " bytes as they are)");
        }
        return f;
    }
}
