package io.github.qednio.cli;

import java.util.Locale;

/** Sizes as qemu-img takes and prints them; the parsing is the library's ({@link io.github.qednio.format.Sizes}). */
final class Sizes {
    private Sizes() {
    }

    /**
     * Parses {@code 4096}, {@code 64K}, {@code 1.5G} and so on, exactly as the library's env keys do.
     *
     * @throws IllegalArgumentException naming the text if it is not a size qemu-img would take
     * @see io.github.qednio.format.Sizes#parse(String)
     */
    static long parse(String text) {
        return io.github.qednio.format.Sizes.parse(text);
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
