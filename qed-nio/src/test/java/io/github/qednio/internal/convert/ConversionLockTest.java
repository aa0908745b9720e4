package io.github.qednio.internal.convert;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.InPlaceConverter;
import io.github.qednio.image.Progress;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.internal.qed.ChildJvm;
import io.github.qednio.image.ImageLockedException;
import io.github.qednio.testing.Qemu;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** An image QEMU has open for writing is not converted (QEMU's image locks), and not a byte of it changes. */
class ConversionLockTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"qed", "qcow2"})
    void conversionIsRefusedWhileQemuWritesTheImage(String format) throws Exception {
        Qemu.assumeAvailable();
        Path image = dir.resolve("held." + format);
        Qemu.img("create", "-f", format, image.toString(), "16M").assertSuccess();
        Process qemu = new ProcessBuilder("qemu-io", "-f", format, image.toString()).redirectErrorStream(true)
                .start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(qemu.getInputStream(),
                    StandardCharsets.UTF_8));
            OutputStream in = qemu.getOutputStream();
            in.write("write -P 0x44 0 512\n".getBytes(StandardCharsets.US_ASCII));
            in.flush();
            ChildJvm.awaitLine(out, "wrote 512/512 bytes"); // qemu-io has the image open and locked
            byte[] before = Files.readAllBytes(image);
            ImageFormat target = format.equals("qed") ? ImageFormat.QCOW2 : ImageFormat.QED;
            assertThatThrownBy(() -> InPlaceConverter.convert(image, target, Progress.NONE))
                    .isInstanceOf(ImageLockedException.class).hasMessageContaining(image.toString());
            assertThat(Files.readAllBytes(image)).isEqualTo(before);
            in.write("quit\n".getBytes(StandardCharsets.US_ASCII));
            in.close();
            assertThat(qemu.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            qemu.destroyForcibly();
        }
    }
}
