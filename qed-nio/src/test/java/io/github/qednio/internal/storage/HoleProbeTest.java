package io.github.qednio.internal.storage;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Java22;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link LockSafeFiles#nextData}/{@link LockSafeFiles#nextHole}: on Java 22+ the Foreign Function API's
 * {@code lseek(SEEK_DATA/SEEK_HOLE)} finds a sparse file's holes; before 22 (or turned off) everything is data; and
 * the probe's own descriptor never drops the image locks a writer in this JVM holds.
 */
class HoleProbeTest {
    private static final int MIB = 1 << 20;
    @TempDir
    Path dir;

    /** 4 MiB: a hole, 64 KiB of data at 1 MiB, a hole, 64 KiB of data at 3 MiB, a hole to the end. */
    private Path sparse() throws IOException {
        Path f = dir.resolve("sparse.raw");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(4 * MIB);
            byte[] data = new byte[64 * 1024];
            java.util.Arrays.fill(data, (byte) 7);
            raf.seek(MIB);
            raf.write(data);
            raf.seek(3 * MIB);
            raf.write(data);
        }
        return f;
    }

    @Test
    void findsTheHolesOfASparseFileThroughTheForeignFunctionApiOnJava22() throws IOException {
        Java22.assume("hole detection");
        assertThat(HoleProbe.available()).as("the multi-release class must load, with native access enabled")
                .isTrue();
        Path f = sparse();
        try (SeekableByteChannel ch = LockSafeFiles.newReadChannel(f)) {
            assertThat(LockSafeFiles.nextData(ch, 0)).isEqualTo(MIB);
            assertThat(LockSafeFiles.nextHole(ch, MIB)).isEqualTo(MIB + 64 * 1024);
            assertThat(LockSafeFiles.nextData(ch, MIB + 64 * 1024)).isEqualTo(3 * MIB);
            assertThat(LockSafeFiles.nextHole(ch, 0)).isZero();
            // No data after the last run: ENXIO, the rest is a hole up to the end.
            assertThat(LockSafeFiles.nextData(ch, 3 * MIB + 64 * 1024)).isEqualTo(4 * MIB);
            assertThat(LockSafeFiles.nextHole(ch, 3 * MIB + 64 * 1024)).isEqualTo(3 * MIB + 64 * 1024);
            assertThat(LockSafeFiles.nextData(ch, 4 * MIB)).isEqualTo(4 * MIB);
        }
    }

    @Test
    void withoutHoleDetectionEveryByteIsData() throws IOException {
        Path f = sparse();
        String old = System.setProperty(HoleProbe.ENABLE_PROPERTY, "false");
        try (SeekableByteChannel ch = LockSafeFiles.newReadChannel(f)) {
            assertThat(LockSafeFiles.nextData(ch, 0)).isZero();
            assertThat(LockSafeFiles.nextHole(ch, 0)).isEqualTo(4 * MIB);
            assertThat(LockSafeFiles.nextData(ch, 4 * MIB)).isEqualTo(4 * MIB);
        } finally {
            restore(old);
        }
        if (Runtime.version().feature() < 22) {
            // The Java 17 fallback: the same answers with the property unset.
            try (SeekableByteChannel ch = LockSafeFiles.newReadChannel(f)) {
                assertThat(LockSafeFiles.nextData(ch, 0)).isZero();
                assertThat(LockSafeFiles.nextHole(ch, 2 * MIB)).isEqualTo(4 * MIB);
            }
        }
    }

    @Test
    void aChannelNotFromTheLockManagerIsAllData() throws IOException {
        Path f = sparse();
        try (SeekableByteChannel ch = Files.newByteChannel(f)) {
            assertThat(LockSafeFiles.nextData(ch, 0)).isZero();
            assertThat(LockSafeFiles.nextHole(ch, 0)).isEqualTo(4 * MIB);
        }
    }

    @Test
    void aNegativePositionIsRefusedBeforeTheFileSystemIsAsked() throws IOException {
        Path f = sparse();
        try (SeekableByteChannel ch = LockSafeFiles.newReadChannel(f)) {
            assertThatThrownBy(() -> LockSafeFiles.nextData(ch, -1)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("-1");
            assertThatThrownBy(() -> LockSafeFiles.nextHole(ch, -1)).isInstanceOf(IllegalArgumentException.class);
            // EINVAL from lseek would have turned the probe off; it still finds the hole.
            assertThat(LockSafeFiles.nextData(ch, 0)).isEqualTo(HoleProbe.available() ? MIB : 0);
        }
    }

    @Test
    void aQemuWriterStaysRefusedWhileAJavaWriterHoldsAnImageWhoseFileWasHoleProbed() throws IOException {
        Qemu.assumeAvailable();
        Path image = dir.resolve("held.qed");
        try (QedImage writer = QedImage.create(image, CreateOptions.ofSize(8L * MIB))) {
            writer.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
            writer.flush();
            assertQemuWriterRefused(image);
            int before = descriptorsOf(image);
            try (SeekableByteChannel ch = LockSafeFiles.newReadChannel(image)) {
                LockSafeFiles.nextData(ch, 0);
                LockSafeFiles.nextHole(ch, 0);
                if (Runtime.version().feature() >= 22) {
                    assertThat(descriptorsOf(image)).as("the probe opened its own descriptor").isGreaterThan(before);
                }
            }
            // The probe was given back, not closed: closing it would have dropped the writer's locks.
            assertQemuWriterRefused(image);
            try (SeekableByteChannel ch = LockSafeFiles.newReadChannel(image)) {
                LockSafeFiles.nextData(ch, 0);
            }
            assertQemuWriterRefused(image);
            writer.write(ByteBuffer.wrap(new byte[] {4}), 3);
        }
        assertThat(descriptorsOf(image)).as("the last user's close closes the probe's descriptor too").isZero();
        Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
        assertThat(w.exitCode()).as("%s", w).isZero();
    }

    private static void assertQemuWriterRefused(Path image) {
        Qemu.Result w = Qemu.io("-f", "qed", "-c", "write 0 512", image.toString());
        assertThat(w.exitCode()).as("qemu-io must not get the write lock while we hold %s: %s", image, w)
                .isNotZero();
        assertThat(w.stderr() + w.stdout()).contains("Failed to get \"write\" lock");
    }

    /** Descriptors of this process that name {@code file} (Linux's /proc/self/fd). */
    private static int descriptorsOf(Path file) throws IOException {
        Path real = file.toRealPath();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return (int) fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(real);
                } catch (IOException e) {
                    return false; // closed meanwhile (the listing's own descriptor)
                }
            }).count();
        }
    }

    private static void restore(String old) {
        if (old == null) {
            System.clearProperty(HoleProbe.ENABLE_PROPERTY);
        } else {
            System.setProperty(HoleProbe.ENABLE_PROPERTY, old);
        }
    }
}
