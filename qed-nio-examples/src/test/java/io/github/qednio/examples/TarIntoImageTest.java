package io.github.qednio.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TarIntoImageTest {
    @TempDir
    Path dir;

    @Test
    void aTarPackedOntoTheDiskIsReadByGnuTarFromQemusRawConversion() throws Exception {
        Qemu.assumeAvailable();
        byte[] big = new byte[300_000];
        new Random(7).nextBytes(big);
        Path a = Files.writeString(dir.resolve("hello.txt"), "hello from a QED disk\n");
        Path b = Files.write(dir.resolve("random.bin"), big);
        Path image = dir.resolve("archive.qed");

        TarIntoImage.pack(image, "4M", List.of(a, b));

        assertThat(TarIntoImage.list(image)).containsExactly("hello.txt", "random.bin");
        Qemu.assertCheckClean(image);
        Path raw = Qemu.convertToRaw(image, dir.resolve("archive.raw"));
        assertThat(run("tar", "-tf", raw.toString())).isEqualTo("hello.txt\nrandom.bin\n");
        Path out = Files.createDirectory(dir.resolve("out"));
        run("tar", "-xf", raw.toString(), "-C", out.toString());
        assertThat(Files.readString(out.resolve("hello.txt"))).isEqualTo("hello from a QED disk\n");
        assertThat(Files.readAllBytes(out.resolve("random.bin"))).isEqualTo(big);
    }

    private static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("%s: %s", List.of(cmd), out).isZero();
        return out;
    }
}
