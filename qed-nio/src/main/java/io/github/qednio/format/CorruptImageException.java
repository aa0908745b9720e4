package io.github.qednio.format;

/**
 * A table entry of a QED image points somewhere it must not: past the end of the file, into the header, not aligned
 * to a cluster. QEMU fails the same I/O with EINVAL; {@code check} with repair clears such entries.
 */
public class CorruptImageException extends QedFormatException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param field the table entry at fault, for example {@code "L2 entry"}
     * @param message the full message, naming the image, the entry, its value and the valid range
     */
    public CorruptImageException(String field, String message) {
        super(field, message);
    }
}
