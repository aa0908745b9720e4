package io.github.qednio.image;

import java.nio.file.FileSystemException;

/**
 * Thrown when an image cannot be opened because another user holds it in a way this open cannot share: for
 * writing, another writer (QEMU, another process using this library, or another {@link QedImage} in this JVM) or a
 * reader in another process; for reading without {@linkplain OpenOptions#withForceShare force-share}, a writer in
 * another process. The message names the file and the permission that could not be locked, in QEMU's words
 * ({@code Failed to get shared "write" lock}).
 */
public final class ImageLockedException extends FileSystemException {
    private static final long serialVersionUID = 1L;

    /** Whether a read-only open with force-share would have opened the image. */
    private final boolean forceShareWouldOpen;

    /**
     * Only the engine's lock manager throws it (package-private: not for callers to construct).
     *
     * @param file   the image file
     * @param reason what holds the image, and what to do about it
     */
    public ImageLockedException(String file, String reason) {
        this(file, reason, false);
    }

    /**
     * A refusal that force-share would have avoided when {@code forceShareWouldOpen}: then {@code reason} is
     * QEMU's words for the lock alone, and the message adds what holds the image and the way to read it anyway.
     *
     * @param file the image file, as the caller named it
     * @param reason QEMU's words for the refusal
     * @param forceShareWouldOpen whether force-share would have opened the image
     */
    public ImageLockedException(String file, String reason, boolean forceShareWouldOpen) {
        super(file, null, reason);
        this.forceShareWouldOpen = forceShareWouldOpen;
    }

    /**
     * Whether the image was refused to a reader because another process writes it (or may resize it), so that a
     * read-only open with force-share ({@link OpenOptions#withForceShare}, the {@code qed:} file system's env key
     * {@code forceShare}, qemu-img's {@code -U}) would open it; such a reader may see the image change, or be
     * inconsistent, while the other process writes. {@link #getReason()} is then QEMU's words for the lock that
     * could not be taken, such as {@code Failed to get shared "write" lock}.
     *
     * @return true if force-share would have opened the image
     */
    public boolean forceShareWouldOpen() {
        return forceShareWouldOpen;
    }

    @Override
    public String getMessage() {
        if (!forceShareWouldOpen) {
            return super.getMessage();
        }
        return getFile() + ": " + getReason() + " (is another process using the image? it holds the image for"
                + " writing, so it cannot be read consistently; OpenOptions.withForceShare(true), or the qed: file"
                + " system's env key forceShare, reads it anyway)";
    }
}
