package io.github.qednio.nio;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Channels of a {@code qed:} disk implement {@link Discardable}, as the README promises. */
class DiscardableChannelTest {
    private static final int CS = 64 * 1024;

    @TempDir
    Path dir;

    @Test
    void aDiskChannelDiscardsARangeThatThenReadsZerosAndGivesTheSpaceBackAtForce() throws IOException {
        Path image = dir.resolve("d.qed");
        URI uri = URI.create("qed:" + image.toUri());
        byte[] data = new byte[4 * CS];
        Arrays.fill(data, (byte) 0x5a);
        try (FileSystem fs = FileSystems.newFileSystem(uri, Map.of("create", "true", "size", "16M"));
             FileChannel ch = FileChannel.open(fs.getPath("/disk"), READ, WRITE)) {
            ch.write(ByteBuffer.wrap(data), 0);
            ch.write(ByteBuffer.wrap(data), 8 * CS); // the last four clusters of the image file
            ch.force(true);
            long grown = Files.size(image);
            ch.position(123);
            ((Discardable) ch).discard(8 * CS, 4 * CS);
            ((Discardable) ch).discard(CS + 10, 20);
            assertThat(ch.position()).isEqualTo(123);
            ByteBuffer got = ByteBuffer.allocate(12 * CS);
            ch.read(got, 0);
            byte[] expected = new byte[12 * CS];
            System.arraycopy(data, 0, expected, 0, 4 * CS);
            Arrays.fill(expected, CS + 10, CS + 30, (byte) 0);
            assertThat(got.array()).isEqualTo(expected);
            ch.force(true);
            assertThat(Files.size(image)).isEqualTo(grown - 4L * CS);
        }
    }

    @Test
    void aReadOnlyChannelRefusesToDiscardAndArgumentsAreChecked() throws IOException {
        Path image = dir.resolve("r.qed");
        URI uri = URI.create("qed:" + image.toUri());
        try (FileSystem fs = FileSystems.newFileSystem(uri, Map.of("create", "true", "size", "1M"))) {
            try (SeekableByteChannel ch = Files.newByteChannel(fs.getPath("/disk"), READ)) {
                assertThat(ch).isInstanceOf(Discardable.class);
                assertThatThrownBy(() -> ((Discardable) ch).discard(0, 1))
                        .isInstanceOf(NonWritableChannelException.class);
            }
            try (FileChannel ch = FileChannel.open(fs.getPath("/disk"), WRITE)) {
                assertThatThrownBy(() -> ((Discardable) ch).discard(-1, 1))
                        .isInstanceOf(IllegalArgumentException.class);
                assertThatThrownBy(() -> ((Discardable) ch).discard(1 << 20, 1)).isInstanceOf(IOException.class);
            }
        }
    }
}
