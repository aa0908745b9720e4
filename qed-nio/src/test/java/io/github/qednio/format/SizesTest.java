package io.github.qednio.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class SizesTest {
    /** An input and what {@code qemu-img create -f raw x INPUT} (QEMU 7.2) makes of it: a size, or null if refused. */
    record Case(String input, Long bytes) {
        @Override
        public String toString() {
            return "'" + input + "' -> " + (bytes == null ? "refused" : bytes);
        }
    }

    /** Observed with qemu-img 7.2 (the cross-check below runs them all again against the installed qemu-img). */
    static Stream<Case> qemuImgCases() {
        return Stream.of(
                ok("0", 0), ok("4096", 4096), ok("010", 10), ok("64K", 64L << 10), ok("64k", 64L << 10),
                ok("2M", 2L << 20), ok("1m", 1L << 20), ok("3G", 3L << 30), ok("64T", 64L << 40),
                ok("1P", 1L << 50), ok("1E", 1L << 60), ok("1e", 1L << 60), ok("512B", 512), ok("1b", 1),
                ok("1.5G", 3L << 29), ok("1.5g", 3L << 29), ok("1.5k", 1536), ok("0.5K", 512),
                ok("0.3K", 307), ok("0.1K", 102), ok("1.1K", 1126), ok("7.99E", 9211842821808707328L),
                ok("1.5e", 1729382256910270464L),
                // rounding: 0.512 bytes up, exactly half up, 0.4997 down
                ok("0.0005K", 1), ok("0.00048828125K", 1), ok("0.000488K", 0),
                ok("1.", 1), ok("1.0", 1), ok("1.0B", 1), ok("1.k", 1024),
                ok(" 1K", 1024), ok("\t1K", 1024), ok("\n1K", 1024), ok("\u000b1K", 1024), ok("\f1K", 1024),
                ok("\r1K", 1024), ok("+1K", 1024), ok("1.e", 1L << 60),
                // the smallest normal double as a fraction: still a number (below it, see refusesFractionsThatQemuMisreads)
                ok("1." + "0".repeat(307) + "22250738585072014K", 1024),
                ok("0x10", 16), ok("0X1F", 31), ok("0x10K", 16384), ok("0xffK", 261120), ok(" 0x10", 16),
                ok("+0x10", 16), ok("9223372036854775807", Long.MAX_VALUE),
                no(""), no(" "), no("K"), no(".5K"), no("1.5"), no("0.5"), no("1.5B"), no("1K "), no("1 K"),
                no("1.5 K"), no("1. 5K"), no("-1"), no(" -0"), no("-0x10"), no("+-1"), no("1e3"), no("1.5e3"),
                no("1.5E3K"), no("1.5e+"), no("1.E3"), no("\b1K"), no("\u000e1K"), no("1:"), no("1/"), no("1KiB"), no("1KB"), no("1x"), no("1X"), no("1..5K"), no("1.-5K"),
                no("1.+5K"), no("0x"), no("00x5"), no("0x1.5K"), no("0x1p3"), no("8E"), no("16E"),
                no("9223372036854775808"), no("99999999999999999999"), no("0x8000000000000000"),
                no("١٢"), no("1٢K"));
    }

    private static Case ok(String input, long bytes) {
        return new Case(input, bytes);
    }

    private static Case no(String input) {
        return new Case(input, null);
    }

    @ParameterizedTest
    @MethodSource("qemuImgCases")
    void parsesExactlyAsQemuImgCreate(Case c) {
        if (c.bytes() != null) {
            assertThat(Sizes.parse(c.input())).isEqualTo(c.bytes());
        } else {
            assertThatThrownBy(() -> Sizes.parse(c.input()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'" + c.input() + "'");
        }
    }

    /** Runs every case through the installed qemu-img and compares: the table above is what QEMU really does. */
    @Test
    void tableMatchesTheInstalledQemuImg(@TempDir Path dir) throws Exception {
        Qemu.assumeAvailable();
        Pattern formatting = Pattern.compile("Formatting '.*', fmt=raw size=(\\d+)");
        Path target = dir.resolve("x.raw");
        List<String> mismatches = new ArrayList<>();
        for (Case c : qemuImgCases().toList()) {
            // "--" so that "-1" is a size, not an option. qemu-img prints the parsed size before creating the
            // file, so a size too large for the file system still shows what it was parsed as.
            Qemu.Result r = Qemu.img("create", "-f", "raw", "--", target.toString(), c.input());
            Files.deleteIfExists(target);
            Matcher m = formatting.matcher(r.stdout());
            Long qemu = m.find() ? Long.valueOf(m.group(1)) : null;
            if (qemu == null ? c.bytes() != null : !qemu.equals(c.bytes())) {
                mismatches.add(c + " but qemu-img: " + (qemu == null ? "refused (" + r.stderr().strip() + ")"
                        : qemu));
            }
        }
        assertThat(mismatches).isEmpty();
    }

    /** Inputs whose QEMU 7.2 result is an artefact of double arithmetic; documented in {@link Sizes}. */
    @Test
    void refusesFractionsThatQemuMisreads() {
        // QEMU on x86-64: 1024 (the fraction rounds to 1.0, and its conversion to 0.64 fixed point wraps to 0).
        assertThatThrownBy(() -> Sizes.parse("1.99999999999999999999K"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("rounds to 1");
        // QEMU: 1 byte (strtod underflows, and QEMU then skips the suffix as if it were garbage).
        String tiny = "1." + "0".repeat(310) + "1K";
        assertThatThrownBy(() -> Sizes.parse(tiny))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("too small");
        // The largest decimal below the smallest normal double: QEMU gives 1 byte again.
        String subnormal = "1." + "0".repeat(307) + "2225073858507201K";
        assertThatThrownBy(() -> Sizes.parse(subnormal))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("too small");
        // A fraction of zeros is no fraction at all.
        assertThat(Sizes.parse("1." + "0".repeat(400) + "K")).isEqualTo(1024);
    }

    @Test
    void nullIsAProgrammingError() {
        assertThatThrownBy(() -> Sizes.parse(null)).isInstanceOf(NullPointerException.class);
    }

    @Test
    void messageNamesTheTextTheReasonAndTheRules() {
        assertThatThrownBy(() -> Sizes.parse("1KB"))
                .hasMessage("size '1KB' is not valid: 'B' follows the number; expected a whole number of bytes,"
                        + " optionally with a B, K, M, G, T, P or E suffix (binary multiples; a fraction such as"
                        + " 1.5G needs a suffix of K or more), at most 9223372036854775807");
        assertThatThrownBy(() -> Sizes.parse("8E")).hasMessageContaining("above 9223372036854775807 bytes");
        assertThatThrownBy(() -> Sizes.parse("-1")).hasMessageContaining("negative");
    }
}
