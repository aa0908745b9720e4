package io.github.qednio.examples;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * The {@code qed:} file system through plain java.nio, found by the service loader: creates a 1 MiB image, writes a
 * greeting through a channel, then reads it back through {@code Path.of(URI)} alone.
 *
 * <pre>{@code java -cp qed.jar io.github.qednio.examples.QedUriDemo /tmp/demo.qed}</pre>
 */
public final class QedUriDemo {
    private QedUriDemo() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: QedUriDemo <new image file>");
            System.exit(2);
        }
        Path image = Path.of(args[0]).toAbsolutePath();
        URI uri = URI.create("qed:" + image.toUri());
        byte[] greeting = "hello from a qed: disk".getBytes(StandardCharsets.UTF_8);

        try (FileSystem fs = FileSystems.newFileSystem(uri, Map.of("create", "true", "size", "1M"));
             FileChannel ch = FileChannel.open(fs.getPath("/disk"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(greeting), 4096);
        }

        Path disk = Path.of(uri); // no file system open: the image opens with the channel and closes with it
        ByteBuffer back = ByteBuffer.allocate(greeting.length);
        try (FileChannel ch = FileChannel.open(disk)) {
            ch.read(back, 4096);
        }
        System.out.println("uri: " + disk.toUri());
        System.out.println("size: " + Files.size(disk));
        System.out.println("clusterSize: " + Files.getAttribute(disk, "qed:clusterSize"));
        System.out.println("read: " + new String(back.array(), StandardCharsets.UTF_8));
    }
}
