package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.jimfs.Configuration;
import com.google.common.jimfs.Jimfs;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.ProviderNotFoundException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/** {@code qed:} URIs with awkward image names, on the default file system and inside jimfs. */
class UriAndJimfsTest {
    private static final List<String> AWKWARD = List.of("with space.qed", "100%.qed", "hash#tag.qed",
            "plus+sign.qed", "ünïcødé ✓.qed", "q?uery&amp=1.qed", "%41%20literal.qed", "semi;colon.qed");

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"with space.qed", "100%.qed", "hash#tag.qed", "plus+sign.qed", "ünïcødé ✓.qed",
            "q?uery&amp=1.qed", "%41%20literal.qed", "semi;colon.qed"})
    void awkwardNamesRoundTripOnTheDefaultFileSystem(String name) throws IOException {
        Path sub = Files.createDirectories(dir.resolve("dir with %20 and #"));
        roundTrip(sub.resolve(name));
    }

    @Test
    void awkwardNamesRoundTripInsideJimfs() throws IOException {
        for (Configuration config : List.of(Configuration.unix(), Configuration.osX())) {
            try (FileSystem mem = Jimfs.newFileSystem(config)) {
                Path sub = Files.createDirectories(mem.getPath("/images/sub dir #1"));
                for (String name : AWKWARD) {
                    roundTrip(sub.resolve(name));
                }
            }
        }
    }

    private static void roundTrip(Path image) throws IOException {
        URI uri = URI.create("qed:" + image.toUri());
        try (FileSystem fs = FileSystems.newFileSystem(uri, Map.of("create", "true", "size", "64K"))) {
            Path disk = fs.getPath("/disk");
            assertThat(disk.toUri()).isEqualTo(uri);
            assertThat(Path.of(uri)).isEqualTo(disk);
            assertThat(Path.of(disk.toUri())).isSameAs(Path.of(uri)).isEqualTo(disk);
            assertThat(((QedFileSystem) fs).image()).isEqualTo(image);
            try (FileChannel ch = FileChannel.open(Path.of(uri), WRITE)) {
                ch.write(ByteBuffer.wrap(image.getFileName().toString().getBytes()), 0);
            }
        }
        assertThat(Files.exists(image)).as("image file %s", image).isTrue();
        // Implicitly, through the URI alone.
        Path disk = Path.of(uri);
        assertThat(disk.toUri()).isEqualTo(uri);
        byte[] name = image.getFileName().toString().getBytes();
        ByteBuffer back = ByteBuffer.allocate(name.length);
        try (FileChannel ch = FileChannel.open(disk, READ)) {
            ch.read(back, 0);
        }
        assertThat(back.array()).isEqualTo(name);
    }

    @Test
    void otherPathsOfTheFileSystemRoundTripThroughAFragment() throws IOException {
        Path image = dir.resolve("frag #.qed");
        try (FileSystem fs = FileSystems.newFileSystem(URI.create("qed:" + image.toUri()),
                Map.of("create", "true", "size", "64K"))) {
            for (String p : List.of("/", "/other file #1", "/a/b", "/ü")) {
                Path path = fs.getPath(p);
                assertThat(path.toUri().getScheme()).isEqualTo("qed");
                assertThat(Path.of(path.toUri())).isEqualTo(path);
            }
        }
    }

    @Test
    void malformedQedUrisAreRejectedNamingThem() {
        assertThatThrownBy(() -> Path.of(URI.create("qed:/no/inner/scheme")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("qed:/no/inner/scheme");
        assertThatThrownBy(() -> Path.of(URI.create("qed:relative.qed")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("relative.qed");
    }

    @Test
    void imageInsideJimfsIsReadAndWrittenAndReopenedThroughNewFileSystemOfPath() throws IOException {
        try (FileSystem mem = Jimfs.newFileSystem(Configuration.unix())) {
            Path image = mem.getPath("/work/disk.qed");
            Files.createDirectories(image.getParent());
            byte[] data = new byte[200_000];
            new java.util.Random(1).nextBytes(data);
            try (QedFileSystem fs = QedFileSystems.create(image,
                    io.github.qednio.image.CreateOptions.ofSize(1 << 20).withClusterSize(4096));
                 FileChannel ch = FileChannel.open(fs.disk(), READ, WRITE)) {
                ch.write(ByteBuffer.wrap(data), 12_345);
            }
            try (FileSystem fs = FileSystems.newFileSystem(image, Map.of("readOnly", true))) {
                assertThat(fs).isInstanceOf(QedFileSystem.class);
                assertThat(fs.isReadOnly()).isTrue();
                byte[] all = Files.readAllBytes(fs.getPath("/disk"));
                assertThat(java.util.Arrays.copyOfRange(all, 12_345, 12_345 + data.length)).isEqualTo(data);
                assertThat(Files.getAttribute(fs.getPath("/disk"), "qed:allocatedBytes"))
                        .isEqualTo(((12_345 + data.length + 4095) / 4096 - 12_345 / 4096) * 4096L);
            }
            // Copy the image out of jimfs and let QEMU judge it.
            if (Qemu.crossChecks()) {
                Path copy = dir.resolve("from-jimfs.qed");
                Files.copy(image, copy);
                Qemu.assertCheckClean(copy);
            }
        }
    }

    @Test
    void newFileSystemOfPathLeavesNonQedFilesToOtherProviders() throws IOException {
        Path text = Files.writeString(dir.resolve("plain.txt"), "not an image");
        assertThatThrownBy(() -> new QedFileSystemProvider().newFileSystem(text, Map.of()))
                .isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> new QedFileSystemProvider().newFileSystem(dir.resolve("absent.qed"), Map.of()))
                .isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> FileSystems.newFileSystem(text, Map.of()))
                .isInstanceOf(ProviderNotFoundException.class);
        // A zip file still reaches the zip provider.
        Path zip = dir.resolve("a.zip");
        try (FileSystem z = FileSystems.newFileSystem(zip, Map.of("create", "true"))) {
            Files.writeString(z.getPath("/x"), "y");
        }
        try (FileSystem z = FileSystems.newFileSystem(zip, Map.of())) {
            assertThat(z.provider().getScheme()).isEqualTo("jar");
        }
    }

    @Test
    void providerIsInstalledThroughTheServiceLoader() {
        assertThat(java.nio.file.spi.FileSystemProvider.installedProviders())
                .anyMatch(p -> p instanceof QedFileSystemProvider && p.getScheme().equals("qed"));
    }
}
