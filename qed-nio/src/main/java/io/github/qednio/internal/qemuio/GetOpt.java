package io.github.qednio.internal.qemuio;

import java.util.ArrayList;
import java.util.List;

/**
 * The part of glibc's {@code getopt} that qemu-io relies on: options may come before, between or after the operands
 * (glibc permutes them), {@code --} ends the options, a lone {@code -} is an operand, flags may be grouped
 * ({@code -qv}) and an option's argument may be attached ({@code -P0xab}) or the next word.
 */
final class GetOpt {
    /** One option as seen on the command line, in order. */
    record Opt(char name, String argument) {
    }

    private final List<Opt> options = new ArrayList<>();
    private final List<String> operands = new ArrayList<>();

    private GetOpt() {
    }

    /**
     * Splits {@code words} (without the command name) into options and operands.
     *
     * @param command the command name as typed, for glibc's messages
     * @param spec    the options: each letter, followed by {@code :} when it takes an argument
     * @param usage   qemu-io's usage line for the command, printed after an option error
     * @throws QemuIoSyntaxException with glibc's message and the usage line for an unknown option or a missing
     *         argument
     */
    static GetOpt parse(String command, String spec, String usage, List<String> words) {
        GetOpt g = new GetOpt();
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            if (w.equals("--")) {
                g.operands.addAll(words.subList(i + 1, words.size()));
                break;
            }
            if (w.length() < 2 || w.charAt(0) != '-') {
                g.operands.add(w);
                continue;
            }
            for (int j = 1; j < w.length(); j++) {
                char c = w.charAt(j);
                int at = spec.indexOf(c);
                if (at < 0 || c == ':') {
                    throw usageError(command + ": invalid option -- '" + c + "'", usage);
                }
                if (at + 1 < spec.length() && spec.charAt(at + 1) == ':') {
                    String arg;
                    if (j + 1 < w.length()) {
                        arg = w.substring(j + 1);
                    } else if (i + 1 < words.size()) {
                        arg = words.get(++i);
                    } else {
                        throw usageError(command + ": option requires an argument -- '" + c + "'", usage);
                    }
                    g.options.add(new Opt(c, arg));
                    break;
                }
                g.options.add(new Opt(c, null));
            }
        }
        return g;
    }

    private static QemuIoSyntaxException usageError(String message, String usage) {
        return new QemuIoSyntaxException(List.of(usage), List.of(message));
    }

    List<Opt> options() {
        return options;
    }

    List<String> operands() {
        return operands;
    }
}
