package io.github.qednio.nio;

import static java.nio.file.StandardOpenOption.WRITE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.format.QedFormatException;
import java.io.IOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.AccessMode;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.ReadOnlyFileSystemException;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code checkAccess} answers as the image file really allows; refusals say which image and why; a URI fragment is
 * checked the same way by every entry point; the {@code probeBacking} env key reaches the engine.
 */
class AccessAndMessagesTest {
    @TempDir
    Path dir;

    private static URI uri(Path image) {
        return URI.create("qed:" + image.toUri());
    }

    private Path image(String name) throws IOException {
        Path image = dir.resolve(name);
        QedFileSystems.create(image, CreateOptions.ofSize(1 << 20)).close();
        return image;
    }

    @Test
    void aDiskIsWritableExactlyWhenItsImageFileIsEvenWithAReadChannelOpen() throws Exception {
        Path image = image("rw.qed");
        Path disk = Path.of(uri(image));
        try (FileChannel reader = FileChannel.open(disk)) {
            assertThat(Files.isReadable(disk)).isTrue();
            assertThat(Files.isWritable(disk)).as("an image open for reading can still be written").isTrue();
        }
        makeImmutable(image);
        try {
            assertThat(Files.isReadable(disk)).isTrue();
            assertThat(Files.isWritable(disk)).isFalse();
            assertThatThrownBy(() -> disk.getFileSystem().provider().checkAccess(disk, AccessMode.WRITE))
                    .isInstanceOf(AccessDeniedException.class).hasMessageContaining("cannot be written");
            try (FileSystem fs = FileSystems.newFileSystem(uri(image), Map.of())) {
                assertThat(Files.isWritable(fs.getPath("/disk"))).isFalse();
                assertThat(Files.isReadable(fs.getPath("/disk"))).isTrue();
            }
        } finally {
            run("chattr", "-i", image.toString());
        }
    }

    @Test
    void aDiskIsNotReadableWhenItsImageFileIsNot() throws Exception {
        Path image = image("unreadable.qed");
        Path disk = Path.of(uri(image));
        Files.setPosixFilePermissions(image, PosixFilePermissions.fromString("-w-------"));
        try {
            Assumptions.assumeFalse(Files.isReadable(image), "root reads any file: nothing to test here");
            assertThat(Files.isReadable(disk)).isFalse();
            assertThatThrownBy(() -> FileChannel.open(disk)).isInstanceOf(AccessDeniedException.class);
        } finally {
            Files.setPosixFilePermissions(image, PosixFilePermissions.fromString("rw-r--r--"));
        }
    }

    @Test
    void aDiskWhoseImageIsADirectoryIsNeitherReadableNorWritable() throws IOException {
        Path notAnImage = Files.createDirectory(dir.resolve("dir.qed"));
        Path disk = Path.of(uri(notAnImage));
        assertThat(Files.exists(disk)).isTrue();
        assertThat(Files.isReadable(disk)).isFalse();
        assertThat(Files.isWritable(disk)).isFalse();
        assertThatThrownBy(() -> FileChannel.open(disk)).isInstanceOf(IOException.class);
    }

    @Test
    void readOnlyRefusalsNameTheImageAndTheReason() throws Exception {
        Path image = image("ro.qed");
        try (FileSystem fs = FileSystems.newFileSystem(uri(image), Map.of("readOnly", "true"))) {
            Path disk = fs.getPath("/disk");
            assertThatThrownBy(() -> FileChannel.open(disk, WRITE))
                    .isInstanceOf(ReadOnlyFileSystemException.class)
                    .hasMessageContaining(image.toString()).hasMessageContaining("readOnly");
            assertThatThrownBy(() -> Files.setLastModifiedTime(disk, FileTime.fromMillis(0)))
                    .isInstanceOf(ReadOnlyFileSystemException.class).hasMessageContaining(image.toString());
            assertThatThrownBy(() -> Files.delete(disk))
                    .isInstanceOf(ReadOnlyFileSystemException.class).hasMessageContaining(image.toString());
            assertThatThrownBy(() -> Files.createDirectory(fs.getPath("/d")))
                    .isInstanceOf(ReadOnlyFileSystemException.class).hasMessageContaining(image.toString());
            assertThat(Files.isWritable(disk)).isFalse();
        }
        makeImmutable(image);
        try {
            assertThatThrownBy(() -> FileChannel.open(Path.of(uri(image)), WRITE))
                    .isInstanceOf(ReadOnlyFileSystemException.class)
                    .hasMessageContaining(image.toString()).hasMessageContaining("cannot be written");
        } finally {
            run("chattr", "-i", image.toString());
        }
    }

    @Test
    void uriErrorsNameTheUriAndTheReason() {
        URI notQed = URI.create("file:///x.qed");
        assertThatThrownBy(() -> QedFileSystemProvider.instance().getPath(notQed))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(notQed.toString())
                .hasMessageContaining("scheme");
        URI noInnerScheme = URI.create("qed:x.qed");
        assertThatThrownBy(() -> Path.of(noInnerScheme))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("qed:x.qed")
                .hasMessageContaining("no scheme");
    }

    @Test
    void anAbsoluteFragmentIsAPathOfTheFileSystemEverywhere() throws IOException {
        Path image = image("frag.qed");
        URI disk = uri(image);
        assertThat(Path.of(URI.create(disk + "#/disk"))).isEqualTo(Path.of(disk));
        assertThat(Files.isDirectory(Path.of(URI.create(disk + "#/")))).isTrue();
        try (FileSystem fs = FileSystems.newFileSystem(URI.create(disk + "#/disk"), Map.of())) {
            assertThat(FileSystems.getFileSystem(URI.create(disk + "#/"))).isSameAs(fs);
            assertThat(Path.of(URI.create(disk + "#/")).getFileSystem()).isSameAs(fs);
            assertThat(fs.getPath("/").toUri()).isEqualTo(URI.create(disk + "#/"));
        }
    }

    @Test
    void anEmptyOrRelativeFragmentIsRefusedEverywhereNamingTheUri() throws IOException {
        Path image = image("badfrag.qed");
        for (String fragment : new String[] {"#", "#disk", "#a/b"}) {
            URI bad = URI.create(uri(image) + fragment);
            assertThatThrownBy(() -> Path.of(bad)).as(fragment).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(bad.toString()).hasMessageContaining("not an absolute path");
            assertThatThrownBy(() -> FileSystems.newFileSystem(bad, Map.of())).as(fragment)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(bad.toString());
            assertThatThrownBy(() -> FileSystems.getFileSystem(bad)).as(fragment)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(bad.toString());
        }
    }

    @Test
    void probeBackingFalseRefusesABackingFileWhoseFormatIsNotRecorded() throws IOException {
        Path base = image("base.qed");
        Path overlay = dir.resolve("overlay.qed");
        FileSystems.newFileSystem(uri(overlay), Map.of("create", "true", "backingFile", base.getFileName()
                .toString(), "backingFormat", "qed")).close();
        assertThatThrownBy(() -> FileSystems.newFileSystem(uri(overlay), Map.of("probeBacking", "false")))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("probing is disabled");
        try (FileSystem fs = FileSystems.newFileSystem(uri(overlay), Map.of("probeBacking", true))) {
            assertThat(Files.getAttribute(fs.getPath("/disk"), "qed:backingFormat")).isEqualTo("qed");
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** chattr +i: unwritable even for root (the test is skipped where that is not possible). */
    private static void makeImmutable(Path image) throws Exception {
        run("chattr", "+i", image.toString());
        Assumptions.assumeFalse(Files.isWritable(image), "cannot make a file unwritable here (chattr)");
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
