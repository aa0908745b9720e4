package io.github.qednio.cli;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.Locale;

/**
 * The two C conversions qemu-img prints numbers with, as glibc prints them. glibc rounds the exact binary value of
 * the double, ties to even ({@code 32 * 100.0 / 1024} is 3.125 exactly and prints as {@code 3.12}); Java's
 * formatter rounds the shortest decimal string ties up ({@code 3.13}), so {@link String#format} cannot be used.
 */
final class CFormat {
    private CFormat() {
    }

    /** C's {@code %.Nf} of a finite number. */
    static String fixed(double value, int decimals) {
        return new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString();
    }

    /**
     * C's {@code %.Ng} of a finite non-negative number: N significant digits, trailing zeros dropped, and the
     * exponent form ({@code 1e+03}) when the rounded exponent is below -4 or at least N.
     */
    static String general(double value, int precision) {
        if (value == 0) {
            return "0";
        }
        BigDecimal rounded = new BigDecimal(value).round(new MathContext(precision, RoundingMode.HALF_EVEN));
        int exponent = rounded.precision() - rounded.scale() - 1;
        if (exponent >= -4 && exponent < precision) {
            return rounded.stripTrailingZeros().toPlainString();
        }
        String mantissa = rounded.movePointLeft(exponent).stripTrailingZeros().toPlainString();
        return mantissa + (exponent < 0 ? "e-" : "e+") + String.format(Locale.ROOT, "%02d", Math.abs(exponent));
    }
}
