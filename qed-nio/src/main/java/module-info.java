/**
 * QED disk images in pure Java: header parsing and validation ({@code format}), the image engine
 * ({@code engine}), the {@code qed:} java.nio file system ({@code nio}) and qemu-img's whole-image operations
 * ({@code ops}).
 */
module io.github.qednio {
    requires org.slf4j;

    exports io.github.qednio.format;
    exports io.github.qednio.engine;
    exports io.github.qednio.nio;
    exports io.github.qednio.ops;

    provides java.nio.file.spi.FileSystemProvider with io.github.qednio.nio.QedFileSystemProvider;
}
