package io.github.qednio.nio;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.ImageLockedException;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.testing.Qemu;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessMode;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * While a Java writer holds an image through a {@code qed:} write channel, no provider entry point may drop its
 * QEMU-compatible write lock: POSIX locks belong to the process, and closing <em>any</em> descriptor of the file
 * drops them all. After each entry point, a real {@code qemu-io} writer must still be refused. And if code outside
 * the library drops the lock anyway, the next write takes it again or fails naming the image; it never writes
 * while QEMU holds the image.
 */
class LocksSurviveProviderEntryPointsTest {
    @TempDir
    Path dir;
    Path image;
    FileSystem fs;
    FileChannel writer;

    @BeforeEach
    void holdTheImageForWriting() throws IOException {
        Qemu.assumeAvailable();
        image = dir.resolve("held.qed");
        fs = FileSystems.newFileSystem(uri(image), Map.of("create", "true", "size", "4M"));
        writer = FileChannel.open(fs.getPath("/disk"), WRITE);
        writer.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
        writer.force(true);
        assertQemuWriterRefused();
    }

    @AfterEach
    void release() throws IOException {
        if (writer != null) {
            writer.close();
        }
        if (fs != null) {
            fs.close();
        }
    }

    private static URI uri(Path image) {
        return URI.create("qed:" + image.toUri());
    }

    private void assertQemuWriterRefused() {
        Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
        assertThat(w.exitCode()).as("qemu-io must not get the write lock while we hold %s: %s", image, w)
                .isNotZero();
        assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");
    }

    /** Our write still works after the entry point, and QEMU is still refused after it. */
    private void assertStillOurs() throws IOException {
        assertQemuWriterRefused();
        writer.write(ByteBuffer.wrap(new byte[] {4}), 4096);
        writer.force(true);
        assertQemuWriterRefused();
    }

    @Test
    void newFileSystemWithThePathProbesWithoutDroppingTheLock() throws IOException {
        QedFileSystemProvider provider = QedFileSystemProvider.instance();
        assertThatThrownBy(() -> provider.newFileSystem(image, Map.of()))
                .isInstanceOf(FileSystemAlreadyExistsException.class);
        assertStillOurs();
    }

    @Test
    void newFileSystemWithABadEnvThatFailsKeepsTheLock() throws IOException {
        // Through FileSystems: the JDK's zip provider is asked first and opens and closes the file itself; ours
        // takes the locks again before it answers.
        assertThatThrownBy(() -> FileSystems.newFileSystem(image, Map.of("noSuchKey", "1")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("noSuchKey");
        assertQemuWriterRefused();
        assertThatThrownBy(() -> QedFileSystemProvider.instance().newFileSystem(image, Map.of("readOnly", "maybe")))
                .isInstanceOf(IllegalArgumentException.class);
        assertStillOurs();
    }

    @Test
    void attributeReadsAndAccessChecksKeepTheLock() throws IOException {
        Path disk = fs.getPath("/disk");
        assertThat(Files.readAttributes(disk, BasicFileAttributes.class).size()).isEqualTo(4 << 20);
        assertThat(Files.getAttribute(disk, "qed:clusterSize")).isEqualTo(65536);
        assertThat(Files.readAttributes(disk, "qed:*")).containsKey("allocatedBytes");
        fs.provider().checkAccess(disk, AccessMode.READ, AccessMode.WRITE);
        assertThat(Files.isReadable(disk)).isTrue();
        assertStillOurs();
    }

    @Test
    void settingTheDisksTimesKeepsTheLock() throws IOException {
        // The JDK sets times through a descriptor of its own.
        Files.setLastModifiedTime(fs.getPath("/disk"), FileTime.fromMillis(1_600_000_000_000L));
        assertThat(Files.getLastModifiedTime(image)).isEqualTo(FileTime.fromMillis(1_600_000_000_000L));
        assertStillOurs();
    }

    @Test
    void aSecondReadChannelAndItsCloseKeepTheLock() throws IOException {
        try (FileChannel second = FileChannel.open(fs.getPath("/disk"), READ)) {
            ByteBuffer b = ByteBuffer.allocate(3);
            second.read(b, 0);
            assertThat(b.array()).containsExactly(1, 2, 3);
        }
        try (FileChannel implicit = FileChannel.open(Path.of(uri(image)), READ)) {
            assertThat(implicit.size()).isEqualTo(4 << 20);
        }
        assertStillOurs();
    }

    @Test
    void openingAnOverlayWhoseBackingFileIsTheHeldImageKeepsTheLock() throws IOException {
        for (ImageFormat f : new ImageFormat[] {null, ImageFormat.QED}) {
            Path overlay = dir.resolve("overlay-" + f + ".qed");
            QedImage.create(overlay, CreateOptions.overlay("held.qed", f).withSize(4 << 20)).close();
            try (QedImage ov = QedImage.open(overlay, OpenOptions.readOnlyDefaults())) {
                ByteBuffer b = ByteBuffer.allocate(3);
                ov.readFully(b, 0);
            }
            try (FileSystem ovfs = FileSystems.newFileSystem(overlay, Map.of("readOnly", "true"))) {
                assertThat(Files.size(ovfs.getPath("/disk"))).isEqualTo(4 << 20);
            }
        }
        assertStillOurs();
    }

    @Test
    void foreignCodeDroppingTheLockIsRepairedBeforeTheNextWrite() throws IOException {
        // Outside the library: the JDK opens and closes its own descriptor, and the kernel drops our locks.
        Files.readAllBytes(image);
        writer.write(ByteBuffer.wrap(new byte[] {9}), 8192);
        assertQemuWriterRefused();
        writer.force(true);
        assertQemuWriterRefused();
    }

    @Test
    void foreignCodeDroppingTheLockAndQemuGettingInFailsTheNextWriteNamingTheImage() throws Exception {
        Files.readAllBytes(image);
        Process qemu = new ProcessBuilder("qemu-io", "-f", "qed", image.toString()).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(qemu.getInputStream(),
                    StandardCharsets.UTF_8));
            qemu.getOutputStream().write("write -P 0x44 65536 512\n".getBytes(StandardCharsets.US_ASCII));
            qemu.getOutputStream().flush();
            String line;
            StringBuilder seen = new StringBuilder();
            while ((line = out.readLine()) != null && !line.contains("wrote 512/512")) {
                seen.append(line).append('\n');
            }
            assertThat(line).as("qemu-io took the image after our lock was dropped: %s", seen).isNotNull();

            assertThatThrownBy(() -> writer.write(ByteBuffer.wrap(new byte[] {7}), 1 << 20))
                    .isInstanceOf(ImageLockedException.class).hasMessageContaining(image.toString())
                    .hasMessageContaining("lock was lost");
            assertThatThrownBy(() -> writer.force(true)).isInstanceOf(ImageLockedException.class);
            qemu.getOutputStream().write("quit\n".getBytes(StandardCharsets.US_ASCII));
            qemu.getOutputStream().close();
            assertThat(qemu.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            qemu.destroyForcibly();
        }
        writer = null; // its image is lost: closing it flushes, which fails
        try {
            fs.close();
        } catch (IOException expected) {
            // the close's flush is refused too: nothing is written unlocked
        }
        fs = null;
    }
}
