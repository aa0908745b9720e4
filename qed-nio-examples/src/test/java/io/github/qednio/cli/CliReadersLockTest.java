package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import io.github.qednio.testing.QemuIoSession;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every reading command refuses an image another process writes, as qemu-img does without {@code -U} (it cannot be
 * read consistently), with qemu-img's words on one line; with {@code -U} it reads it, as qemu-img -U does.
 */
class CliReadersLockTest {
    @TempDir
    Path dir;
    Path image;

    @BeforeEach
    void createImage() throws IOException {
        Qemu.assumeAvailable();
        image = dir.resolve("held.qed");
        Qemu.img("create", "-q", "-f", "qed", image.toString(), "1M").assertSuccess();
    }

    /** Each reading command, with the exit code it gives on an error (compare's is 2, as qemu-img's). */
    static Stream<Arguments> readingCommands() {
        return Stream.of(
                Arguments.of(List.of("info", "IMG"), 1),
                Arguments.of(List.of("info", "--backing-chain", "IMG"), 1),
                Arguments.of(List.of("check", "IMG"), 1),
                Arguments.of(List.of("map", "IMG"), 1),
                Arguments.of(List.of("compare", "IMG", "IMG"), 2),
                Arguments.of(List.of("convert", "IMG", "OUT"), 1),
                Arguments.of(List.of("convert", "-f", "raw", "IMG", "OUT"), 1),
                Arguments.of(List.of("measure", "-O", "qed", "IMG"), 1),
                Arguments.of(List.of("io", "-r", "-c", "read 0 512", "IMG"), 1),
                Arguments.of(List.of("unpack", "IMG", "OUT"), 1));
    }

    private String[] args(List<String> command, boolean forceShare) {
        List<String> out = new ArrayList<>();
        out.add(command.get(0));
        if (forceShare) {
            out.add("-U");
        }
        for (String a : command.subList(1, command.size())) {
            out.add(a.equals("IMG") ? image.toString() : a.equals("OUT") ? dir.resolve("out").toString() : a);
        }
        return out.toArray(String[]::new);
    }

    @ParameterizedTest
    @MethodSource("readingCommands")
    void whileQemuWritesTheImageAReadingCommandIsRefusedInQemuImgsWordsAndReadsWithU(List<String> command,
            int errorCode) throws IOException {
        try (QemuIoSession qemu = QemuIoSession.open(image, "-f", "qed")) {
            QedCliTest.Run refused = QedCliTest.cli(args(command, false));
            assertThat(refused.code()).as(refused.err()).isEqualTo(errorCode);
            assertThat(refused.err()).isEqualTo("qed: Could not open '" + image + "': Failed to get shared"
                    + " \"write\" lock; is another process using the image [" + image + "]? (-U reads it anyway)"
                    + System.lineSeparator());
            assertThat(dir.resolve("out")).as("nothing written").doesNotExist();

            QedCliTest.Run shared = QedCliTest.cli(args(command, true));
            if (command.get(0).equals("unpack")) {
                // Read, and found no archive on the disk: the refusal is gone.
                assertThat(shared.err()).contains("no tar, zip or 7z archive");
            } else {
                assertThat(shared.code()).as(shared.err()).isZero();
            }
            qemu.command("write -P 0x45 0 512", "wrote 512/512 bytes"); // -U left QEMU writing
        }
    }

    @Test
    void convertWithUCopiesWhatQemuWrote() throws IOException {
        try (QemuIoSession qemu = QemuIoSession.open(image, "-f", "qed")) {
            qemu.command("flush", "");
            Path copy = dir.resolve("copy.raw");
            QedCliTest.Run r = QedCliTest.cli("convert", "-U", image.toString(), copy.toString());
            assertThat(r.code()).as(r.err()).isZero();
            byte[] bytes = Files.readAllBytes(copy);
            assertThat(bytes).hasSize(1 << 20);
            for (int i = 0; i < 512; i++) {
                assertThat(bytes[i]).isEqualTo((byte) 0x44);
            }
        }
        Qemu.Result cmp = Qemu.img("compare", "-f", "qed", "-F", "raw", image.toString(),
                dir.resolve("copy.raw").toString());
        assertThat(cmp.exitCode()).as("%s", cmp).isZero();
    }

    @Test
    void aCommandOnAnOverlayIsRefusedNamingTheBackingFileQemuWrites() throws IOException {
        Path overlay = dir.resolve("overlay.qed");
        Qemu.img("create", "-q", "-f", "qed", "-b", image.toString(), "-F", "qed", overlay.toString())
                .assertSuccess();
        try (QemuIoSession qemu = QemuIoSession.open(image, "-f", "qed")) {
            QedCliTest.Run map = QedCliTest.cli("map", overlay.toString());
            assertThat(map.code()).isEqualTo(1);
            assertThat(map.err()).startsWith("qed: Could not open '" + image + "': Failed to get shared \"write\""
                    + " lock; is another process using the image [" + image + "]?");
            // qemu-img info does not open the backing file, and neither does ours.
            assertThat(QedCliTest.cli("info", overlay.toString()).code()).isZero();
            assertThat(QedCliTest.cli("map", "-U", overlay.toString()).code()).isZero();
            // A writing command opens the backing file for reading too, and has no -U to offer.
            QedCliTest.Run io = QedCliTest.cli("io", "-c", "write 0 512", overlay.toString());
            assertThat(io.code()).isEqualTo(1);
            assertThat(io.err()).isEqualTo("qed: Could not open '" + image + "': Failed to get shared \"write\""
                    + " lock; is another process using the image [" + image + "]?" + System.lineSeparator());
        }
    }

    @Test
    void uIsRefusedForCommandsThatWrite() {
        QedCliTest.Run check = QedCliTest.cli("check", "-U", "-r", "all", image.toString());
        assertThat(check.code()).isEqualTo(1);
        assertThat(check.err()).contains("-U (--force-share)").contains("-r");
        QedCliTest.Run io = QedCliTest.cli("io", "-U", "-c", "write 0 512", image.toString());
        assertThat(io.code()).isEqualTo(1);
        assertThat(io.err()).contains("-U (--force-share)").contains("-r");
        Qemu.io("-r", "-f", "qed", "-c", "read -P 0 0 512", image.toString()).assertSuccess();
    }
}
