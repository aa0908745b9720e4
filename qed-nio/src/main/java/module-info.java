/**
 * QED disk images in pure Java: header parsing and validation, QED's and qcow2's ({@code format}), the
 * image engine with a read-only qcow2 reader ({@code engine}), the {@code qed:} java.nio file system ({@code nio}),
 * qemu-img's whole-image operations ({@code ops}) and in-place conversion between QED and qcow2
 * ({@code convert}), test fixtures with qemu-io's command syntax and a JUnit Jupiter extension ({@code fixture},
 * {@code fixture.junit}), and archives packed onto and unpacked from a disk ({@code archive}, which needs the
 * optional Apache Commons Compress).
 */
module io.github.qednio {
    requires org.slf4j;
    // Only for the JUnit Jupiter extension (io.github.qednio.fixture.junit): optional, present in Jupiter tests.
    requires static org.junit.jupiter.api;
    // Optional: only io.github.qednio.archive uses it; the rest of the library runs without it.
    requires static org.apache.commons.compress;

    exports io.github.qednio.format;
    exports io.github.qednio.image;
    exports io.github.qednio.nio;
    exports io.github.qednio.ops;
    exports io.github.qednio.fixture;
    exports io.github.qednio.fixture.junit;
    exports io.github.qednio.archive;

    provides java.nio.file.spi.FileSystemProvider with io.github.qednio.nio.QedFileSystemProvider;
}
