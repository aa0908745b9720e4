package io.github.qednio.examples;

import java.math.BigDecimal;
import java.util.Locale;

/** Sizes as qemu-img takes and prints them: binary suffixes K, M, G, T, P, E (any case), optional decimals. */
final class Sizes {
    private static final String SUFFIXES = "BKMGTPE";

    private Sizes() {
    }

    /**
     * Parses {@code 4096}, {@code 64K}, {@code 1.5G} and so on.
     *
     * @throws IllegalArgumentException naming the text if it is not a size, is negative or is not a whole byte count
     */
    static long parse(String text) {
        String t = text.trim();
        if (t.isEmpty()) {
            throw new IllegalArgumentException("size '' is empty");
        }
        int shift = 0;
        char last = Character.toUpperCase(t.charAt(t.length() - 1));
        int s = SUFFIXES.indexOf(last);
        if (s >= 0) {
            shift = 10 * s;
            t = t.substring(0, t.length() - 1);
        }
        try {
            BigDecimal value = new BigDecimal(t).multiply(BigDecimal.valueOf(2).pow(shift));
            if (value.signum() < 0) {
                throw new IllegalArgumentException("size '" + text + "' is negative");
            }
            return value.longValueExact();
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("size '" + text + "' is not a byte count (a whole number of bytes,"
                    + " optionally with a K, M, G, T, P or E suffix, below 2^63)");
        }
    }

    /** qemu-img's human form: {@code 1 GiB}, {@code 1.5 MiB}, {@code 512 B}. */
    static String human(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        int u = 0;
        double v = bytes;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        if (u == 0) {
            return bytes + " B";
        }
        String num = String.format(Locale.ROOT, "%.3g", v);
        if (num.contains(".")) {
            num = num.replaceAll("0+$", "").replaceAll("\\.$", "");
        }
        return num + " " + units[u];
    }
}
