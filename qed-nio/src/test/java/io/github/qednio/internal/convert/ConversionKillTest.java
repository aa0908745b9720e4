package io.github.qednio.internal.convert;

import io.github.qednio.ops.ConversionReport;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.InPlaceConverter;
import io.github.qednio.image.Progress;
import static io.github.qednio.internal.convert.QedToQcow2InteropTest.qemuIo;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.internal.qed.ChildJvm;
import io.github.qednio.testing.Qemu;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A real process killed with SIGKILL in the middle of a conversion (held after its first metadata write, or after
 * the header switch): the file is the old or the new image with the original content, as QEMU reads it, and running
 * the conversion again finishes it or reports it done.
 */
class ConversionKillTest {
    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0} to {1}, killed {2}")
    @CsvSource({"QED, QCOW2, first", "QED, QCOW2, switched", "QCOW2, QED, first", "QCOW2, QED, switched"})
    void sigkillDuringConversionLeavesAValidImageAndARerunFinishes(ImageFormat from, ImageFormat to, String when)
            throws Exception {
        Qemu.assumeAvailable();
        Path base = dir.resolve("base.raw");
        Files.write(base, QedToQcow2InteropTest.pattern(0x3c, 3 << 20).array());
        Path image = dir.resolve("k." + from.qemuName());
        Qemu.img("create", "-f", from.qemuName(), "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw",
                image.toString(), "40M").assertSuccess();
        qemuIo(image, from.qemuName(), "write -P 0x11 0 100k", "write -z 1M 64k", "write -P 0x22 20M 8k",
                "write -P 0x33 36M 4k");
        Path copy = dir.resolve("orig." + from.qemuName());
        Files.copy(image, copy);

        Process child = ChildJvm.start(ConversionKillChild.class, image.toString(), to.name(), when);
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                StandardCharsets.UTF_8))) {
            ChildJvm.awaitLine(out, "HELD");
            child.destroyForcibly();
            assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
        }
        ImageFormat expected = when.equals("first") ? from : to;
        String info = Qemu.img("info", "--output=json", image.toString()).assertSuccess().stdout();
        assertThat(info).contains("\"format\": \"" + expected.qemuName() + "\"");
        Qemu.Result check = Qemu.img("check", "-f", expected.qemuName(), "--output=json", image.toString());
        assertThat(Qemu.jsonLong(check.stdout(), "corruptions")).as(check.stdout()).isZero();
        Qemu.img("compare", image.toString(), copy.toString()).assertSuccess();

        ConversionReport rerun = InPlaceConverter.convert(image, to, Progress.NONE);
        assertThat(rerun.alreadyConverted()).isEqualTo(expected == to);
        assertThat(Qemu.img("info", "--output=json", image.toString()).assertSuccess().stdout())
                .contains("\"format\": \"" + to.qemuName() + "\"");
        Qemu.img("compare", image.toString(), copy.toString()).assertSuccess();
    }
}
