package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SizesTest {
    @Test
    void parsesPlainBytesAndBinarySuffixesInAnyCase() {
        assertThat(Sizes.parse("4096")).isEqualTo(4096);
        assertThat(Sizes.parse("64K")).isEqualTo(64 * 1024);
        assertThat(Sizes.parse("64k")).isEqualTo(64 * 1024);
        assertThat(Sizes.parse("3M")).isEqualTo(3L << 20);
        assertThat(Sizes.parse("1.5G")).isEqualTo(3L << 29);
        assertThat(Sizes.parse("64T")).isEqualTo(64L << 40);
        assertThat(Sizes.parse("512B")).isEqualTo(512);
        // qemu-img rounds a fraction of a scaled size to the nearest byte.
        assertThat(Sizes.parse("0.3K")).isEqualTo(307);
    }

    @Test
    void rejectsNegativeFractionalBytesAndUnknownSuffixesNamingTheText() {
        assertThatThrownBy(() -> Sizes.parse("-1")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'-1'");
        assertThatThrownBy(() -> Sizes.parse("0.5")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'0.5'");
        assertThatThrownBy(() -> Sizes.parse("1X")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'1X'");
        assertThatThrownBy(() -> Sizes.parse("9E")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'9E'");
    }

    @Test
    void humanFormMatchesQemuImgInfo() {
        assertThat(Sizes.human(1L << 30)).isEqualTo("1 GiB");
        assertThat(Sizes.human(3L << 19)).isEqualTo("1.5 MiB");
        assertThat(Sizes.human(512)).isEqualTo("512 B");
        assertThat(Sizes.human(266240)).isEqualTo("260 KiB");
    }

    @Test
    void humanFormSwitchesUnitAtAThousandAndRoundsLikeCsPercentG() {
        // Each expectation is what qemu-img 7.2 info printed for a raw file or QED image of that size.
        assertThat(Sizes.human(1024)).isEqualTo("1 KiB");
        assertThat(Sizes.human(1024000)).isEqualTo("0.977 MiB");
        assertThat(Sizes.human(1023488)).isEqualTo("1e+03 KiB");
        assertThat(Sizes.human(2281701376L)).isEqualTo("2.12 GiB");
        assertThat(Sizes.human(0)).isEqualTo("0 B");
    }
}
