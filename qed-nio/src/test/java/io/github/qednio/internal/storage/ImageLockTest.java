package io.github.qednio.internal.storage;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.ImageLockedException;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qed.ChildJvm;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.jimfs.Configuration;
import com.google.common.jimfs.Jimfs;
import io.github.qednio.testing.Qemu;
import io.github.qednio.testing.QemuIoSession;
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
 * QEMU-compatible image locks (byte-range locks at 100 + permission and 200 + permission) refuse a second writer,
 * whether it is QEMU, another JVM or another {@link QedImage} in this JVM; a reader and a writer in different
 * processes refuse each other as QEMU's do, unless the reader has force-share; within one JVM they share.
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
    void whileQemuWritesTheImageWeNeitherWriteNorReadItExceptWithForceShare() throws Exception {
        Qemu.assumeAvailable();
        try (QemuIoSession qemu = QemuIoSession.open(image, "-f", "qed")) {
            assertThatThrownBy(() -> QedImage.open(image, OpenOptions.defaults()))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining(image.toString())
                    .hasMessageContaining("\"write\" lock");
            // As qemu-img info and qemu-io -r: an image another process writes cannot be read consistently.
            assertThatThrownBy(() -> QedImage.open(image, OpenOptions.readOnlyDefaults()))
                    .isInstanceOfSatisfying(ImageLockedException.class, e -> {
                        assertThat(e.getFile()).isEqualTo(image.toString());
                        assertThat(e.getReason()).isEqualTo("Failed to get shared \"write\" lock");
                        assertThat(e.forceShareWouldOpen()).isTrue();
                    })
                    .hasMessageContaining("OpenOptions.withForceShare(true)");
            try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults().withForceShare(true))) {
                ByteBuffer b = ByteBuffer.allocate(512);
                reader.readFully(b, 0);
                assertThat(b.array()).containsOnly(0x44);
                // The force-share reader does not keep QEMU from writing on.
                qemu.command("write -P 0x45 0 512", "wrote 512/512 bytes");
            }
        }
        try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
            assertThat(writer.isReadOnly()).isFalse();
        }
    }

    @Test
    void whileWeReadTheImageQemuCannotWriteItButMayReadIt() throws IOException {
        Qemu.assumeAvailable();
        try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
            assertThat(w.exitCode()).as("qemu-io write while we read the image: %s", w).isNotZero();
            assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");
            Qemu.Result r = Qemu.io("-r", "-f", "qed", "-c", "read -P 0 0 512", image.toString()).assertSuccess();
            assertThat(r.stdout()).contains("read 512/512 bytes");
            Qemu.img("info", "-f", "qed", image.toString()).assertSuccess();
            assertThat(reader.size()).isEqualTo(16 << 20);
        }
        Qemu.io("-f", "qed", "-c", "write 0 512", image.toString()).assertSuccess();
    }

    @Test
    void whileWeReadWithForceShareQemuMayWrite() throws IOException {
        Qemu.assumeAvailable();
        try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults().withForceShare(true))) {
            Qemu.io("-f", "qed", "-c", "write -P 0x61 0 512", image.toString()).assertSuccess();
            assertThat(reader.isReadOnly()).isTrue();
        }
    }

    @Test
    void readersHoldTheBytesOfQemusReadersAndForceShareOnlyConsistentRead() throws IOException {
        try (QedImage shared = QedImage.open(image, OpenOptions.readOnlyDefaults().withForceShare(true))) {
            String token = HeldLocks.token(image, 100);
            assertThat(HeldLocks.heldBytes(token)).containsExactly(100);
            try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
                assertThat(HeldLocks.heldBytes(token)).containsExactly(100, 201, 203);
                try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
                    assertThat(HeldLocks.heldBytes(token)).containsExactly(HeldLocks.WRITER_BYTES);
                }
                // The writer is gone; the reader still keeps write and resize unshared.
                assertThat(HeldLocks.heldBytes(token)).containsExactly(100, 201, 203);
            }
            assertThat(HeldLocks.heldBytes(token)).containsExactly(100);
            assertThat(shared.size()).isEqualTo(16 << 20);
        }
    }

    @Test
    void readersAndBackingFilesHoldTheBytesQemuHolds() throws IOException {
        Qemu.assumeAvailable();
        Path overlay = dir.resolve("overlay.qed");
        QedImage.create(overlay, CreateOptions.overlay("disk.qed", ImageFormat.QED)).close();
        int[] qemuReader;
        int[] qemuForceShare;
        int[] qemuBackingOfWriter;
        try (QemuIoSession qemu = QemuIoSession.open(image, "-r", "-f", "qed")) {
            qemuReader = HeldLocks.qemuHeldBytes(image);
        }
        try (QemuIoSession qemu = QemuIoSession.open(image, "-r", "-U", "-f", "qed")) {
            qemuForceShare = HeldLocks.qemuHeldBytes(image);
        }
        try (QemuIoSession qemu = QemuIoSession.open(overlay, "-f", "qed")) {
            qemuBackingOfWriter = HeldLocks.qemuHeldBytes(image);
        }
        assertThat(qemuReader).containsExactly(100, 201, 203);
        try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            assertThat(HeldLocks.heldBytes(HeldLocks.token(image, 100))).isEqualTo(qemuReader);
        }
        try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults().withForceShare(true))) {
            assertThat(HeldLocks.heldBytes(HeldLocks.token(image, 100))).isEqualTo(qemuForceShare);
        }
        try (QedImage writer = QedImage.open(overlay, OpenOptions.defaults())) {
            assertThat(HeldLocks.heldBytes(HeldLocks.token(image, 100))).isEqualTo(qemuBackingOfWriter);
        }
    }

    @Test
    void aWriterInThisJvmOpensBesideOurReaderAndClosesWithoutDroppingItsLocks() throws IOException {
        try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            try (QedImage writer = QedImage.open(image, OpenOptions.defaults())) {
                writer.write(ByteBuffer.wrap(new byte[] {5}), 0);
            }
            if (Qemu.crossChecks()) {
                Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
                assertThat(w.exitCode()).as("%s", w).isNotZero();
                assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");
            }
            assertThat(reader.isOpen()).isTrue();
        }
    }

    @Test
    void forceShareIsOnlyForReadOnlyOpens() {
        assertThatThrownBy(() -> QedImage.open(image, OpenOptions.defaults().withForceShare(true)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(image.toString())
                .hasMessageContaining("OpenOptions.withForceShare");
    }

    @Test
    void backingFilesAreLockedAsQemuLocksThem() throws IOException {
        Qemu.assumeAvailable();
        Path overlay = dir.resolve("overlay.qed");
        QedImage.create(overlay, CreateOptions.overlay("disk.qed", ImageFormat.QED)).close();
        // QEMU holds the backing file of an image it writes for consistent reading: it may not be written.
        try (QemuIoSession qemu = QemuIoSession.open(overlay, "-f", "qed")) {
            Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
            assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");
            try (QedImage base = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
                assertThat(base.size()).isEqualTo(16 << 20);
            }
        }
        // Below our writer, the backing file is held the same way.
        try (QedImage writer = QedImage.open(overlay, OpenOptions.defaults())) {
            writer.write(ByteBuffer.wrap(new byte[] {1}), 0);
            Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
            assertThat(w.exitCode()).as("%s", w).isNotZero();
            assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");
            Qemu.io("-r", "-f", "qed", "-c", "read 0 512", image.toString()).assertSuccess();
        }
        // While QEMU writes the backing file, an overlay is refused naming it, unless with force-share.
        try (QemuIoSession qemu = QemuIoSession.open(image, "-f", "qed")) {
            assertThatThrownBy(() -> QedImage.open(overlay, OpenOptions.readOnlyDefaults()))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageStartingWith(image + ": Failed to get shared \"write\" lock");
            assertThatThrownBy(() -> QedImage.open(overlay, OpenOptions.defaults()))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageStartingWith(image + ": Failed to get shared \"write\" lock");
            qemu.command("write -P 0x46 1M 512", "wrote 512/512 bytes"); // where the overlay has no data
            try (QedImage reader = QedImage.open(overlay, OpenOptions.readOnlyDefaults().withForceShare(true))) {
                ByteBuffer b = ByteBuffer.allocate(512);
                reader.readFully(b, 1 << 20);
                assertThat(b.array()).containsOnly(0x46);
            }
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
            assertThatThrownBy(() -> QedImage.open(image, OpenOptions.readOnlyDefaults()))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining(image.toString())
                    .hasMessageContaining("Failed to get shared \"write\" lock");
            try (QedImage reader = QedImage.open(image, OpenOptions.readOnlyDefaults().withForceShare(true))) {
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
