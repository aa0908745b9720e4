package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.ClosedFileSystemException;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemAlreadyExistsException;
import java.nio.file.FileSystemNotFoundException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/** Opening and closing: explicit and implicit file systems, channels, streams, the one-image-per-file rule. */
class LifecycleTest {
    @TempDir
    Path dir;

    private static URI uri(Path image) {
        return URI.create("qed:" + image.toUri());
    }

    private FileSystem create(Path image, long size) throws IOException {
        return FileSystems.newFileSystem(uri(image), Map.of("create", "true", "size", String.valueOf(size)));
    }

    @Test
    void closingTheFileSystemClosesItsChannelsAndStreams() throws IOException {
        Path image = dir.resolve("a.qed");
        FileSystem fs = create(image, 1 << 20);
        Path disk = fs.getPath("/disk");
        FileChannel ch = FileChannel.open(disk, READ, WRITE);
        SeekableByteChannel sbc = Files.newByteChannel(disk);
        InputStream in = Files.newInputStream(disk);
        OutputStream out = Files.newOutputStream(disk);
        ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);

        fs.close();

        assertThat(fs.isOpen()).isFalse();
        assertThat(ch.isOpen()).isFalse();
        assertThat(sbc.isOpen()).isFalse();
        assertThatThrownBy(() -> ch.read(ByteBuffer.allocate(1), 0)).isInstanceOf(ClosedChannelException.class);
        assertThatThrownBy(() -> ch.write(ByteBuffer.allocate(1))).isInstanceOf(ClosedChannelException.class);
        assertThatThrownBy(ch::size).isInstanceOf(ClosedChannelException.class);
        assertThatThrownBy(() -> ch.force(true)).isInstanceOf(ClosedChannelException.class);
        assertThatThrownBy(() -> sbc.read(ByteBuffer.allocate(1))).isInstanceOf(ClosedChannelException.class);
        assertThatThrownBy(in::read).isInstanceOf(ClosedChannelException.class);
        assertThatThrownBy(() -> out.write(1)).isInstanceOf(ClosedChannelException.class);
        assertThatThrownBy(() -> Files.newByteChannel(disk)).isInstanceOf(ClosedFileSystemException.class);
        assertThatThrownBy(() -> Files.size(disk)).isInstanceOf(ClosedFileSystemException.class);
        assertThatThrownBy(() -> Files.readAttributes(disk, "qed:*"))
                .isInstanceOf(ClosedFileSystemException.class);
        assertThatThrownBy(() -> fs.getRootDirectories()).isInstanceOf(ClosedFileSystemException.class);
        fs.close(); // idempotent
        // The image is released, flushed and clean: it can be opened again.
        assertThat(DiskChannelContractTest.featuresOnDisk(image) & 2).isZero();
        try (FileSystem again = FileSystems.newFileSystem(uri(image), Map.of())) {
            ByteBuffer b = ByteBuffer.allocate(3);
            try (FileChannel c = FileChannel.open(again.getPath("/disk"))) {
                c.read(b, 0);
            }
            assertThat(b.array()).containsExactly(1, 2, 3);
        }
    }

    @Test
    void closingAChannelLeavesTheFileSystemAndOtherChannelsOpen() throws IOException {
        try (FileSystem fs = create(dir.resolve("b.qed"), 1 << 20)) {
            Path disk = fs.getPath("/disk");
            FileChannel a = FileChannel.open(disk, READ, WRITE);
            FileChannel b = FileChannel.open(disk, READ);
            InputStream in = Files.newInputStream(disk);
            a.write(ByteBuffer.wrap(new byte[] {9}), 10);
            a.close();
            a.close();
            in.close();
            assertThatThrownBy(() -> a.position(3)).isInstanceOf(ClosedChannelException.class);
            assertThatThrownBy(in::read).isInstanceOf(IOException.class);
            ByteBuffer one = ByteBuffer.allocate(1);
            assertThat(b.read(one, 10)).isEqualTo(1);
            assertThat(one.get(0)).isEqualTo((byte) 9);
            assertThat(fs.isOpen()).isTrue();
        }
    }

    @Test
    void oneFileSystemPerImageAndGetFileSystemFindsIt() throws IOException {
        Path image = dir.resolve("c.qed");
        assertThatThrownBy(() -> FileSystems.getFileSystem(uri(image)))
                .isInstanceOf(FileSystemNotFoundException.class);
        try (FileSystem fs = create(image, 1 << 20)) {
            assertThatThrownBy(() -> FileSystems.newFileSystem(uri(image), Map.of()))
                    .isInstanceOf(FileSystemAlreadyExistsException.class);
            assertThatThrownBy(() -> FileSystems.newFileSystem(image, Map.of()))
                    .isInstanceOf(FileSystemAlreadyExistsException.class);
            // Through a symbolic link the image is the same file.
            Path link = Files.createSymbolicLink(dir.resolve("link.qed"), image);
            assertThatThrownBy(() -> FileSystems.newFileSystem(uri(link), Map.of()))
                    .isInstanceOf(FileSystemAlreadyExistsException.class);
            assertThat(FileSystems.getFileSystem(uri(image))).isSameAs(fs);
            assertThat(Path.of(uri(image)).getFileSystem()).isSameAs(fs);
            assertThat(Path.of(uri(image))).isEqualTo(fs.getPath("/disk"));
        }
        assertThatThrownBy(() -> FileSystems.getFileSystem(uri(image)))
                .isInstanceOf(FileSystemNotFoundException.class);
    }

    @Test
    void missingImageGivesNoSuchFileExceptionNamingIt() {
        Path image = dir.resolve("missing.qed");
        Path disk = Path.of(uri(image));
        assertThatThrownBy(() -> Files.newByteChannel(disk)).isInstanceOf(NoSuchFileException.class)
                .hasMessageContaining(image.toString());
        assertThatThrownBy(() -> Files.newByteChannel(disk, WRITE, java.nio.file.StandardOpenOption.CREATE))
                .isInstanceOf(NoSuchFileException.class).hasMessageContaining(image.toString());
        assertThatThrownBy(() -> FileSystems.newFileSystem(uri(image), Map.of()))
                .isInstanceOf(NoSuchFileException.class).hasMessageContaining(image.toString());
        assertThat(Files.exists(disk)).isFalse();
        assertThat(Files.exists(image)).isFalse();
    }

    @Test
    void implicitImageIsClosedCleanWhenItsLastChannelClosesSoQemuCanUseIt() throws IOException {
        Qemu.assumeAvailable();
        Path image = dir.resolve("implicit image.qed");
        Path raw = dir.resolve("model.raw");
        Qemu.img("create", "-f", "qed", "-o", "cluster_size=4096", image.toString(), "4M").assertSuccess();
        byte[] model = new byte[4 << 20];
        Random rnd = new Random(42);
        Path disk = Path.of(uri(image));
        FileChannel first = FileChannel.open(disk, READ, WRITE);
        try (FileChannel second = FileChannel.open(disk, WRITE)) {
            for (int i = 0; i < 200; i++) {
                int len = 1 + rnd.nextInt(20_000);
                int off = rnd.nextInt(model.length - len);
                byte[] d = new byte[len];
                rnd.nextBytes(d);
                System.arraycopy(d, 0, model, off, len);
                (i % 2 == 0 ? first : second).write(ByteBuffer.wrap(d), off);
            }
        }
        // One channel still open: the image is still open (and dirty).
        assertThat(DiskChannelContractTest.featuresOnDisk(image) & 2).isEqualTo(2);
        first.close();
        // Right after the last close: flushed, NEED_CHECK clear, consistent, same content.
        assertThat(DiskChannelContractTest.featuresOnDisk(image) & 2).isZero();
        Files.write(raw, model);
        Qemu.assertCheckClean(image);
        Qemu.assertIdentical(image, raw);
        // And the next channel opens it again.
        try (FileChannel again = FileChannel.open(disk)) {
            ByteBuffer b = ByteBuffer.allocate(4 << 20);
            while (b.hasRemaining() && again.read(b) > 0) {
                // fill
            }
            assertThat(b.array()).isEqualTo(model);
        }
    }

    @Test
    void implicitPathUsesTheExplicitFileSystemOpenedLater() throws IOException {
        Path image = dir.resolve("d.qed");
        Path early = Path.of(uri(image));
        try (FileSystem fs = create(image, 1 << 20)) {
            try (FileChannel ch = FileChannel.open(early, READ, WRITE)) {
                ch.write(ByteBuffer.wrap(new byte[] {5}), 0);
            }
            FileChannel held = FileChannel.open(early);
            assertThat(early).isEqualTo(fs.getPath("/disk"));
            fs.close();
            // The explicit file system closed the channel that was opened on its image.
            assertThat(held.isOpen()).isFalse();
        }
        assertThat(DiskChannelContractTest.featuresOnDisk(image) & 2).isZero();
    }

    @Test
    void implicitImageIsOpenForGetFileSystemOnlyWhileItHasChannels() throws IOException {
        Path image = dir.resolve("e.qed");
        create(image, 1 << 20).close();
        Path disk = Path.of(uri(image));
        try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
            assertThat(FileSystems.getFileSystem(uri(image))).isSameAs(disk.getFileSystem());
            assertThatThrownBy(() -> FileSystems.newFileSystem(uri(image), Map.of()))
                    .isInstanceOf(FileSystemAlreadyExistsException.class);
            assertThat(Path.of(uri(image)).getFileSystem()).isSameAs(disk.getFileSystem());
        }
        assertThatThrownBy(() -> FileSystems.getFileSystem(uri(image)))
                .isInstanceOf(FileSystemNotFoundException.class);
        FileSystems.newFileSystem(uri(image), Map.of()).close();
    }

    @Test
    void attributesOfAnImplicitDiskLeaveTheImageUntouched() throws IOException {
        Path image = dir.resolve("f.qed");
        create(image, 3 << 20).close();
        byte[] before = Files.readAllBytes(image);
        Path disk = Path.of(uri(image));
        assertThat(Files.size(disk)).isEqualTo(3 << 20);
        assertThat(Files.getAttribute(disk, "qed:clusterSize")).isEqualTo(65536);
        assertThat(Files.readAllBytes(image)).isEqualTo(before);
    }

    @Test
    void closingAnImplicitFileSystemClosesTheChannelsItHandedOut() throws IOException {
        Path image = dir.resolve("g.qed");
        create(image, 1 << 20).close();
        Path disk = Path.of(uri(image));
        FileChannel ch = FileChannel.open(disk, READ, WRITE);
        ch.write(ByteBuffer.wrap(new byte[] {1}), 0);
        disk.getFileSystem().close();
        assertThat(ch.isOpen()).isFalse();
        assertThatThrownBy(() -> Files.newByteChannel(disk)).isInstanceOf(ClosedFileSystemException.class);
        assertThat(DiskChannelContractTest.featuresOnDisk(image) & 2).isZero();
        try (FileChannel again = FileChannel.open(Path.of(uri(image)))) {
            assertThat(again.size()).isEqualTo(1 << 20);
        }
    }

    @Test
    void anInterruptedThreadClosesOnlyItsOwnChannelNotTheImage() throws Exception {
        try (FileSystem fs = create(dir.resolve("intr.qed"), 1 << 20);
             FileChannel other = FileChannel.open(fs.getPath("/disk"), READ, WRITE)) {
            other.write(ByteBuffer.wrap(new byte[] {7}), 0); // allocated: reads below go to the image file
            AtomicReference<Throwable> seen = new AtomicReference<>();
            AtomicBoolean stillInterrupted = new AtomicBoolean();
            FileChannel victim = FileChannel.open(fs.getPath("/disk"), READ, WRITE);
            Thread t = new Thread(() -> {
                Thread.currentThread().interrupt();
                try {
                    victim.read(ByteBuffer.allocate(1), 0);
                } catch (IOException e) {
                    seen.set(e);
                }
                stillInterrupted.set(Thread.currentThread().isInterrupted());
            });
            t.start();
            t.join();
            assertThat(seen.get()).isInstanceOf(java.nio.channels.ClosedByInterruptException.class);
            assertThat(stillInterrupted).isTrue();
            assertThat(victim.isOpen()).isFalse();
            ByteBuffer b = ByteBuffer.allocate(1);
            other.read(b, 0);
            assertThat(b.get(0)).isEqualTo((byte) 7);
            other.write(ByteBuffer.wrap(new byte[] {8}), 70_000);
        }
    }

    @Test
    void typedFactoryOpensAndCreatesWithoutTheServiceLoader() throws IOException {
        Path image = dir.resolve("typed.qed");
        try (QedFileSystem fs = QedFileSystems.create(image,
                io.github.qednio.image.CreateOptions.ofSize(2 << 20).withClusterSize(8192))) {
            assertThat(fs.disk()).isEqualTo(QedFileSystems.disk(image)).isEqualTo(Path.of(QedFileSystems.uri(image)));
            assertThat(fs.image()).isEqualTo(image);
            assertThat(Files.size(fs.disk())).isEqualTo(2 << 20);
            assertThatThrownBy(() -> QedFileSystems.open(image)).isInstanceOf(FileSystemAlreadyExistsException.class);
        }
        assertThatThrownBy(() -> QedFileSystems.create(image, io.github.qednio.image.CreateOptions.ofSize(1024)))
                .isInstanceOf(java.nio.file.FileAlreadyExistsException.class);
        try (QedFileSystem fs = QedFileSystems.open(image,
                io.github.qednio.image.OpenOptions.readOnlyDefaults())) {
            assertThat(fs.isReadOnly()).isTrue();
            assertThat(Files.getAttribute(fs.disk(), "qed:clusterSize")).isEqualTo(8192);
        }
        assertThatThrownBy(() -> QedFileSystems.open(dir.resolve("nope.qed")))
                .isInstanceOf(NoSuchFileException.class).hasMessageContaining("nope.qed");
    }
}
