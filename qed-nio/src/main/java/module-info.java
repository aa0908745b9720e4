/**
 * QED disk images in pure Java: header parsing and validation ({@code format}), the image engine
 * ({@code engine}), and the {@code qed:} java.nio file system ({@code nio}); a read-only qcow2 reader
 * ({@code qcow2}) and in-place conversion between QED and qcow2 ({@code convert}).
 */
module io.github.qednio {
    requires org.slf4j;

    exports io.github.qednio.format;
    exports io.github.qednio.engine;
    exports io.github.qednio.nio;
    exports io.github.qednio.qcow2;
    exports io.github.qednio.convert;

    provides java.nio.file.spi.FileSystemProvider with io.github.qednio.nio.QedFileSystemProvider;
}
