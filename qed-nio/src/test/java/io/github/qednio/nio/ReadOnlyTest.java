package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.NonWritableChannelException;
import java.nio.file.AccessDeniedException;
import java.nio.file.AccessMode;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.ReadOnlyFileSystemException;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/** Read-only file systems never change a byte of the image file. */
class ReadOnlyTest {
    private static final long QED_F_NEED_CHECK = 2;

    @TempDir
    Path dir;

    private static URI uri(Path image) {
        return URI.create("qed:" + image.toUri());
    }

    /** An image with data and, to tempt a writer, QED_F_NEED_CHECK set as after a crash. */
    private Path dirtyImage() throws IOException {
        Path image = dir.resolve("ro.qed");
        try (FileSystem fs = FileSystems.newFileSystem(uri(image), Map.of("create", "true", "size", "1M"));
             FileChannel ch = FileChannel.open(fs.getPath("/disk"), WRITE)) {
            ch.write(ByteBuffer.wrap("content".getBytes()), 5000);
        }
        try (FileChannel raw = FileChannel.open(image, READ, WRITE)) {
            ByteBuffer f = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            raw.read(f, 16);
            long features = f.flip().getLong() | QED_F_NEED_CHECK;
            raw.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(features).flip(), 16);
        }
        Files.setLastModifiedTime(image, FileTime.fromMillis(1_500_000_000_000L));
        return image;
    }

    private static void assertEveryWriteFails(FileSystem fs) throws IOException {
        Path disk = fs.getPath("/disk");
        assertThat(fs.isReadOnly()).isTrue();
        assertThatThrownBy(() -> Files.newByteChannel(disk, WRITE)).isInstanceOf(ReadOnlyFileSystemException.class);
        assertThatThrownBy(() -> FileChannel.open(disk, READ, WRITE))
                .isInstanceOf(ReadOnlyFileSystemException.class);
        assertThatThrownBy(() -> Files.newOutputStream(disk)).isInstanceOf(ReadOnlyFileSystemException.class);
        assertThatThrownBy(() -> Files.delete(disk)).isInstanceOf(ReadOnlyFileSystemException.class);
        assertThatThrownBy(() -> Files.setLastModifiedTime(disk, FileTime.fromMillis(0)))
                .isInstanceOf(ReadOnlyFileSystemException.class);
        assertThatThrownBy(() -> disk.getFileSystem().provider().checkAccess(disk, AccessMode.WRITE))
                .isInstanceOf(AccessDeniedException.class);
        assertThat(Files.isWritable(disk)).isFalse();
        try (FileChannel ch = FileChannel.open(disk, READ)) {
            assertThatThrownBy(() -> ch.write(ByteBuffer.allocate(1), 0))
                    .isInstanceOf(NonWritableChannelException.class);
            ch.force(true);
            ByteBuffer b = ByteBuffer.allocate(7);
            ch.read(b, 5000);
            assertThat(new String(b.array())).isEqualTo("content");
        }
        assertThat(Files.getAttribute(disk, "qed:needsCheck")).isEqualTo(true);
    }

    @Test
    void readOnlyEnvRefusesWritesAndChangesNoByteNotEvenNeedCheck() throws IOException {
        Path image = dirtyImage();
        byte[] before = Files.readAllBytes(image);
        FileTime mtime = Files.getLastModifiedTime(image);
        try (FileSystem fs = FileSystems.newFileSystem(uri(image), Map.of("readOnly", "true"))) {
            assertEveryWriteFails(fs);
        }
        try (FileSystem fs = FileSystems.newFileSystem(image, Map.of("readOnly", true))) {
            assertEveryWriteFails(fs);
        }
        assertThat(Files.readAllBytes(image)).isEqualTo(before);
        assertThat(Files.getLastModifiedTime(image)).isEqualTo(mtime);
    }

    @Test
    void imageFileThatCannotBeWrittenOpensReadOnlyExplicitlyAndImplicitly() throws Exception {
        Path image = dirtyImage();
        byte[] before = Files.readAllBytes(image);
        makeUnwritable(image);
        try {
            try (FileSystem fs = FileSystems.newFileSystem(uri(image), Map.of())) {
                assertEveryWriteFails(fs);
            }
            Path disk = Path.of(uri(image));
            assertThat(disk.getFileSystem().isReadOnly()).isTrue();
            assertThatThrownBy(() -> Files.newByteChannel(disk, StandardOpenOption.WRITE))
                    .isInstanceOf(ReadOnlyFileSystemException.class);
            try (FileChannel ch = FileChannel.open(disk)) {
                assertThat(ch.size()).isEqualTo(1 << 20);
            }
        } finally {
            makeWritable(image);
        }
        assertThat(Files.readAllBytes(image)).isEqualTo(before);
    }

    /** chmod a-w; as root that does not stop writes, so the file is made immutable instead (or the test skipped). */
    private static void makeUnwritable(Path image) throws Exception {
        Files.setPosixFilePermissions(image, PosixFilePermissions.fromString("r--r--r--"));
        if (Files.isWritable(image)) {
            run("chattr", "+i", image.toString());
        }
        Assumptions.assumeFalse(Files.isWritable(image), "cannot make a file unwritable here (root without chattr)");
    }

    private static void makeWritable(Path image) throws Exception {
        if (!Files.isWritable(image)) {
            run("chattr", "-i", image.toString());
        }
        Files.setPosixFilePermissions(image, PosixFilePermissions.fromString("rw-r--r--"));
    }

    private static void run(String... cmd) throws Exception {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            p.waitFor(30, TimeUnit.SECONDS);
        } catch (IOException e) {
            // the tool is missing: the caller checks the outcome
        }
    }
}
