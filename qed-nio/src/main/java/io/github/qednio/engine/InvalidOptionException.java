package io.github.qednio.engine;

/**
 * A value of a {@link CreateOptions} option that cannot make an image. The message speaks to Java callers (it names
 * the option's method, as {@code clusterSize}, and how to override a refusal); {@link #option()} and
 * {@link #problem()} say the same in the QED specification's and qemu-img's words ({@code cluster_size},
 * {@code table_size}), so that a front end such as a command line can show the problem without the Java advice.
 */
public final class InvalidOptionException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /** The option, as the specification names the header field. */
    private final String option;
    /** The problem in the specification's words. */
    private final String problem;

    /**
     * Creates the exception.
     *
     * @param option  the option at fault, as the specification names it (for example {@code cluster_size})
     * @param problem what is wrong, naming options as the specification does, without advice for Java callers
     * @param message what is wrong for Java callers: naming the options' methods, with any advice
     */
    public InvalidOptionException(String option, String problem, String message) {
        super(message);
        this.option = option;
        this.problem = problem;
    }

    /**
     * The option at fault.
     *
     * @return its name in the specification and in qemu-img's {@code -o}, for example {@code "cluster_size"}
     */
    public String option() {
        return option;
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
