package io.github.qednio.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.jimfs.Configuration;
import com.google.common.jimfs.Jimfs;
import io.github.qednio.testing.Qemu;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two writers: QEMU-compatible image locks (byte-range locks at 100 + permission and 200 + permission) refuse a
 * second writer, whether it is QEMU, another JVM or another {@link QedImage} in this JVM; readers share.
 */
class ImageLockTest {
    @TempDir
    Path dir;
    Path image;

    @BeforeEach
    void createImage() throws IOException {
        image = dir.resolve("disk.qed");
        QedImage.create(image, CreateOptions.ofSize(16 << 20)).close();
    }

    @Test
    void secondWriterInThisJvmIsRefusedUntilTheFirstCloses() throws IOException {
        try (QedImage first = QedImage.open(image, OpenOptions.defaults())) {
            assertThatThrownBy(() -> QedImage.open(dir.resolve("./disk.qed"), OpenOptions.defaults()))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining("disk.qed")
                    .hasMessageContaining("already open for writing in this JVM");
            first.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
        }
        try (QedImage again = QedImage.open(image, OpenOptions.defaults())) {
            assertThat(again.isReadOnly()).isFalse();
        }
    }

    @Test
    void readersShareWithEachOtherAndWithAWriterInThisJvm() throws IOException {
        try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
            writer.write(ByteBuffer.wrap(new byte[] {7}), 4096);
            writer.flush();
            // Separate opens do not share table caches, so the readers open after the flush.
            try (QedImage reader1 = QedImage.open(image, OpenOptions.readOnlyDefaults());
                 QedImage reader2 = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
                ByteBuffer b = ByteBuffer.allocate(1);
                reader2.readFully(b, 4096);
                assertThat(b.get(0)).isEqualTo((byte) 7);
                assertThat(reader1.size()).isEqualTo(16 << 20);
            }
            writer.write(ByteBuffer.wrap(new byte[] {8}), 4097);
        }
    }

    @Test
    void repeatedReadersWhileAWriterIsOpenReuseChannelsAndAllAreClosedAtTheEnd() throws IOException {
        try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
            for (int i = 0; i < 20; i++) {
                QedImage.open(image, OpenOptions.readOnlyDefaults()).close();
            }
            assertThat(ImageLock.openChannels(image)).isEqualTo(2);
            assertThat(writer.isOpen()).isTrue();
        }
        assertThat(ImageLock.openChannels(image)).isZero();
    }

    @Test
    void qemuCannotWriteWhileWeWriteButMayReadWithForceShare() throws IOException {
        Qemu.assumeAvailable();
        try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
            writer.write(ByteBuffer.wrap(new byte[] {0x5a}), 0);
            writer.flush();
            Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 4k", image.toString());
            assertThat(w.exitCode()).as("qemu-io write while we hold the image: %s", w).isNotZero();
            assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");

            // Without -U QEMU's readers do not share the write permission, so they are refused as against QEMU.
            Qemu.Result info = Qemu.img("info", "-f", "qed", image.toString());
            assertThat(info.exitCode()).isNotZero();
            assertThat(info.stderr()).contains("Failed to get shared \"write\" lock");

            Qemu.img("info", "-U", "-f", "qed", image.toString()).assertSuccess();
            Qemu.Result read = Qemu.io("-r", "-U", "-f", "qed", "-c", "read -P 0x5a 0 1", image.toString())
                    .assertSuccess();
            assertThat(read.stdout()).contains("read 1/1 bytes");
        }
        // Released on close: QEMU may write now.
        Qemu.io("-f", "qed", "-c", "write -P 0x33 0 4k", image.toString()).assertSuccess();
    }

    @Test
    void closingAReaderInThisJvmKeepsTheWriterLocked() throws IOException {
        Qemu.assumeAvailable();
        try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
            // With plain POSIX locks, closing any descriptor of the file would drop the writer's locks.
            QedImage.open(image, OpenOptions.readOnlyDefaults()).close();
            Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 4k", image.toString());
            assertThat(w.exitCode()).as("%s", w).isNotZero();
            assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");
            assertThat(writer.isOpen()).isTrue();
        }
    }

    @Test
    void weRefuseToWriteWhileQemuHoldsTheImageForWritingAndStillRead() throws Exception {
        Qemu.assumeAvailable();
        Process qemu = new ProcessBuilder("qemu-io", "-f", "qed", image.toString()).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(qemu.getInputStream(),
                    StandardCharsets.UTF_8));
            OutputStream in = qemu.getOutputStream();
            // Once qemu-io answers a command it has opened the image and taken its locks.
            in.write("write -P 0x44 0 512\n".getBytes(StandardCharsets.US_ASCII));
            in.flush();
            ChildJvm.awaitLine(out, "wrote 512/512 bytes");

            assertThatThrownBy(() -> QedImage.open(image, OpenOptions.defaults()))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining(image.toString())
                    .hasMessageContaining("\"write\" lock");
            try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
                ByteBuffer b = ByteBuffer.allocate(512);
                reader.readFully(b, 0);
                assertThat(b.array()).containsOnly(0x44);
            }

            in.write("quit\n".getBytes(StandardCharsets.US_ASCII));
            in.close();
            assertThat(qemu.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            qemu.destroyForcibly();
        }
        try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
            assertThat(writer.isReadOnly()).isFalse();
        }
    }

    @Test
    void aQemuReaderThatDoesNotShareWriteBlocksOurWriter() throws Exception {
        Qemu.assumeAvailable();
        Process qemu = new ProcessBuilder("qemu-io", "-r", "-f", "qed", image.toString())
                .redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(qemu.getInputStream(),
                    StandardCharsets.UTF_8));
            qemu.getOutputStream().write("read 0 512\n".getBytes(StandardCharsets.US_ASCII));
            qemu.getOutputStream().flush();
            ChildJvm.awaitLine(out, "read 512/512 bytes");
            assertThatThrownBy(() -> QedImage.open(image, OpenOptions.defaults()))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining("does not share the write permission");
        } finally {
            qemu.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void aWriterInAnotherJvmIsRefusedBothWays() throws Exception {
        Process child = ChildJvm.start(HoldOpenChild.class, image.toString());
        try {
            BufferedReader out = ChildJvm.stdout(child);
            assertThat(out.readLine()).isEqualTo("open");
            assertThatThrownBy(() -> QedImage.open(image, OpenOptions.defaults()))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining("\"write\" lock");
            try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
                assertThat(reader.size()).isEqualTo(16 << 20);
            }
        } finally {
            child.getOutputStream().close();
            child.waitFor(30, TimeUnit.SECONDS);
            child.destroyForcibly();
        }
        try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
            Process second = ChildJvm.start(HoldOpenChild.class, image.toString());
            try {
                String line = ChildJvm.stdout(second).readLine();
                assertThat(line).startsWith("refused ").contains(image.toString()).contains("\"write\" lock");
            } finally {
                second.getOutputStream().close();
                second.waitFor(30, TimeUnit.SECONDS);
                second.destroyForcibly();
            }
            assertThat(writer.isOpen()).isTrue();
        }
    }

    @Test
    void filesOnFileSystemsWithoutLockingOpenWithoutLocks() throws IOException {
        try (FileSystem fs = Jimfs.newFileSystem(Configuration.unix())) {
            Path p = fs.getPath("/disk.qed");
            QedImage.create(p, CreateOptions.ofSize(1 << 20)).close();
            try (QedImage img = QedImage.open(p, OpenOptions.defaults())) {
                img.write(ByteBuffer.wrap(new byte[] {9}), 0);
            }
            assertThat(ImageLock.applies(p)).isFalse();
        }
    }
}
