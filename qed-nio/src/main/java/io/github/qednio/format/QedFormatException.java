package io.github.qednio.format;

import java.io.IOException;

/**
 * An on-disk structure of a QED image is malformed or unsupported: a header field out of range, unknown
 * incompatible feature bits, a table entry that points outside the image, and so on.
 *
 * <p>The message always names the image (when known), the field or table entry at fault, its value and what was
 * expected, for example {@code disk.qed: cluster_size 3000 is not a power of two in [4096, 67108864]}. Opening or
 * reading such an image never throws anything else for a format problem; plain I/O failures of the underlying file
 * stay ordinary {@link IOException}s.
 */
public class QedFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    /** The header field or structure at fault. */
    private final String field;
    /** The message without advice that only a Java caller can follow. */
    private final String problem;

    /**
     * Creates the exception.
     *
     * @param field the header field or structure at fault (for example {@code cluster_size} or {@code L2 entry})
     * @param message the full message, including the file name where known
     */
    public QedFormatException(String field, String message) {
        super(message);
        this.field = field;
        this.problem = message;
    }

    /**
     * Creates the exception for a limit a Java caller can change: the message is {@code problem} followed by
     * {@code javaAdvice} in parentheses.
     *
     * @param field the header field or structure at fault
     * @param problem what is wrong, including the file name where known
     * @param javaAdvice how a Java caller changes the limit, for example {@code OpenOptions.withMaxChainDepth}
     */
    public QedFormatException(String field, String problem, String javaAdvice) {
        super(problem + " (" + javaAdvice + ")");
        this.field = field;
        this.problem = problem;
    }

    /**
     * Returns what is wrong without the advice for Java callers, for front ends that are not Java (a command line).
     *
     * @return the message, or the part of it before the Java advice
     */
    public String problem() {
        return problem;
    }

    /**
     * Returns the header field or structure at fault.
     *
     * @return for example {@code "cluster_size"}
     */
    public String field() {
        return field;
    }
}
