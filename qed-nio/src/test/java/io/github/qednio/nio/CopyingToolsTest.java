package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileStore;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static java.nio.file.StandardOpenOption.WRITE;

/** Generic java.nio code (Files.copy, streams, file stores) works on a disk without knowing the format. */
class CopyingToolsTest {
    @TempDir
    Path dir;

    @Test
    void filesCopyOfTheDiskGivesTheRawContentQemuReads() throws IOException {
        Qemu.assumeAvailable();
        Path image = dir.resolve("src.qed");
        Qemu.img("create", "-f", "qed", image.toString(), "3M").assertSuccess();
        Qemu.io("-f", "qed", "-c", "write -P 0x5a 65536 100000", "-c", "write -P 0x11 2000000 5000",
                image.toString()).assertSuccess();
        Path copy = dir.resolve("copy.raw");
        Files.copy(Path.of(URI.create("qed:" + image.toUri())), copy);
        assertThat(Files.size(copy)).isEqualTo(3 << 20);
        Qemu.assertIdentical(image, copy);
    }

    @Test
    void rawBytesStreamIntoTheDiskThroughNewOutputStream() throws IOException {
        Qemu.assumeAvailable();
        byte[] data = new byte[1 << 20];
        new Random(5).nextBytes(data);
        Path raw = Files.write(dir.resolve("in.raw"), data);
        Path image = dir.resolve("dst.qed");
        try (FileSystem fs = FileSystems.newFileSystem(URI.create("qed:" + image.toUri()),
                Map.of("create", "true", "size", "1M"))) {
            Path disk = fs.getPath("/disk");
            try (OutputStream out = Files.newOutputStream(disk)) {
                Files.copy(raw, out);
            }
            try (InputStream in = Files.newInputStream(disk)) {
                assertThat(in.readAllBytes()).isEqualTo(data);
            }
            // Replacing the disk is refused (it would have to be deleted first): streams and channels write it.
            assertThatThrownBy(() -> Files.copy(raw, disk, StandardCopyOption.REPLACE_EXISTING))
                    .isInstanceOf(IOException.class);
        }
        Qemu.assertCheckClean(image);
        Qemu.assertIdentical(image, raw);
    }

    @Test
    void fileStoreReportsTheVirtualSizeAndWhatIsNotAllocatedYet() throws IOException {
        Path image = dir.resolve("store.qed");
        try (FileSystem fs = FileSystems.newFileSystem(URI.create("qed:" + image.toUri()),
                Map.of("create", "true", "size", "1M", "clusterSize", "4K"))) {
            Path disk = fs.getPath("/disk");
            try (FileChannel ch = FileChannel.open(disk, WRITE)) {
                ch.write(ByteBuffer.allocate(8192), 0);
            }
            FileStore store = Files.getFileStore(disk);
            assertThat(store.type()).isEqualTo("qed");
            assertThat(store.getTotalSpace()).isEqualTo(1 << 20);
            assertThat(store.getUsableSpace()).isEqualTo((1 << 20) - 8192);
            assertThat(fs.getFileStores()).hasSize(1);
            assertThat(store.isReadOnly()).isFalse();
        }
    }
}
