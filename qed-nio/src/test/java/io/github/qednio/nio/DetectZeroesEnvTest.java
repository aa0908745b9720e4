package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code detectZeroes} env key: zero detection for everything written through the file system. */
class DetectZeroesEnvTest {
    @TempDir
    Path dir;

    @Test
    void keyIsParsedAsABooleanAndOffByDefault() {
        assertThat(QedEnv.parse(Map.of()).openOptions().detectZeroes()).isFalse();
        assertThat(QedEnv.parse(Map.of("detectZeroes", "true")).openOptions().detectZeroes()).isTrue();
        assertThat(QedEnv.parse(Map.of("detectZeroes", Boolean.TRUE)).openOptions().detectZeroes()).isTrue();
        assertThatThrownBy(() -> QedEnv.parse(Map.of("detectZeroes", "on")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'detectZeroes'");
    }

    @Test
    void zerosStreamedThroughAFileSystemWithTheKeyLeaveTheImageFileAtItsEmptySize() throws IOException {
        long empty = write(dir.resolve("empty.qed"), Map.of(), 0);
        long detected = write(dir.resolve("on.qed"), Map.of("detectZeroes", "true"), 16 << 20);
        long plain = write(dir.resolve("off.qed"), Map.of(), 16 << 20);
        assertThat(detected).isEqualTo(empty);
        assertThat(plain).isGreaterThan(16L << 20);
    }

    /** Creates a 64 MiB image, streams {@code zeros} zero bytes onto its disk, returns the image file's size. */
    private static long write(Path image, Map<String, String> extraEnv, int zeros) throws IOException {
        Map<String, String> env = new java.util.HashMap<>(extraEnv);
        env.put("create", "true");
        env.put("size", "64M");
        try (FileSystem fs = FileSystems.newFileSystem(URI.create("qed:" + image.toUri()), env);
             OutputStream out = Files.newOutputStream(fs.getPath("/disk"))) {
            byte[] chunk = new byte[1 << 20];
            for (int n = 0; n < zeros; n += chunk.length) {
                out.write(chunk);
            }
        }
        return Files.size(image);
    }
}
