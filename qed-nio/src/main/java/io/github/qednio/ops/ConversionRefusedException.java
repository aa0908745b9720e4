package io.github.qednio.ops;

import java.io.IOException;

/**
 * An image the in-place converter will not convert, for a reason it names (an unsupported feature, corruption,
 * a geometry the target format cannot express). The file has not been changed.
 */
public final class ConversionRefusedException extends IOException {
    private static final long serialVersionUID = 1L;

    /** The feature or condition at fault. */
    private final String reason;

    /**
     * Creates the exception.
     *
     * @param reason  the feature or condition at fault, short (for example {@code "compressed clusters"})
     * @param message the full message, naming the file
     * @param cause   the underlying error, or null
     */
    public ConversionRefusedException(String reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    /** {@return the feature or condition at fault} */
    public String reason() {
        return reason;
    }
}
