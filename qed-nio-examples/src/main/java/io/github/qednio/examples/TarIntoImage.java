package io.github.qednio.examples;

import io.github.qednio.archive.ImageArchives;
import io.github.qednio.archive.PackOptions;
import io.github.qednio.format.Sizes;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Example: packs files as a tar archive straight onto the virtual disk of a new QED image, and lists it back, with
 * the library's {@link ImageArchives}. A guest (or {@code tar} on {@code qemu-img convert -O raw}'s output) sees the
 * archive on its raw block device.
 *
 * <pre>{@code
 * java -cp qed.jar io.github.qednio.examples.TarIntoImage disk.qed auto file1 dir2 ...
 * }</pre>
 */
public final class TarIntoImage {
    private TarIntoImage() {
    }

    /**
     * Creates {@code image} holding a tar of {@code files} (files or directories, each under its own name).
     *
     * @param size {@code auto} for a disk just large enough, or a size as qemu-img takes it ({@code 64M})
     */
    public static void pack(Path image, String size, List<Path> files) throws IOException {
        PackOptions options = PackOptions.defaults();
        if (!size.equals("auto")) {
            options = options.withSize(Sizes.parse(size));
        }
        ImageArchives.pack(files, image, options);
    }

    /** Names of the entries of the archive on {@code image}'s disk (the image is opened read-only). */
    public static List<String> list(Path image) throws IOException {
        return ImageArchives.list(image);
    }

    /** {@code TarIntoImage IMAGE SIZE|auto FILE...}: packs the files, then prints the archive's entries. */
    public static void main(String[] args) throws IOException {
        if (args.length < 3) {
            System.err.println("usage: TarIntoImage IMAGE SIZE|auto FILE...");
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
