package io.github.qednio.archive;

import java.io.IOException;

/**
 * An archive that cannot be packed or unpacked safely: an entry that would land outside the target directory, a
 * damaged or truncated archive, a source that is not a file, directory or symbolic link. The message names the
 * image or file, the entry, and what was expected.
 */
public final class ArchiveException extends IOException {
    private static final long serialVersionUID = 1L;

    /**
     * An exception with a message only.
     *
     * @param message what was refused and why
     */
    public ArchiveException(String message) {
        super(message);
    }

    /**
     * An exception with a message and the failure that revealed it.
     *
     * @param message what was refused and why
     * @param cause the underlying failure
     */
    public ArchiveException(String message, Throwable cause) {
        super(message, cause);
    }
}
