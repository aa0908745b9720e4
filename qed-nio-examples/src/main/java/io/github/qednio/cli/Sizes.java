package io.github.qednio.cli;

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

    /**
     * qemu-img's human form ({@code size_to_str}): {@code 1 GiB}, {@code 1.5 MiB}, {@code 512 B}, printed with C's
     * {@code %.3g}. From 1000 of a unit on, the next unit is used ({@code 1000} bytes are {@code 0.977 KiB}).
     */
    static String human(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        // frexp's exponent of bytes / (1000 / 1024.0), as qemu computes it (0 for 0).
        double scaled = bytes / (1000.0 / 1024.0);
        int exponent = scaled == 0 ? 0 : Math.getExponent(scaled) + 1;
        int unit = (exponent - 1) / 10;
        return CFormat.general((double) bytes / (1L << (unit * 10)), 3) + " " + units[unit];
    }
}
