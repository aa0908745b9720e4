package io.github.qednio.examples;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * Example: packs files as a tar archive straight onto the virtual disk of a new QED image, and lists it back. A
 * guest (or {@code tar} on {@code qemu-img convert -O raw}'s output) sees the archive on its raw block device.
 *
 * <pre>{@code
 * java -cp qed.jar io.github.qednio.examples.TarIntoImage disk.qed 64M file1 file2 ...
 * }</pre>
 */
public final class TarIntoImage {
    private TarIntoImage() {
    }

    /** Creates {@code image} of {@code size} (a B/K/M/G/T/P/E suffix allowed, as qemu-img takes it) holding a tar of {@code files}. */
    public static void pack(Path image, String size, List<Path> files) throws IOException {
        URI uri = URI.create("qed:" + image.toUri());
        try (FileSystem fs = FileSystems.newFileSystem(uri, Map.of("create", "true", "size", size));
             OutputStream disk = Files.newOutputStream(fs.getPath("/disk"));
             TarArchiveOutputStream tar = new TarArchiveOutputStream(disk)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (Path f : files) {
                tar.putArchiveEntry(tar.createArchiveEntry(f, f.getFileName().toString()));
                Files.copy(f, tar);
                tar.closeArchiveEntry();
            }
            tar.finish();
        }
    }

    /** Names of the entries of the tar archive on {@code image}'s disk (the image is opened read-only). */
    public static List<String> list(Path image) throws IOException {
        List<String> names = new ArrayList<>();
        try (InputStream disk = Files.newInputStream(Path.of(URI.create("qed:" + image.toUri())));
             TarArchiveInputStream tar = new TarArchiveInputStream(disk)) {
            for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                names.add(e.getName());
            }
        }
        return names;
    }

    /** {@code TarIntoImage IMAGE SIZE FILE...}: packs the files, then prints the archive's entries. */
    public static void main(String[] args) throws IOException {
        if (args.length < 3) {
            System.err.println("usage: TarIntoImage IMAGE SIZE FILE...");
            System.exit(2);
        }
        List<Path> files = new ArrayList<>();
        for (int i = 2; i < args.length; i++) {
            files.add(Path.of(args[i]));
        }
        Path image = Path.of(args[0]);
        pack(image, args[1], files);
        list(image).forEach(System.out::println);
    }
}
