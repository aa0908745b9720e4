package io.github.qednio.nio;

import java.nio.file.Path;
import java.nio.file.ReadOnlyFileSystemException;

/**
 * A {@link ReadOnlyFileSystemException} that says which image refused the write and why (the JDK's class has no
 * message). Callers catch it as {@code ReadOnlyFileSystemException}.
 */
final class QedReadOnlyFileSystemException extends ReadOnlyFileSystemException {
    private static final long serialVersionUID = 1L;

    private final String message;

    QedReadOnlyFileSystemException(Path image, String reason) {
        this.message = "qed: disk of " + image + " is read-only: " + reason;
    }

    @Override
    public String getMessage() {
        return message;
    }
}
