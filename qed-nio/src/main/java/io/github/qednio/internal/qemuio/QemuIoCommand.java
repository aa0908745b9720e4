package io.github.qednio.internal.qemuio;

import java.util.OptionalInt;

/**
 * One qemu-io command, parsed as qemu-io 7.2 parses it: the syntax shared by {@code qed io} ({@link QemuIo}) and
 * the fixture builder ({@link ImageFixture#qemuIo(String...)}).
 *
 * <ul>
 *   <li>{@code write [-P pattern | -z [-u]] [-q] OFFSET LENGTH} (alias {@code w}): {@code LENGTH} bytes of the
 *       pattern byte (default {@code 0xcd}, as qemu-io) or, with {@code -z}, a write-zeroes request;</li>
 *   <li>{@code read [-P pattern [-s OFF] [-l LEN]] [-v] [-q] OFFSET LENGTH} (alias {@code r}): with {@code -P}
 *       the bytes {@code [OFF, OFF + LEN)} of the read (default: all) must equal the pattern byte; {@code -v}
 *       dumps the data in hexadecimal;</li>
 *   <li>{@code discard [-q] OFFSET LENGTH} (alias {@code d}): {@link io.github.qednio.image.QedImage#discard};
 *       QEMU 7.2's qed driver accepts it and does nothing, so an image discarded here differs from qemu-io's (the
 *       range reads as zeros here, as the old data there);</li>
 *   <li>{@code map}: the allocation status of the image's own clusters;</li>
 *   <li>{@code flush} (alias {@code f}).</li>
 * </ul>
 *
 * <p>Words are separated by spaces only. Options may come anywhere among the operands and {@code --} ends them, as
 * with glibc's {@code getopt}. Offsets and lengths are qemu-io's sizes ({@link io.github.qednio.format.Sizes#parse}:
 * decimal or {@code 0x} hexadecimal, optional suffix {@code b}, {@code k}, {@code m}, {@code g}, {@code t}, {@code p},
 * {@code e} in either case, binary multiples, a fraction such as {@code 1.5k} with a suffix of {@code k} or more) and
 * need no alignment: qemu-io 7.2 reads and writes any byte range. A length is at most 2147483136 bytes (QEMU's largest
 * request). A pattern is a byte as C's {@code strtol(s, 0)} reads it: decimal, {@code 0x} hex or
 * {@code 0} octal, 0 to 255. The messages for a refused command are qemu-io's, word for word.
 *
 * <p>Not supported: qemu-io's other commands and the options {@code -b}, {@code -c}, {@code -C}, {@code -f},
 * {@code -n}, {@code -s} of {@code write} and {@code -b}, {@code -C} of {@code read}: each is refused with a
 * message saying so, as is {@code -C} of {@code discard}.
 */
public final class QemuIoCommand {
    /** QEMU's largest request, {@code BDRV_REQUEST_MAX_BYTES}. */
    public static final long MAX_LENGTH = 2147483136L;
    /** The byte qemu-io writes when {@code write} has no {@code -P}. */
    public static final int DEFAULT_WRITE_PATTERN = 0xcd;


    /** The kinds of command. */
    public enum Kind {
        /** {@code write}: a pattern, or zeroes with {@code -z}. */
        WRITE,
        /** {@code read}, optionally verifying a pattern. */
        READ,
        /** {@code map}. */
        MAP,
        /** {@code flush}. */
        FLUSH,
        /** {@code discard}: the range reads as zeros afterwards and its whole clusters hold no data. */
        DISCARD
    }

    private final String text;
    private final Kind kind;
    private final long offset;
    private final long length;
    private final int pattern;
    private final boolean zeroes;
    private final boolean quiet;
    private final boolean verbose;
    private final long patternOffset;
    private final long patternLength;

    QemuIoCommand(String text, Kind kind, long offset, long length, int pattern, boolean zeroes,
                          boolean quiet, boolean verbose, long patternOffset, long patternLength) {
        this.text = text;
        this.kind = kind;
        this.offset = offset;
        this.length = length;
        this.pattern = pattern;
        this.zeroes = zeroes;
        this.quiet = quiet;
        this.verbose = verbose;
        this.patternOffset = patternOffset;
        this.patternLength = patternLength;
    }

    /**
     * Parses one command line, as qemu-io's {@code -c} option takes it.
     *
     * @param line the command, for example {@code write -P 0xab 1M 64k}
     * @return the command
     * @throws QemuIoSyntaxException with qemu-io's message if qemu-io would refuse it, or if it is not supported
     *         here; also for an empty line (which qemu-io ignores: see {@link #isBlank(String)})
     * @throws NullPointerException if {@code line} is null
     */
    public static QemuIoCommand parse(String line) {
        return CommandParser.parse(line);
    }

    /**
     * Whether qemu-io would ignore {@code line}: it has no words.
     *
     * @param line a command line
     * @return true if it holds nothing but spaces
     */
    public static boolean isBlank(String line) {
        return line.chars().allMatch(c -> c == ' ');
    }

    /**
     * The command as it was given.
     *
     * @return the line passed to {@link #parse}
     */
    public String text() {
        return text;
    }

    /**
     * What the command does.
     *
     * @return its kind, never null
     */
    public Kind kind() {
        return kind;
    }

    /**
     * The guest offset of a read or write.
     *
     * @return bytes, 0 for {@code map} and {@code flush}
     */
    public long offset() {
        return offset;
    }

    /**
     * The number of bytes read or written.
     *
     * @return at most {@link #MAX_LENGTH}; 0 for {@code map} and {@code flush}
     */
    public long length() {
        return length;
    }

    /**
     * The pattern byte: what a {@code write} writes (the default {@code 0xcd} without {@code -P}) or what a
     * {@code read -P} expects.
     *
     * @return the byte, 0 to 255; empty for {@code write -z}, a {@code read} without {@code -P}, {@code map}
     *         and {@code flush}
     */
    public OptionalInt pattern() {
        return pattern < 0 ? OptionalInt.empty() : OptionalInt.of(pattern);
    }

    /**
     * Whether this is {@code write -z}.
     *
     * @return true for a write-zeroes request
     */
    public boolean zeroes() {
        return zeroes;
    }

    /**
     * Whether {@code -q} was given: no statistics are printed (a pattern mismatch still is).
     *
     * @return true for quiet
     */
    public boolean quiet() {
        return quiet;
    }

    /**
     * Whether {@code read -v} was given: the data is dumped in hexadecimal.
     *
     * @return true for a dump
     */
    public boolean verbose() {
        return verbose;
    }

    /**
     * Where the pattern check of a {@code read -P} starts, relative to {@link #offset()} ({@code -s}).
     *
     * @return bytes, 0 unless given
     */
    public long patternOffset() {
        return patternOffset;
    }

    /**
     * How many bytes a {@code read -P} checks ({@code -l}).
     *
     * @return bytes; by default the rest of the read after {@link #patternOffset()}
     */
    public long patternLength() {
        return patternLength;
    }

    @Override
    public String toString() {
        return text;
    }
}
