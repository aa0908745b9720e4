package io.github.qednio.nio;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.internal.qed.ChildJvm;
import io.github.qednio.internal.storage.HoldOpenChild;
import io.github.qednio.image.ImageLockedException;
import io.github.qednio.testing.Qemu;
import io.github.qednio.testing.QemuIoSession;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An image opened only for reading through a {@code qed:} path with no explicit file system (a read channel, an
 * input stream, an attribute read) is opened read-only, as {@code qemu-io -r}: it takes QEMU's read-only locks (so
 * it is refused while another process writes the image) and never changes a byte, even when {@code QED_F_NEED_CHECK}
 * is set. A write channel later upgrades it, or is refused while another writer holds the image.
 */
class ReadersShareTest {
    private static final long NEED_CHECK = 2;

    @TempDir
    Path dir;

    private static URI uri(Path image) {
        return URI.create("qed:" + image.toUri());
    }

    @Test
    void qemuImgInfoAndQemuIoReadOnlyWorkBesideAnImplicitReadChannel() throws Exception {
        Qemu.assumeAvailable();
        Path image = dir.resolve("shared.qed");
        Qemu.img("create", "-f", "qed", image.toString(), "1M").assertSuccess();
        Qemu.io("-f", "qed", "-c", "write -P 0x5a 0 4k", image.toString()).assertSuccess();
        Path disk = Path.of(uri(image));
        try (FileChannel reader = FileChannel.open(disk); InputStream in = Files.newInputStream(disk)) {
            assertThat(in.read()).isEqualTo(0x5a);
            Qemu.img("info", "-f", "qed", image.toString()).assertSuccess();
            Qemu.io("-r", "-f", "qed", "-c", "read -P 0x5a 0 512", image.toString()).assertSuccess();
            assertThat(readAt(reader, 0, 4096)).containsOnly(0x5a);
        }
    }

    @Test
    void readingANeedCheckImageThroughAnImplicitPathChangesNoByte() throws Exception {
        Path image = dirtyImage("dirty.qed");
        String before = sha256(image);
        Path disk = Path.of(uri(image));
        try (InputStream in = Files.newInputStream(disk)) {
            assertThat(in.readNBytes(3)).containsExactly(1, 2, 3);
        }
        try (FileChannel ch = FileChannel.open(disk)) {
            assertThat(readAt(ch, 0, 3)).containsExactly(1, 2, 3);
            assertThat(Files.readAttributes(disk, QedFileAttributes.class).needsCheck()).isTrue();
            assertThat(ch.size()).isEqualTo(1 << 20);
        }
        assertThat(Files.getAttribute(disk, "qed:needsCheck")).isEqualTo(true);
        assertThat(Files.size(disk)).isEqualTo(1 << 20);
        assertThat(sha256(image)).as("sha256 of the image file").isEqualTo(before);
    }

    @Test
    void aWriteChannelUpgradesTheImageWithTheRepairAndReadChannelsKeepWorking() throws Exception {
        Path image = dirtyImage("upgrade.qed");
        Path disk = Path.of(uri(image));
        ImageRegistry registry = QedFileSystemProvider.instance().registry();
        try (FileChannel reader = FileChannel.open(disk)) {
            assertThat(readAt(reader, 0, 3)).containsExactly(1, 2, 3);
            assertThat(registry.find(image).image().isReadOnly()).as("opened for reading only").isTrue();
            assertThat(disk.getFileSystem().isReadOnly()).isFalse();
            assertThat(Files.isWritable(disk)).isTrue();
            try (FileChannel writer = FileChannel.open(disk, WRITE)) {
                assertThat(registry.find(image).image().isReadOnly()).as("upgraded").isFalse();
                writer.write(ByteBuffer.wrap(new byte[] {9, 9}), 0);
                assertThat(readAt(reader, 0, 3)).as("the reader sees the writer's data").containsExactly(9, 9, 3);
            }
            assertThat(readAt(reader, 0, 3)).containsExactly(9, 9, 3);
        }
        assertThat(DiskChannelContractTest.featuresOnDisk(image) & NEED_CHECK).as("NEED_CHECK").isZero();
        if (Qemu.crossChecks()) {
            Qemu.assertCheckClean(image);
        }
    }

    @Test
    void anOverlayOpenedForReadingUpgradesWithItsBackingChain() throws Exception {
        Path base = dir.resolve("base.raw");
        byte[] baseData = new byte[1 << 20];
        Arrays.fill(baseData, (byte) 0x11);
        Files.write(base, baseData);
        Path overlay = dir.resolve("overlay.qed");
        java.nio.file.FileSystems.newFileSystem(uri(overlay), java.util.Map.of("create", "true", "backingFile",
                "base.raw", "backingFormat", "raw")).close();
        Path disk = Path.of(uri(overlay));
        try (FileChannel reader = FileChannel.open(disk)) {
            assertThat(readAt(reader, 4096, 4)).containsOnly(0x11);
            try (FileChannel writer = FileChannel.open(disk, WRITE)) {
                writer.write(ByteBuffer.wrap(new byte[] {5, 5}), 4096);
            }
            assertThat(readAt(reader, 4094, 6)).containsExactly(0x11, 0x11, 5, 5, 0x11, 0x11);
        }
        try (FileChannel again = FileChannel.open(disk)) {
            assertThat(readAt(again, 4094, 6)).containsExactly(0x11, 0x11, 5, 5, 0x11, 0x11);
        }
        assertThat(Files.readAllBytes(base)).isEqualTo(baseData);
        if (Qemu.crossChecks()) {
            Qemu.assertCheckClean(overlay);
        }
    }

    @Test
    void whileQemuWritesTheImageChannelsAreRefusedNamingItAndAReadOnlyForceShareFileSystemReads() throws Exception {
        Qemu.assumeAvailable();
        Path image = dir.resolve("qemu holds.qed");
        Qemu.img("create", "-f", "qed", image.toString(), "1M").assertSuccess();
        try (QemuIoSession qemu = QemuIoSession.open(image, "-f", "qed")) {
            Path disk = Path.of(uri(image));
            assertThatThrownBy(() -> FileChannel.open(disk))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining(image.toString())
                    .hasMessageContaining("Failed to get shared \"write\" lock");
            assertThatThrownBy(() -> FileChannel.open(disk, READ, WRITE))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining(image.toString());
            try (FileSystem fs = FileSystems.newFileSystem(uri(image), Map.of("readOnly", "true",
                    "forceShare", "true"));
                 FileChannel reader = FileChannel.open(fs.getPath("/disk"))) {
                assertThat(readAt(reader, 0, 512)).containsOnly(0x44);
                qemu.command("write -P 0x45 0 512", "wrote 512/512 bytes");
            }
        }
    }

    @Test
    void forceShareNeedsReadOnly() {
        assertThatThrownBy(() -> FileSystems.newFileSystem(uri(dir.resolve("any.qed")), Map.of("forceShare", "true")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("forceShare")
                .hasMessageContaining("readOnly");
    }

    @Test
    void channelsAreRefusedWhileAnotherJvmWritesAndOpenOnceItIsGone() throws Exception {
        Path image = dirtyImage("other jvm.qed");
        Path disk = Path.of(uri(image));
        Process child = ChildJvm.start(HoldOpenChild.class, image.toString());
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8));
            assertThat(out.readLine()).isEqualTo("open");
            assertThatThrownBy(() -> FileChannel.open(disk))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining(image.toString());
            assertThatThrownBy(() -> FileChannel.open(disk, WRITE))
                    .isInstanceOf(ImageLockedException.class)
                    .hasMessageContaining(image.toString());
        } finally {
            child.getOutputStream().close();
            assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
        }
        try (FileChannel reader = FileChannel.open(disk)) {
            try (FileChannel writer = FileChannel.open(disk, WRITE)) {
                writer.write(ByteBuffer.wrap(new byte[] {7}), 2);
            }
            assertThat(readAt(reader, 0, 3)).containsExactly(1, 2, 7);
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** An image holding 1, 2, 3 at offset 0, with {@code QED_F_NEED_CHECK} set as a crashed writer leaves it. */
    private Path dirtyImage(String name) throws IOException {
        Path image = dir.resolve(name);
        try (QedFileSystem fs = QedFileSystems.create(image, CreateOptions.ofSize(1 << 20));
             FileChannel ch = FileChannel.open(fs.disk(), WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
        }
        try (FileChannel raw = FileChannel.open(image, READ, WRITE)) {
            ByteBuffer f = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            raw.read(f, 16);
            long features = f.flip().getLong();
            raw.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, features | NEED_CHECK), 16);
        }
        assertThat(DiskChannelContractTest.featuresOnDisk(image) & NEED_CHECK).isEqualTo(NEED_CHECK);
        return image;
    }

    private static byte[] readAt(FileChannel ch, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        while (b.hasRemaining() && ch.read(b, pos + b.position()) > 0) {
            // fill
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    private static String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }
}
