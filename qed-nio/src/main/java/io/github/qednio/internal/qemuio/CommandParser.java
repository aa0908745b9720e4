package io.github.qednio.internal.qemuio;

import io.github.qednio.internal.qemuio.QemuIoCommand.Kind;
import io.github.qednio.format.Sizes;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/** qemu-io 7.2's parsing of a command line: its checks, in its order, with its messages ({@link QemuIoCommand}). */
final class CommandParser {
    static final String WRITE_USAGE = "write [-bcCfnquz] [-P pattern | -s source_file] off len -- writes a number"
            + " of bytes at a specified offset";
    static final String READ_USAGE = "read [-abCqv] [-P pattern [-s off] [-l len]] off len -- reads a number of"
            + " bytes at a specified offset";
    static final String DISCARD_USAGE = "discard [-Cq] off len -- discards a number of bytes at a specified offset";
    /** What qemu's {@code qemu_strtosz} reads as a number, so that a failure of it means "too large". */
    private static final Pattern SIZE_SYNTAX = Pattern.compile(
            "\\+?(\\d+\\.?|0[xX]\\p{XDigit}+)[bBkKmMgGtTpPeE]?|\\+?\\d+\\.\\d*[kKmMgGtTpPeE]");

    private CommandParser() {
    }

    static QemuIoCommand parse(String line) {
        List<String> words = new ArrayList<>(Arrays.stream(line.split(" ", -1)).filter(w -> !w.isEmpty()).toList());
        if (words.isEmpty()) {
            throw QemuIoSyntaxException.err("empty command");
        }
        String name = words.remove(0);
        return switch (name) {
            case "write", "w" -> parseWrite(line, name, words);
            case "read", "r" -> parseRead(line, name, words);
            case "map" -> parseNoArgs(line, name, words, Kind.MAP);
            case "flush", "f" -> parseNoArgs(line, name, words, Kind.FLUSH);
            case "discard", "d" -> parseDiscard(line, name, words);
            default -> throw QemuIoSyntaxException.err("command \"" + name + "\" not found");
        };
    }

    private static QemuIoCommand parseNoArgs(String line, String name, List<String> words, Kind kind) {
        if (!words.isEmpty()) {
            throw QemuIoSyntaxException.err("bad argument count " + words.size() + " to " + name
                    + ", expected 0 arguments");
        }
        return new QemuIoCommand(line, kind, 0, 0, -1, false, false, false, 0, 0);
    }

    /** qemu-io's argument count check (options included), then glibc's getopt. */
    private static GetOpt getopt(String name, String spec, String usage, List<String> words) {
        if (words.size() < 2) {
            throw QemuIoSyntaxException.err("bad argument count " + words.size() + " to " + name
                    + ", expected at least 2 arguments");
        }
        return GetOpt.parse(name, spec, usage, words);
    }

    private static void requireTwoOperands(GetOpt g, String usage) {
        if (g.operands().size() != 2) {
            throw QemuIoSyntaxException.out(usage);
        }
    }

    /** OFFSET and LENGTH, as qemu-io converts them; {@code limit} ends the message for a length too large. */
    private static long[] offsetAndLength(GetOpt g, String limit) {
        long offset = size(g.operands().get(0));
        long length = size(g.operands().get(1));
        if (length > QemuIoCommand.MAX_LENGTH) {
            throw QemuIoSyntaxException.out("length cannot exceed " + QemuIoCommand.MAX_LENGTH + limit + ", given "
                    + g.operands().get(1));
        }
        return new long[] {offset, length};
    }

    private static QemuIoCommand parseWrite(String line, String name, List<String> words) {
        GetOpt g = getopt(name, "bcCfnpP:quzs:", WRITE_USAGE, words);
        int pattern = -1;
        boolean zero = false;
        boolean quiet = false;
        boolean unmap = false;
        for (GetOpt.Opt o : g.options()) {
            switch (o.name()) {
                case 'P' -> pattern = parsePattern(o.argument());
                case 'z' -> zero = true;
                case 'q' -> quiet = true;
                case 'u' -> unmap = true;
                case 'p' -> { } // ignored by qemu-io too, for backwards compatibility
                default -> throw unsupported(name, o.name());
            }
        }
        requireTwoOperands(g, WRITE_USAGE);
        if (unmap && !zero) {
            throw QemuIoSyntaxException.out("-u requires -z to be specified");
        }
        if (zero && pattern >= 0) {
            throw QemuIoSyntaxException.out("Only one of -z, -P, and -s can be specified at the same time");
        }
        long[] range = offsetAndLength(g, " without -n");
        return new QemuIoCommand(line, Kind.WRITE, range[0], range[1], zero ? -1
                : pattern < 0 ? QemuIoCommand.DEFAULT_WRITE_PATTERN : pattern, zero, quiet, false, 0, 0);
    }

    private static QemuIoCommand parseDiscard(String line, String name, List<String> words) {
        GetOpt g = getopt(name, "Cq", DISCARD_USAGE, words);
        boolean quiet = false;
        for (GetOpt.Opt o : g.options()) {
            if (o.name() != 'q') {
                throw unsupported(name, o.name());
            }
            quiet = true;
        }
        requireTwoOperands(g, DISCARD_USAGE);
        long[] range = offsetAndLength(g, "");
        return new QemuIoCommand(line, Kind.DISCARD, range[0], range[1], -1, false, quiet, false, 0, 0);
    }

    private static QemuIoCommand parseRead(String line, String name, List<String> words) {
        GetOpt g = getopt(name, "bCl:pqs:vP:", READ_USAGE, words);
        int pattern = -1;
        boolean quiet = false;
        boolean verbose = false;
        long patternOffset = 0;
        long patternLength = -1;
        boolean sflag = false;
        for (GetOpt.Opt o : g.options()) {
            switch (o.name()) {
                case 'P' -> pattern = parsePattern(o.argument());
                case 'q' -> quiet = true;
                case 'v' -> verbose = true;
                case 's' -> {
                    patternOffset = size(o.argument());
                    sflag = true;
                }
                case 'l' -> patternLength = size(o.argument());
                case 'p' -> { } // ignored by qemu-io too
                default -> throw unsupported(name, o.name());
            }
        }
        requireTwoOperands(g, READ_USAGE);
        long[] range = offsetAndLength(g, "");
        long offset = range[0];
        long length = range[1];
        if (pattern < 0 && (sflag || patternLength >= 0)) {
            throw QemuIoSyntaxException.out(READ_USAGE);
        }
        if (patternLength < 0) {
            patternLength = length - patternOffset;
        }
        if (patternLength < 0 || patternLength + patternOffset > length) {
            throw QemuIoSyntaxException.out("pattern verification range exceeds end of read data");
        }
        return new QemuIoCommand(line, Kind.READ, offset, length, pattern, false, quiet, verbose, patternOffset,
                patternLength);
    }

    private static QemuIoSyntaxException unsupported(String command, char option) {
        return QemuIoSyntaxException.out(command + " -" + option + " is not supported by qed-nio");
    }

    /** qemu-io's {@code cvtnum}, with its two messages. */
    static long size(String text) {
        try {
            return Sizes.parse(text);
        } catch (IllegalArgumentException e) {
            if (SIZE_SYNTAX.matcher(text).matches()) {
                throw QemuIoSyntaxException.out("Parsing error: argument too large -- " + text);
            }
            throw QemuIoSyntaxException.out("Parsing error: non-numeric argument, or extraneous/unrecognized"
                    + " suffix -- " + text);
        }
    }

    /** qemu-io's {@code parse_pattern}: C's {@code strtol(arg, &end, 0)}, whole word, 0 to 255. */
    static int parsePattern(String text) {
        String s = text;
        int i = 0;
        while (i < s.length() && (s.charAt(i) == ' ' || (s.charAt(i) >= '\t' && s.charAt(i) <= '\r'))) {
            i++;
        }
        boolean negative = false;
        if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
            negative = s.charAt(i) == '-';
            i++;
        }
        int radix = 10;
        String digits = s.substring(i);
        String lower = digits.toLowerCase(Locale.ROOT);
        if (lower.startsWith("0x") && lower.length() > 2) {
            radix = 16;
            digits = digits.substring(2);
        } else if (lower.startsWith("0") && lower.length() > 1) {
            radix = 8;
            digits = digits.substring(1);
        }
        BigInteger value;
        try {
            if (digits.isEmpty() || !Character.isLetterOrDigit(digits.charAt(0))) {
                throw new NumberFormatException();
            }
            value = new BigInteger(digits, radix);
        } catch (NumberFormatException e) {
            throw QemuIoSyntaxException.out(text + " is not a valid pattern byte");
        }
        if (negative && value.signum() != 0 || value.compareTo(BigInteger.valueOf(255)) > 0) {
            throw QemuIoSyntaxException.out(text + " is not a valid pattern byte");
        }
        return value.intValue();
    }

}
