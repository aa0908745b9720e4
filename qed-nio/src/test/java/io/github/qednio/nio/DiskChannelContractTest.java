package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.NonReadableChannelException;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.OverlappingFileLockException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/** The SeekableByteChannel/FileChannel contract on a disk, with block-device semantics for the size. */
class DiskChannelContractTest {
    private static final long SIZE = 1 << 20;

    @TempDir
    Path dir;
    private QedFileSystem fs;
    private Path disk;

    @BeforeEach
    void createImage() throws IOException {
        Path image = dir.resolve("disk.qed");
        fs = (QedFileSystem) FileSystems.newFileSystem(URI.create("qed:" + image.toUri()),
                Map.of("create", "true", "size", SIZE, "clusterSize", "4K"));
        disk = fs.disk();
    }

    @AfterEach
    void close() throws IOException {
        fs.close();
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void sizeIsTheVirtualSizeAndNeverChanges() throws IOException {
        try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
            assertThat(ch.size()).isEqualTo(SIZE);
            ch.write(ByteBuffer.wrap(random(10_000, 1)), SIZE - 10_000);
            assertThat(ch.size()).isEqualTo(SIZE);
            assertThat(Files.size(disk)).isEqualTo(SIZE);
        }
    }

    @Test
    void positionMayBeSetPastTheEndWhereReadsReturnMinusOne() throws IOException {
        try (SeekableByteChannel ch = Files.newByteChannel(disk)) {
            ch.position(SIZE + 12345);
            assertThat(ch.position()).isEqualTo(SIZE + 12345);
            assertThat(ch.read(ByteBuffer.allocate(10))).isEqualTo(-1);
            assertThat(ch.position()).isEqualTo(SIZE + 12345);
            ch.position(SIZE);
            assertThat(ch.read(ByteBuffer.allocate(10))).isEqualTo(-1);
        }
    }

    @Test
    void readNearTheEndIsShortThenMinusOne() throws IOException {
        byte[] tail = random(100, 2);
        try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
            ch.write(ByteBuffer.wrap(tail), SIZE - 100);
            ch.position(SIZE - 100);
            ByteBuffer buf = ByteBuffer.allocate(4096);
            assertThat(ch.read(buf)).isEqualTo(100);
            assertThat(Arrays.copyOf(buf.array(), 100)).isEqualTo(tail);
            assertThat(ch.position()).isEqualTo(SIZE);
            assertThat(ch.read(buf.clear())).isEqualTo(-1);
            assertThat(ch.read(ByteBuffer.allocate(10), SIZE - 3)).isEqualTo(3);
            assertThat(ch.read(ByteBuffer.allocate(10), SIZE)).isEqualTo(-1);
        }
    }

    @Test
    void readIntoFullBufferReturnsZeroEvenAtEnd() throws IOException {
        try (FileChannel ch = FileChannel.open(disk)) {
            assertThat(ch.read(ByteBuffer.allocate(0), 0)).isZero();
            assertThat(ch.read(ByteBuffer.allocate(0))).isZero();
        }
    }

    @Test
    void relativeReadsAndWritesAdvanceThePositionPositionalOnesDoNot() throws IOException {
        byte[] data = random(5000, 3);
        try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
            ch.position(777);
            assertThat(ch.write(ByteBuffer.wrap(data))).isEqualTo(5000);
            assertThat(ch.position()).isEqualTo(5777);
            ByteBuffer back = ByteBuffer.allocate(5000);
            assertThat(ch.read(back, 777)).isEqualTo(5000);
            assertThat(back.array()).isEqualTo(data);
            assertThat(ch.position()).isEqualTo(5777);
            ch.write(ByteBuffer.wrap(data), 100_000);
            assertThat(ch.position()).isEqualTo(5777);
        }
    }

    @Test
    void writePastTheEndFailsAndWritesNothing() throws IOException {
        try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
            ByteBuffer src = ByteBuffer.wrap(random(200, 4));
            assertThatThrownBy(() -> ch.write(src, SIZE - 100)).isInstanceOf(IOException.class)
                    .hasMessageContaining("does not fit").hasMessageContaining(String.valueOf(SIZE));
            assertThat(src.position()).isZero();
            ch.position(SIZE + 1);
            assertThatThrownBy(() -> ch.write(ByteBuffer.allocate(1))).isInstanceOf(IOException.class);
            ByteBuffer back = ByteBuffer.allocate(100);
            ch.read(back, SIZE - 100);
            assertThat(back.array()).containsOnly(0);
            assertThat(ch.size()).isEqualTo(SIZE);
        }
    }

    @Test
    void scatteringAndGatheringFollowThePosition() throws IOException {
        byte[] a = random(3000, 5);
        byte[] b = random(7000, 6);
        try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
            ch.position(4000);
            assertThat(ch.write(new ByteBuffer[] {ByteBuffer.wrap(a), ByteBuffer.wrap(b)})).isEqualTo(10_000);
            assertThat(ch.position()).isEqualTo(14_000);
            ch.position(4000);
            ByteBuffer ra = ByteBuffer.allocate(3000);
            ByteBuffer rb = ByteBuffer.allocate(7000);
            assertThat(ch.read(new ByteBuffer[] {ra, rb})).isEqualTo(10_000);
            assertThat(ra.array()).isEqualTo(a);
            assertThat(rb.array()).isEqualTo(b);
            ch.position(SIZE - 10);
            assertThat(ch.read(new ByteBuffer[] {ByteBuffer.allocate(8), ByteBuffer.allocate(8)})).isEqualTo(10);
            assertThat(ch.read(new ByteBuffer[] {ByteBuffer.allocate(8)})).isEqualTo(-1);
        }
    }

    @Test
    void truncateCannotShrinkButClampsThePosition() throws IOException {
        try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
            assertThatThrownBy(() -> ch.truncate(SIZE - 1)).isInstanceOf(IOException.class)
                    .hasMessageContaining("cannot truncate");
            ch.position(SIZE + 500);
            ch.truncate(SIZE);
            assertThat(ch.position()).isEqualTo(SIZE);
            ch.truncate(SIZE * 2);
            assertThat(ch.size()).isEqualTo(SIZE);
        }
        try (FileChannel ro = FileChannel.open(disk, READ)) {
            assertThatThrownBy(() -> ro.truncate(SIZE)).isInstanceOf(NonWritableChannelException.class);
        }
    }

    @Test
    void readOnlyChannelRefusesWritesAndWriteOnlyChannelRefusesReads() throws IOException {
        try (FileChannel ro = FileChannel.open(disk, READ); FileChannel wo = FileChannel.open(disk, WRITE)) {
            assertThatThrownBy(() -> ro.write(ByteBuffer.allocate(1))).isInstanceOf(NonWritableChannelException.class);
            assertThatThrownBy(() -> ro.write(ByteBuffer.allocate(1), 0))
                    .isInstanceOf(NonWritableChannelException.class);
            assertThatThrownBy(() -> ro.transferFrom(Channels.newChannel(new java.io.ByteArrayInputStream(
                    new byte[1])), 0, 1)).isInstanceOf(NonWritableChannelException.class);
            assertThatThrownBy(() -> wo.read(ByteBuffer.allocate(1))).isInstanceOf(NonReadableChannelException.class);
            assertThatThrownBy(() -> wo.transferTo(0, 1, Channels.newChannel(new java.io.ByteArrayOutputStream())))
                    .isInstanceOf(NonReadableChannelException.class);
        }
    }

    @Test
    void transferToCopiesTheDiskAndStopsAtItsEnd() throws IOException {
        byte[] data = random((int) SIZE, 7);
        try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
            ch.write(ByteBuffer.wrap(data), 0);
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            long n = ch.transferTo(1000, SIZE, Channels.newChannel(out));
            assertThat(n).isEqualTo(SIZE - 1000);
            assertThat(out.toByteArray()).isEqualTo(Arrays.copyOfRange(data, 1000, (int) SIZE));
            assertThat(ch.position()).isZero();
            assertThat(ch.transferTo(SIZE, 10, Channels.newChannel(out))).isZero();
        }
    }

    @Test
    void transferFromFillsTheDiskAndStopsAtItsEndOrTheSourcesEnd() throws IOException {
        byte[] data = random(300_000, 8);
        try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
            ReadableByteChannel src = Channels.newChannel(new java.io.ByteArrayInputStream(data));
            assertThat(ch.transferFrom(src, SIZE - 100_000, Long.MAX_VALUE)).isEqualTo(100_000);
            ByteBuffer back = ByteBuffer.allocate(100_000);
            ch.read(back, SIZE - 100_000);
            assertThat(back.array()).isEqualTo(Arrays.copyOf(data, 100_000));
            // The source is left just after what was taken.
            ByteBuffer rest = ByteBuffer.allocate(10);
            src.read(rest);
            assertThat(rest.array()).isEqualTo(Arrays.copyOfRange(data, 100_000, 100_010));

            ReadableByteChannel small = Channels.newChannel(new java.io.ByteArrayInputStream(data, 0, 5000));
            assertThat(ch.transferFrom(small, 0, 1 << 16)).isEqualTo(5000);
            assertThat(ch.transferFrom(small, SIZE, 10)).isZero();
            assertThat(ch.position()).isZero();
        }
    }

    @Test
    void transferBetweenTwoDisksCopiesEveryByte() throws IOException {
        byte[] data = random((int) SIZE, 9);
        Path other = dir.resolve("other.qed");
        try (QedFileSystem fs2 = (QedFileSystem) FileSystems.newFileSystem(URI.create("qed:" + other.toUri()),
                Map.of("create", true, "size", SIZE));
             FileChannel a = FileChannel.open(disk, READ, WRITE);
             FileChannel b = FileChannel.open(fs2.disk(), READ, WRITE)) {
            a.write(ByteBuffer.wrap(data), 0);
            assertThat(b.transferFrom(a, 0, SIZE)).isEqualTo(SIZE);
            assertThat(Files.readAllBytes(fs2.disk())).isEqualTo(data);
        }
    }

    @Test
    void forceFlushesTheImageAndClearsNeedCheck() throws IOException {
        try (FileChannel ch = FileChannel.open(disk, READ, WRITE)) {
            ch.write(ByteBuffer.wrap(random(100, 10)), 50_000);
            assertThat(Files.getAttribute(disk, "qed:needsCheck")).isEqualTo(true);
            ch.force(true);
            assertThat(Files.getAttribute(disk, "qed:needsCheck")).isEqualTo(false);
            assertThat(featuresOnDisk(fs.image()) & 2).isZero();
        }
    }

    static long featuresOnDisk(Path image) throws IOException {
        try (SeekableByteChannel ch = Files.newByteChannel(image)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.position(16).read(b);
            return b.flip().getLong();
        }
    }

    @Test
    void syncOptionMakesEveryWriteDurable() throws IOException {
        try (FileChannel ch = FileChannel.open(disk, WRITE, StandardOpenOption.SYNC)) {
            ch.write(ByteBuffer.wrap(random(100, 11)), 70_000);
            assertThat(featuresOnDisk(fs.image()) & 2).isZero();
        }
    }

    @Test
    void mapIsNotSupported() throws IOException {
        try (FileChannel ch = FileChannel.open(disk)) {
            assertThatThrownBy(() -> ch.map(FileChannel.MapMode.READ_ONLY, 0, 10))
                    .isInstanceOf(UnsupportedOperationException.class);
        }
    }

    @Test
    void locksAreExclusiveInTheJvmAndReleasedWithTheChannel() throws IOException {
        try (FileChannel a = FileChannel.open(disk, READ, WRITE); FileChannel b = FileChannel.open(disk, READ)) {
            FileLock la = a.lock(0, 4096, false);
            assertThat(la.isValid()).isTrue();
            assertThatThrownBy(() -> b.tryLock(100, 10, true)).isInstanceOf(OverlappingFileLockException.class);
            FileLock lb = b.tryLock(4096, 4096, true);
            assertThat(lb).isNotNull();
            assertThatThrownBy(() -> b.lock(0, 1, false)).isInstanceOf(NonWritableChannelException.class);
            la.release();
            assertThat(la.isValid()).isFalse();
            FileLock again = b.tryLock(0, 10, true);
            b.close();
            assertThat(again.isValid()).isFalse();
            assertThat(a.tryLock(0, Long.MAX_VALUE, false)).isNotNull();
        }
    }

    @Test
    void appendAndDeleteOnCloseAreRefusedCreateNewFailsCreateAndTruncateAreIgnored() throws IOException {
        assertThatThrownBy(() -> Files.newByteChannel(disk, WRITE, StandardOpenOption.APPEND))
                .isInstanceOf(UnsupportedOperationException.class).hasMessageContaining("APPEND");
        assertThatThrownBy(() -> Files.newOutputStream(disk, StandardOpenOption.APPEND))
                .isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> Files.newByteChannel(disk, WRITE, StandardOpenOption.DELETE_ON_CLOSE))
                .isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> Files.newByteChannel(disk, WRITE, StandardOpenOption.CREATE_NEW))
                .isInstanceOf(java.nio.file.FileAlreadyExistsException.class);
        byte[] data = random(1000, 12);
        try (FileChannel ch = FileChannel.open(disk, WRITE)) {
            ch.write(ByteBuffer.wrap(data), 8192);
        }
        try (SeekableByteChannel ch = Files.newByteChannel(disk, WRITE, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            assertThat(ch.size()).isEqualTo(SIZE);
        }
        ByteBuffer back = ByteBuffer.allocate(1000);
        try (FileChannel ch = FileChannel.open(disk)) {
            ch.read(back, 8192);
        }
        assertThat(back.array()).isEqualTo(data);
    }

    @Test
    void streamsReadAndWriteFromOffsetZero() throws IOException {
        byte[] data = random(70_000, 13);
        try (var out = Files.newOutputStream(disk)) {
            out.write(data);
        }
        try (var in = Files.newInputStream(disk)) {
            assertThat(in.readNBytes(data.length)).isEqualTo(data);
        }
        byte[] all = Files.readAllBytes(disk);
        assertThat(all).hasSize((int) SIZE);
        assertThat(Arrays.copyOf(all, data.length)).isEqualTo(data);
    }

    @Test
    void diskCannotBeDeletedAndOtherFilesDoNotExist() throws IOException {
        assertThatThrownBy(() -> Files.delete(disk)).isInstanceOf(java.nio.file.AccessDeniedException.class);
        assertThat(Files.exists(disk)).isTrue();
        Path other = fs.getPath("/other");
        assertThat(Files.exists(other)).isFalse();
        assertThatThrownBy(() -> Files.newByteChannel(other)).isInstanceOf(java.nio.file.NoSuchFileException.class);
        assertThatThrownBy(() -> Files.createDirectory(fs.getPath("/d")))
                .isInstanceOf(java.nio.file.AccessDeniedException.class);
        try (var s = Files.list(fs.getPath("/"))) {
            assertThat(s).containsExactly(disk);
        }
        assertThat(Files.isDirectory(fs.getPath("/"))).isTrue();
        assertThat(Files.isRegularFile(disk)).isTrue();
    }
}
