/**
 * The {@code qed:} java.nio file system: a QED image's virtual disk as a file, for any code that speaks java.nio.
 *
 * <pre>{@code
 * Path image = Path.of("/var/images/disk.qed");
 * URI uri = URI.create("qed:" + image.toUri());
 *
 * // Create a 64 MiB image (env keys: create, size, clusterSize, tableSize, backingFile, backingFormat,
 * // readOnly, copyOnRead, backingPolicy).
 * try (FileSystem fs = FileSystems.newFileSystem(uri, Map.of("create", "true", "size", "64M"))) {
 *     Path disk = fs.getPath("/disk");
 *     try (FileChannel ch = FileChannel.open(disk, StandardOpenOption.WRITE)) {
 *         ch.write(ByteBuffer.wrap("hello".getBytes()), 1 << 20);
 *     }
 * }
 *
 * // No file system needed: the image opens with the channel and closes (clean) with the last one.
 * try (SeekableByteChannel ch = Files.newByteChannel(Path.of(uri))) { ... }
 * long clusterSize = (Integer) Files.getAttribute(Path.of(uri), "qed:clusterSize");
 * }</pre>
 *
 * <p>Entry points: {@link io.github.qednio.nio.QedFileSystemProvider} (registered with the service loader and the
 * module system), {@link io.github.qednio.nio.QedFileSystems} (without the service loader),
 * {@link io.github.qednio.nio.QedFileSystem} (lifecycle and semantics) and
 * {@link io.github.qednio.nio.QedFileAttributes} (the {@code qed} attribute view).
 */
package io.github.qednio.nio;
