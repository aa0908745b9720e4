package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CLI commands run in the JVM that holds an image for writing (an application embedding the tool) must not drop
 * its QEMU-compatible write lock: closing any descriptor of the file drops every POSIX lock of the process.
 */
class CliKeepsLocksTest {
    @TempDir
    Path dir;

    private static void assertQemuWriterRefused(Path image) {
        Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
        assertThat(w.exitCode()).as("qemu-io must not get the write lock: %s", w).isNotZero();
        assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");
    }

    @Test
    void infoConvertWithAProbedSourceAndMapKeepTheWritersLock() throws IOException {
        Qemu.assumeAvailable();
        Path image = dir.resolve("held.qed");
        QedImage.create(image, CreateOptions.ofSize(1 << 20)).close();
        try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
            writer.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
            writer.flush();
            assertQemuWriterRefused(image);

            QedCliTest.Run info = QedCliTest.cli("info", image.toString());
            assertThat(info.code()).as(info.err()).isZero();
            assertQemuWriterRefused(image);

            QedCliTest.Run convert = QedCliTest.cli("convert", image.toString(), dir.resolve("copy.raw").toString());
            assertThat(convert.code()).as(convert.err()).isZero();
            assertThat(Files.size(dir.resolve("copy.raw"))).isEqualTo(1 << 20);
            assertQemuWriterRefused(image);

            QedCliTest.Run raw = QedCliTest.cli("convert", "-f", "raw", image.toString(),
                    dir.resolve("bytes.raw").toString());
            assertThat(raw.code()).as(raw.err()).isZero();
            assertQemuWriterRefused(image);

            QedCliTest.Run map = QedCliTest.cli("map", image.toString());
            assertThat(map.code()).as(map.err()).isZero();
            assertQemuWriterRefused(image);

            writer.write(ByteBuffer.wrap(new byte[] {4}), 4096);
            writer.flush();
            assertQemuWriterRefused(image);
        }
    }

    @Test
    void convertRefusesAProbedSourceOfAnotherFormatNamingIt() throws IOException {
        Qemu.assumeAvailable();
        Path src = dir.resolve("disk.vmdk");
        Qemu.img("create", "-q", "-f", "vmdk", src.toString(), "1M").assertSuccess();
        QedCliTest.Run r = QedCliTest.cli("convert", src.toString(), dir.resolve("out.qed").toString(), "-O", "qed");
        assertThat(r.code()).isNotZero();
        assertThat(r.err()).contains(src.toString()).contains("vmdk");
        assertThat(dir.resolve("out.qed")).doesNotExist();
    }
}
