/**
 * QED disk images in pure Java: header parsing and validation ({@code format}), the image engine
 * ({@code engine}), the {@code qed:} java.nio file system ({@code nio}), and test fixtures with qemu-io's command
 * syntax and a JUnit Jupiter extension ({@code fixture}, {@code fixture.junit}).
 */
module io.github.qednio {
    requires org.slf4j;
    // Only for the JUnit Jupiter extension (io.github.qednio.fixture.junit): optional, present in Jupiter tests.
    requires static org.junit.jupiter.api;

    exports io.github.qednio.format;
    exports io.github.qednio.engine;
    exports io.github.qednio.nio;
    exports io.github.qednio.fixture;
    exports io.github.qednio.fixture.junit;

    provides java.nio.file.spi.FileSystemProvider with io.github.qednio.nio.QedFileSystemProvider;
}
