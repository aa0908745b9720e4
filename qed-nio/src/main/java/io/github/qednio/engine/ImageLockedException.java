package io.github.qednio.engine;

import java.nio.file.FileSystemException;

/**
 * Thrown when an image cannot be opened for writing because another writer has it open: QEMU (a VM, qemu-io,
 * qemu-img), another process using this library, or another {@link QedImage} in this JVM. The message names the
 * file and the permission that could not be locked, as QEMU's {@code Failed to get "write" lock} does.
 */
public final class ImageLockedException extends FileSystemException {
    private static final long serialVersionUID = 1L;

    /**
     * Only the engine's lock manager throws it (package-private: not for callers to construct).
     *
     * @param file   the image file
     * @param reason what holds the image, and what to do about it
     */
    ImageLockedException(String file, String reason) {
        super(file, null, reason);
    }
}
