package io.github.qednio.image;

/**
 * A value of a {@link CreateOptions} option that cannot make an image. The message speaks to Java callers (it names
 * the option's method, as {@code clusterSize}, and how to override a refusal); {@link #problem()} says the same in
 * the QED specification's and qemu-img's words ({@code cluster_size}, {@code table_size}), so that a front end such
 * as a command line can show the problem without the Java advice.
 */
public final class InvalidOptionException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /** The problem in the specification's words. */
    private final String problem;

    /**
     * Creates the exception.
     *
     * @param problem what is wrong, naming options as the specification does, without advice for Java callers
     * @param message what is wrong for Java callers: naming the options' methods, with any advice
     */
    public InvalidOptionException(String problem, String message) {
        super(message);
        this.problem = problem;
    }

    /**
     * What is wrong, without the Java names and advice of the message.
     *
     * @return for example {@code "cluster_size 3000 is not a power of two in [4096, 67108864]"}
     */
    public String problem() {
        return problem;
    }
}
