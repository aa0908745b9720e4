package io.github.qednio.internal.qemuio;

import java.io.PrintWriter;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.ByteBuffer;
import java.util.Locale;

/** qemu-io 7.2's output formats: the two report lines of a read or write, sizes, and the {@code -v} dump. */
final class IoReport {
    private static final String[] UNITS = {" EiB", " PiB", " TiB", " GiB", " MiB", " KiB"};

    private IoReport() {
    }

    /**
     * {@code wrote 512/512 bytes at offset 0} and qemu-io's statistics line, for one operation of {@code nanos}.
     * The time is measured as qemu-io measures it, around the engine call only.
     */
    static void report(PrintWriter out, String op, long nanos, long offset, long count) {
        double seconds = Math.max(nanos, 1) / 1e9;
        out.printf(Locale.ROOT, "%s %d/%d bytes at offset %d%n", op, count, count, offset);
        out.printf(Locale.ROOT, "%s, %d ops; %s (%s/sec and %s ops/sec)%n", size(count), 1, time(nanos),
                size(count / seconds), fixed(1 / seconds, 4));
    }

    /** qemu-io's {@code cvtstr}: three decimals in the largest binary unit, ".000" dropped. */
    static String size(double value) {
        String number;
        String suffix = " bytes";
        if (value >= 1024) {
            int shift = 60;
            int u = 0;
            while (value < Math.scalb(1.0, shift)) {
                shift -= 10;
                u++;
            }
            suffix = UNITS[u];
            number = fixed(value / Math.scalb(1.0, shift), 3);
        } else {
            number = fixed(value, 6);
        }
        int trim = number.indexOf(".000");
        return (trim >= 0 ? number.substring(0, trim) : number) + suffix;
    }

    /** qemu-io's {@code timestr}: {@code 00.01 sec} below a second, else {@code H:MM:SS.ss}. */
    static String time(long nanos) {
        long seconds = nanos / 1_000_000_000L;
        double fraction = (nanos % 1_000_000_000L) / 1e9;
        if (seconds == 0) {
            return pad(fixed(fraction, 2)) + " sec";
        }
        return String.format(Locale.ROOT, "%d:%02d:%s", seconds / 3600, seconds % 3600 / 60,
                pad(fixed(seconds % 60 + fraction, 2)));
    }

    /** C's {@code %05.2f} for a non-negative number: at least five characters, zero-padded. */
    private static String pad(String number) {
        return "0".repeat(Math.max(0, 5 - number.length())) + number;
    }

    /**
     * C's {@code %.Nf}: glibc rounds the exact binary value to nearest, ties to even ({@code 1.0625} is
     * {@code 1.062}), where Java's formatter rounds ties up.
     */
    static String fixed(double value, int decimals) {
        if (!Double.isFinite(value)) {
            return Double.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf";
        }
        return new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString();
    }

    /** qemu-io's {@code read -v} dump: 16 bytes a line, guest offsets in hex, letters and digits shown. */
    static void dump(PrintWriter out, ByteBuffer data, long offset) {
        int len = data.remaining();
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < len; i += 16) {
            line.setLength(0);
            line.append(String.format(Locale.ROOT, "%08x:  ", offset + i));
            int n = Math.min(16, len - i);
            for (int j = 0; j < n; j++) {
                line.append(String.format(Locale.ROOT, "%02x ", data.get(data.position() + i + j) & 0xff));
            }
            line.append(' ');
            for (int j = 0; j < n; j++) {
                char c = (char) (data.get(data.position() + i + j) & 0xff);
                boolean alnum = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z';
                line.append(alnum ? c : '.');
            }
            out.println(line);
        }
    }
}
