package io.github.qednio.format;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.HexFormat;
import java.util.Objects;

/**
 * Byte counts written as {@code qemu-img} takes them ({@code 4096}, {@code 64K}, {@code 1.5G}), for every place
 * that accepts a size from a person: the {@code qed:} file system's env keys and the {@code qed} tool.
 *
 * <p>The rules are those of QEMU 7.2's {@code qemu_strtosz} as {@code qemu-img create} applies it, checked
 * against the real tool by this class's tests:
 * <ul>
 *   <li>a decimal number, optionally preceded by white space and a {@code +}; a {@code -} anywhere is refused;</li>
 *   <li>an optional suffix, in either case: {@code B} (bytes), {@code K}, {@code M}, {@code G}, {@code T},
 *       {@code P}, {@code E} (binary multiples: {@code K} is 1024 bytes); nothing may follow it, not even a
 *       {@code B} ({@code 1KB} and {@code 1KiB} are refused);</li>
 *   <li>a fraction ({@code 1.5G}) only with a suffix of {@code K} or more, rounded to the nearest byte (half
 *       up); {@code 1.} and {@code 1.0} are whole numbers and need no suffix; an exponent ({@code 1.5e3K}) is
 *       refused (but {@code 1.5e} is 1.5 EiB, {@code e} being the suffix);</li>
 *   <li>a hexadecimal number ({@code 0x10}), without a fraction (QEMU deprecates a suffix on it but still takes
 *       it, and so do we);</li>
 *   <li>the result at most {@link Long#MAX_VALUE} (8 EiB - 1), as {@code qemu-img create} requires.</li>
 * </ul>
 *
 * <p>Deliberate differences from QEMU 7.2, for inputs whose QEMU result is an artefact of its implementation:
 * a fraction so close to 1 that it rounds to 1.0 as a double ({@code 1.99999999999999999999K} is 1024 bytes in
 * QEMU on x86-64) and a fraction below the smallest normal double ({@code 1.0...01K} with 310 zeros is 1 byte in
 * QEMU) are refused.
 */
public final class Sizes {
    private static final String SUFFIXES = "BKMGTPE";
    private static final BigInteger TWO_64 = BigInteger.ONE.shiftLeft(64);
    private static final BigInteger MAX = BigInteger.valueOf(Long.MAX_VALUE);
    private static final String RULES = "a whole number of bytes, optionally with a B, K, M, G, T, P or E suffix"
            + " (binary multiples; a fraction such as 1.5G needs a suffix of K or more), at most "
            + Long.MAX_VALUE;

    private Sizes() {
    }

    /**
     * Parses a size as {@code qemu-img create} does.
     *
     * @param text the size, for example {@code 4096}, {@code 64k}, {@code 1.5G} or {@code 0x10000}
     * @return the number of bytes, in {@code [0, Long.MAX_VALUE]}
     * @throws IllegalArgumentException naming {@code text} and the rules, if it is not such a size or is too big
     * @throws NullPointerException if {@code text} is null
     */
    public static long parse(String text) {
        Objects.requireNonNull(text, "text");
        int n = text.length();
        int i = 0;
        while (i < n && isCSpace(text.charAt(i))) {
            i++;
        }
        if (i < n && text.charAt(i) == '-') {
            throw invalid(text, "it is negative");
        }
        if (i < n && text.charAt(i) == '+') {
            i++;
        }
        int start = i;
        i = skipDigits(text, i, 10);
        if (i == start) {
            throw invalid(text, "it does not start with a number");
        }
        BigInteger whole = new BigInteger(text.substring(start, i));
        BigInteger fraction64 = BigInteger.ZERO; // the fraction as a 0.64 fixed-point number, as QEMU keeps it
        if (whole.signum() == 0 && i < n && (text.charAt(i) | 0x20) == 'x') {
            // Hexadecimal: "0x" counts as a prefix only when a hex digit follows (C's strtoull).
            int digits = start + 2;
            int end = skipDigits(text, digits, 16);
            if (text.charAt(start) == '0' && i == start + 1 && end > digits) {
                whole = new BigInteger(text.substring(digits, end), 16);
                i = end;
            }
            if (i < n && text.charAt(i) == '.') {
                throw invalid(text, "a hexadecimal size cannot have a fraction");
            }
        } else if (i < n && text.charAt(i) == '.') {
            // "1." and "1.k" are allowed: a point without digits is a fraction of 0. An exponent ("1.5e3K") needs
            // no check of its own: its 'e' is taken as the E suffix, and the digits after it are then refused.
            int end = skipDigits(text, i + 1, 10);
            fraction64 = fraction64(text, text.substring(i + 1, end));
            i = end;
        }
        int shift = 0;
        if (i < n) {
            int s = SUFFIXES.indexOf(Character.toUpperCase(text.charAt(i)));
            if (s >= 0) {
                shift = 10 * s;
                i++;
            }
        }
        if (i < n) {
            throw invalid(text, "'" + text.substring(i) + "' follows the number");
        }
        if (shift == 0 && fraction64.signum() != 0) {
            throw invalid(text, "a fraction of a byte needs a suffix of K or more");
        }
        // whole * 2^shift + round(fraction * 2^shift), rounding half up as QEMU's 64.64 fixed point does.
        BigInteger bytes = whole.shiftLeft(shift)
                .add(fraction64.shiftLeft(shift).add(BigInteger.ONE.shiftLeft(63)).shiftRight(64));
        if (bytes.compareTo(MAX) > 0) {
            throw invalid(text, "it is above " + Long.MAX_VALUE + " bytes");
        }
        return bytes.longValueExact();
    }

    /** The digits after the point, as QEMU 7.2 converts them: to the nearest double, then to 0.64 fixed point. */
    private static BigInteger fraction64(String text, String digits) {
        double fraction = Double.parseDouble("0." + digits);
        boolean allZero = digits.chars().allMatch(c -> c == '0');
        if (!allZero && fraction < Double.MIN_NORMAL) {
            throw invalid(text, "the fraction is too small to be represented");
        }
        if (fraction >= 1.0) {
            throw invalid(text, "the fraction rounds to 1 at double precision");
        }
        // Multiplying by 2^64 is exact for a double; the conversion to an integer truncates, as C's cast does.
        return new BigDecimal(fraction).multiply(new BigDecimal(TWO_64)).toBigInteger();
    }

    /** The index of the first character at or after {@code i} that is not an ASCII digit of {@code radix}. */
    private static int skipDigits(String text, int i, int radix) {
        while (i < text.length() && isDigit(text.charAt(i), radix)) {
            i++;
        }
        return i;
    }

    private static boolean isDigit(char c, int radix) {
        return radix == 16 ? HexFormat.isHexDigit(c) : c >= '0' && c <= '9';
    }

    private static boolean isCSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }

    private static IllegalArgumentException invalid(String text, String reason) {
        return new IllegalArgumentException("size '" + text + "' is not valid: " + reason + "; expected " + RULES);
    }
}
