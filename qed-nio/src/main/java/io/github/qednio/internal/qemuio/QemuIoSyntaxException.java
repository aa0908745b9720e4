package io.github.qednio.internal.qemuio;

import java.util.List;

/**
 * A qemu-io command that qemu-io 7.2 would refuse before doing any I/O, with the lines qemu-io prints for it: most
 * of its messages go to standard output, a few (an unknown command or option, a wrong argument count) to standard
 * error.
 */
public final class QemuIoSyntaxException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /** Lines for standard output. */
    private final List<String> standardOutput;
    /** Lines for standard error. */
    private final List<String> standardError;

    QemuIoSyntaxException(List<String> standardOutput, List<String> standardError) {
        super(String.join("; ", concat(standardError, standardOutput)));
        this.standardOutput = List.copyOf(standardOutput);
        this.standardError = List.copyOf(standardError);
    }

    static QemuIoSyntaxException out(String line) {
        return new QemuIoSyntaxException(List.of(line), List.of());
    }

    static QemuIoSyntaxException err(String line) {
        return new QemuIoSyntaxException(List.of(), List.of(line));
    }

    private static List<String> concat(List<String> a, List<String> b) {
        return java.util.stream.Stream.concat(a.stream(), b.stream()).toList();
    }

    /**
     * What qemu-io prints on standard output for this command.
     *
     * @return the lines, without line terminators; possibly empty
     */
    public List<String> standardOutput() {
        return standardOutput;
    }

    /**
     * What qemu-io prints on standard error for this command.
     *
     * @return the lines, without line terminators; possibly empty
     */
    public List<String> standardError() {
        return standardError;
    }
}
