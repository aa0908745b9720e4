/**
 * The {@code qed:} java.nio file system: a QED image's virtual disk as a file, for any code that speaks java.nio.
 *
 * <pre>{@code
 * Path image = Path.of("/var/images/disk.qed");
 * URI uri = URI.create("qed:" + image.toUri());
 *
 * // Create a 64 MiB image (env keys: create, size, clusterSize, tableSize, backingFile, backingFormat,
 * // readOnly, copyOnRead, backingPolicy, probeBacking, cacheBudget, detectZeroes, forceShare).
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
 * <p>URIs: {@code qed:} followed by the image file's URI names the disk. A fragment, if any, must be an absolute path
 * of the file system ({@code #/} is the root directory, {@code #/disk} the disk); every entry point checks it the
 * same way ({@code newFileSystem} and {@code getFileSystem} accept it, {@code Path.of} returns that path) and
 * refuses any other fragment with an IllegalArgumentException naming the URI.
 *
 * <p>An image opened implicitly for reading is opened read-only and shared (see {@link
 * io.github.qednio.nio.QedFileSystem} for upgrades to read-write, draining closes and the registry).
 *
 * <p>Entry points: {@link io.github.qednio.nio.QedFileSystemProvider} (registered with the service loader and the
 * module system), {@link io.github.qednio.nio.QedFileSystems} (without the service loader),
 * {@link io.github.qednio.nio.QedFileSystem} (lifecycle and semantics),
 * {@link io.github.qednio.nio.QedFileAttributes} (the {@code qed} attribute view) and
 * {@link io.github.qednio.nio.Discardable} (discard through a disk's channels).
 */
package io.github.qednio.nio;
