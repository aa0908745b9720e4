package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.BackingPolicy;
import io.github.qednio.image.CacheBudget;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/** The env keys of newFileSystem, and the basic and qed attribute views. */
class EnvAndAttributesTest {
    @TempDir
    Path dir;

    private static URI uri(Path image) {
        return URI.create("qed:" + image.toUri());
    }

    @Test
    void sizesTakeBinarySuffixesAsQemuImgDoes() {
        assertThat(QedEnv.bytes("size", "512")).isEqualTo(512);
        assertThat(QedEnv.bytes("size", "4k")).isEqualTo(4096);
        assertThat(QedEnv.bytes("size", "64M")).isEqualTo(64L << 20);
        assertThat(QedEnv.bytes("size", "1.5G")).isEqualTo(3L << 29);
        assertThat(QedEnv.bytes("size", "2T")).isEqualTo(2L << 40);
        assertThat(QedEnv.bytes("size", 12345)).isEqualTo(12345);
        assertThat(QedEnv.bytes("size", 1L << 40)).isEqualTo(1L << 40);
        for (Object bad : new Object[] {"", "-1", "12X", "1.1", "M", 1.5, -4, "9999999T"}) {
            assertThatThrownBy(() -> QedEnv.bytes("size", bad)).as("%s", bad)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'size'");
        }
    }

    @Test
    void cacheBudgetKeyGivesTheFileSystemItsOwnBudget() {
        assertThat(QedEnv.parse(Map.of("cacheBudget", "8M")).openOptions().cacheBudget().limit())
                .isEqualTo(8L << 20);
        CacheBudget mine = CacheBudget.ofBytes(1 << 20);
        assertThat(QedEnv.parse(Map.of("cacheBudget", mine)).openOptions().cacheBudget()).isSameAs(mine);
        assertThat(QedEnv.parse(Map.of()).openOptions().cacheBudget()).isSameAs(CacheBudget.jvm());
        assertThatThrownBy(() -> QedEnv.parse(Map.of("cacheBudget", "0")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cacheBudget");
    }

    @Test
    void unknownKeysAndBadValuesAreIllegalArgumentsNamingTheKey() {
        Path image = dir.resolve("x.qed");
        Map<String, Object> cases = new HashMap<>();
        cases.put("sise", "1M");
        cases.put("create", "yes");
        cases.put("readOnly", 1);
        cases.put("copyOnRead", "maybe");
        cases.put("backingPolicy", "trust");
        cases.put("backingFormat", "vmdk");
        cases.put("clusterSize", "big");
        cases.put("tableSize", "4K");
        cases.put("backingFile", 42);
        cases.put("probeBacking", "no");
        cases.put("cacheBudget", "lots");
        for (Map.Entry<String, Object> e : cases.entrySet()) {
            Map<String, Object> env = new HashMap<>(Map.of("create", "true", "size", "1M"));
            if (e.getKey().equals("backingFormat")) {
                env.put("backingFile", "base.raw");
            }
            env.put(e.getKey(), e.getValue());
            assertThatThrownBy(() -> FileSystems.newFileSystem(uri(image), env)).as("%s", e)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(e.getKey());
        }
        assertThatThrownBy(() -> FileSystems.newFileSystem(uri(image), Map.of("create", true)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("size");
        assertThat(Files.exists(image)).isFalse();
    }

    @Test
    void createdGeometryIsWhatQemuImgSees() throws IOException {
        Qemu.assumeAvailable();
        Path image = dir.resolve("geo.qed");
        Map<String, Object> env = Map.of("create", true, "size", "5M", "clusterSize", 8192, "tableSize", "2");
        try (FileSystem fs = FileSystems.newFileSystem(uri(image), env)) {
            Path disk = fs.getPath("/disk");
            assertThat(Files.size(disk)).isEqualTo(5L << 20);
            assertThat(Files.getAttribute(disk, "qed:clusterSize")).isEqualTo(8192);
            assertThat(Files.getAttribute(disk, "qed:tableSize")).isEqualTo(2);
        }
        String info = Qemu.img("info", "--output=json", image.toString()).assertSuccess().stdout();
        assertThat(Qemu.jsonLong(info, "virtual-size")).isEqualTo(5L << 20);
        assertThat(Qemu.jsonLong(info, "cluster-size")).isEqualTo(8192);
        Qemu.assertCheckClean(image);
    }

    @Test
    void overlayCreatedThroughEnvReadsItsRawBackingFileAndQemuAgrees() throws IOException {
        Qemu.assumeAvailable();
        Path base = dir.resolve("base.raw");
        byte[] baseData = new byte[1 << 20];
        new java.util.Random(3).nextBytes(baseData);
        Files.write(base, baseData);
        Path image = dir.resolve("overlay.qed");
        Map<String, Object> env = Map.of("create", "true", "backingFile", "base.raw", "backingFormat", "raw",
                "backingPolicy", "confine", "copyOnRead", "false");
        byte[] mine = "overlay bytes".getBytes();
        try (FileSystem fs = FileSystems.newFileSystem(uri(image), env)) {
            Path disk = fs.getPath("/disk");
            assertThat(Files.size(disk)).isEqualTo(1 << 20);
            QedFileAttributes a = Files.readAttributes(disk, QedFileAttributes.class);
            assertThat(a.backingFile()).isEqualTo("base.raw");
            assertThat(a.backingFormat()).isEqualTo("raw");
            assertThat(a.allocatedBytes()).isZero();
            try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
                ch.write(ByteBuffer.wrap(mine), 100_000);
            }
            System.arraycopy(mine, 0, baseData, 100_000, mine.length);
            assertThat(Files.readAllBytes(disk)).isEqualTo(baseData);
            assertThat(Files.getAttribute(disk, "qed:allocatedBytes")).isEqualTo(65536L);
        }
        Path model = Files.write(dir.resolve("model.raw"), baseData);
        Qemu.assertCheckClean(image);
        Qemu.assertIdentical(image, model);
        String info = Qemu.img("info", "--output=json", image.toString()).assertSuccess().stdout();
        assertThat(info).contains("\"backing-filename\": \"base.raw\"")
                .contains("\"backing-filename-format\": \"raw\"");
    }

    @Test
    void backingPolicyAndCopyOnReadReachTheEngine() throws IOException {
        Path base = Files.write(dir.resolve("base.raw"), new byte[1 << 16]);
        Path image = dir.resolve("ov.qed");
        FileSystems.newFileSystem(uri(image), Map.of("create", "true", "backingFile", base.toString(),
                "backingFormat", ImageFormat.RAW)).close();
        assertThatThrownBy(() -> FileSystems.newFileSystem(uri(image), Map.of("backingPolicy", BackingPolicy.DENY)))
                .isInstanceOf(IOException.class).hasMessageContaining("deny");
        try (FileSystem fs = FileSystems.newFileSystem(uri(image), Map.of("copyOnRead", Boolean.TRUE))) {
            Path disk = fs.getPath("/disk");
            Files.readAllBytes(disk);
            assertThat(Files.getAttribute(disk, "qed:allocatedBytes")).isEqualTo(65536L);
        }
    }

    @Test
    void basicAndQedViewsDescribeTheDisk() throws IOException {
        Path image = dir.resolve("attrs.qed");
        try (FileSystem fs = FileSystems.newFileSystem(uri(image), Map.of("create", "true", "size", "2M",
                "clusterSize", "4K"))) {
            Path disk = fs.getPath("/disk");
            try (FileChannel ch = FileChannel.open(disk, WRITE)) {
                ch.write(ByteBuffer.allocate(10_000), 4096 * 3);
            }
            BasicFileAttributes basic = Files.readAttributes(disk, BasicFileAttributes.class);
            assertThat(basic.isRegularFile()).isTrue();
            assertThat(basic.isDirectory()).isFalse();
            assertThat(basic.size()).isEqualTo(2L << 20);
            assertThat(basic.lastModifiedTime()).isEqualTo(Files.getLastModifiedTime(image));
            Map<String, Object> q = Files.readAttributes(disk, "qed:*");
            assertThat(q).containsEntry("clusterSize", 4096).containsEntry("tableSize", 4)
                    .containsEntry("virtualSize", 2L << 20).containsEntry("needsCheck", true)
                    .containsEntry("allocatedBytes", 3 * 4096L).containsEntry("backingFile", null)
                    .containsEntry("size", 2L << 20).containsKey("lastModifiedTime");
            assertThat(Files.readAttributes(disk, "size,isRegularFile")).containsOnlyKeys("size", "isRegularFile");
            assertThat(Files.readAttributes(disk, "qed:virtualSize,needsCheck")).hasSize(2);
            assertThat(fs.supportedFileAttributeViews()).containsExactlyInAnyOrder("basic", "qed");
            QedFileAttributeView view = Files.getFileAttributeView(disk, QedFileAttributeView.class);
            assertThat(view.name()).isEqualTo("qed");
            assertThat(view.readAttributes().allocatedBytes()).isEqualTo(3 * 4096L);
            FileTime t = FileTime.fromMillis(1_600_000_000_000L);
            Files.setLastModifiedTime(disk, t);
            assertThat(Files.getLastModifiedTime(image)).isEqualTo(t);
            assertThatThrownBy(() -> Files.setAttribute(disk, "qed:clusterSize", 8192))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> Files.readAttributes(disk, "qed:nope"))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("nope");
            assertThatThrownBy(() -> Files.readAttributes(disk, "posix:*"))
                    .isInstanceOf(UnsupportedOperationException.class);
            assertThat(Files.readAttributes(fs.getPath("/"), BasicFileAttributes.class).isDirectory()).isTrue();
            assertThat(Files.getFileAttributeView(disk, java.nio.file.attribute.PosixFileAttributeView.class))
                    .isNull();
        }
    }
}
