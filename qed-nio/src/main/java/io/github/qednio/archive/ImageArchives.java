package io.github.qednio.archive;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.nio.QedFileSystem;
import io.github.qednio.nio.QedFileSystems;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * Packs files into an archive written straight onto a new QED image's virtual disk, and unpacks the archive found on
 * an image's disk, through the {@code qed:} file system: no temporary file, no QEMU.
 *
 * <pre>{@code
 * PackResult r = ImageArchives.pack(List.of(Path.of("docs")), Path.of("docs.qed"), PackOptions.defaults());
 * // in a guest: tar -xf /dev/vdb          on the host: ImageArchives.unpack(Path.of("docs.qed"), Path.of("out"))
 * }</pre>
 *
 * <p>Sources: directories (walked in name order, symbolic links stored as links and never followed) and files, each
 * stored under its own file name, as {@code tar -C parent name} would; or a single existing archive ({@code .tar},
 * {@code .tar.gz}/{@code .tgz}, {@code .zip}, {@code .7z}) copied as is (a gzipped tar decompressed), unless another
 * format is asked for, which packs it as a file. tar is written through an output stream, zip and 7z through the
 * disk's {@link SeekableByteChannel}. Unless a size is given the disk is just large enough: the archive's length
 * rounded up to the 512 bytes QED requires (the archive is measured first, by writing it once to a counter), so a zip
 * directory ends where tools reading from the device's end look for it. Zero detection is on by default, so the
 * zeros of empty or sparse files take no space in the image.
 *
 * <p>Symbolic links are packed and unpacked as links whatever they point to, as tar does; those leading outside the
 * packed sources are listed in {@link PackResult#linksOutside()}. Modes keep their setuid, setgid and sticky bits.
 * Unpacking reads and checks the whole archive before writing anything, and refuses entries with absolute names,
 * {@code ..} components, entries below a symbolic link (nothing is written through a link), and hard links to
 * anything but a file inside the target directory; a refused, damaged or truncated archive ({@link ArchiveException}
 * naming the image, the entry or the last entry read) leaves the directory as it was.
 */
public final class ImageArchives {
    /** QED virtual sizes are whole 512-byte sectors (as QEMU requires). */
    private static final long SECTOR = 512;

    private ImageArchives() {
    }

    /**
     * Creates {@code image} holding an archive of {@code sources} on its disk.
     *
     * @param sources directories and files, or one existing archive to copy; not empty
     * @param image   the new image file; must not exist (images are never overwritten)
     * @param options format, size, geometry and zero detection
     * @return what was written
     * @throws java.nio.file.FileAlreadyExistsException if {@code image} exists
     * @throws ArchiveException if a source cannot be packed (not a file, directory or link; two sources with the
     *         same name; changed while packed) or the archive does not fit the requested size; the image is then
     *         deleted
     * @throws IOException if a source cannot be read or the image cannot be written; the image is then deleted
     */
    public static PackResult pack(List<Path> sources, Path image, PackOptions options) throws IOException {
        if (sources.isEmpty()) {
            throw new IllegalArgumentException("nothing to pack: no source given");
        }
        if (Files.exists(image, LinkOption.NOFOLLOW_LINKS)) {
            throw new java.nio.file.FileAlreadyExistsException(image.toString(), null,
                    "images are never overwritten");
        }
        Path single = sources.size() == 1 ? sources.get(0) : null;
        Copied copied = single != null && Files.isRegularFile(single, LinkOption.NOFOLLOW_LINKS)
                ? Copied.of(single) : null;
        try {
            if (copied != null && options.format().orElse(copied.format) == copied.format) {
                return copy(single, copied, image, options);
            }
            return packTree(SourceTree.walk(sources), options.format().orElse(ArchiveFormat.TAR), image, options);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw e; // created by someone else meanwhile: not ours to delete
        } catch (IOException | RuntimeException e) {
            deleteFailed(image, e);
            throw e;
        }
    }

    /**
     * Extracts the archive on {@code image}'s disk (tar, gzipped tar, zip or 7z, found by its first bytes) into
     * {@code dir}. The image is opened read-only.
     *
     * @param image an image holding an archive on its disk
     * @param dir   the directory to extract into; created if missing (once the archive is checked)
     * @return what was extracted
     * @throws ArchiveException if an entry is refused (absolute name, {@code ..} component, below a symbolic link,
     *         hard link to anything but a file in {@code dir}, device or pipe), or the archive is damaged, truncated
     *         or missing; the whole archive is checked first, so {@code dir} is then left as it was
     * @throws IOException if the image cannot be opened, or {@code dir} cannot be written: the message names the
     *         entry and what is left in {@code dir}
     */
    public static UnpackResult unpack(Path image, Path dir) throws IOException {
        return unpack(image, dir, false);
    }

    /**
     * As {@link #unpack(Path, Path)}; with {@code forceShare} the image is read even while another process writes
     * it, as qemu-img's {@code -U} ({@link OpenOptions#withForceShare}).
     *
     * @param image      an image holding an archive on its disk
     * @param dir        the directory to extract into; created if missing (once the archive is checked)
     * @param forceShare true to read an image another process writes
     * @return what was extracted
     * @throws ArchiveException if an entry is refused, or the archive is damaged, truncated or missing; the whole
     *         archive is checked first, so {@code dir} is then left as it was
     * @throws IOException if the image cannot be opened (or another process writes it and {@code forceShare} is
     *         false), or {@code dir} cannot be written: the message names the entry and what is left in {@code dir}
     */
    public static UnpackResult unpack(Path image, Path dir, boolean forceShare) throws IOException {
        try (QedFileSystem fs = openReadOnly(image, forceShare)) {
            SafeExtraction out = new SafeExtraction(dir, image.toString());
            // Two passes: the whole archive is read and checked before the first byte is written.
            readDisk(fs, image, out::check);
            ArchiveFormat format;
            try {
                format = readDisk(fs, image, out::extract);
                out.finish();
            } catch (IOException e) {
                throw out.failed(e);
            }
            return new UnpackResult(format, out.entries(), out.bytes());
        }
    }

    /**
     * The names of the entries of the archive on {@code image}'s disk, in archive order (the image is opened
     * read-only).
     *
     * @param image an image holding an archive on its disk
     * @return the entry names as stored (directories may end with {@code /})
     * @throws ArchiveException if the archive is damaged, truncated or missing
     * @throws IOException if the image cannot be read
     */
    public static List<String> list(Path image) throws IOException {
        List<String> names = new ArrayList<>();
        return readDisk(image, false, disk -> {
            ArchiveReader.read(disk, image.toString(), (item, data) -> names.add(item.name()));
            return names;
        });
    }

    /**
     * The format of the archive on {@code image}'s disk, from its first bytes (the image is opened read-only).
     *
     * @param image an image holding an archive on its disk
     * @return the format (a gzipped tar is {@link ArchiveFormat#TAR})
     * @throws ArchiveException if the disk does not start with a tar, gzip, zip or 7z signature
     * @throws IOException if the image cannot be read
     */
    public static ArchiveFormat detect(Path image) throws IOException {
        return readDisk(image, false, disk -> ArchiveReader.detect(disk, image.toString()));
    }

    /** Reads the disk of an image opened read-only. */
    @FunctionalInterface
    private interface DiskRead<T> {
        T read(SeekableByteChannel disk) throws IOException;
    }

    private static QedFileSystem openReadOnly(Path image, boolean forceShare) throws IOException {
        return QedFileSystems.open(image, OpenOptions.readOnlyDefaults().withForceShare(forceShare));
    }

    private static <T> T readDisk(Path image, boolean forceShare, DiskRead<T> read) throws IOException {
        try (QedFileSystem fs = openReadOnly(image, forceShare);
             SeekableByteChannel disk = Files.newByteChannel(fs.getPath("/disk"))) {
            return read.read(disk);
        }
    }

    /** Reads the archive through a channel of its own: zip and 7z readers close theirs. */
    private static ArchiveFormat readDisk(QedFileSystem fs, Path image, ArchiveReader.Visitor visitor)
            throws IOException {
        try (SeekableByteChannel disk = Files.newByteChannel(fs.getPath("/disk"))) {
            return ArchiveReader.read(disk, image.toString(), visitor);
        }
    }

    /** An existing archive given as the only source, recognised by its name. */
    private record Copied(ArchiveFormat format, boolean gzip) {
        static Copied of(Path file) {
            String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
            if (name.endsWith(".tar")) {
                return new Copied(ArchiveFormat.TAR, false);
            }
            if (name.endsWith(".tar.gz") || name.endsWith(".tgz")) {
                return new Copied(ArchiveFormat.TAR, true);
            }
            if (name.endsWith(".zip")) {
                return new Copied(ArchiveFormat.ZIP, false);
            }
            if (name.endsWith(".7z")) {
                return new Copied(ArchiveFormat.SEVEN_Z, false);
            }
            return null;
        }
    }

    private static PackResult copy(Path archive, Copied copied, Path image, PackOptions options) throws IOException {
        long length;
        if (copied.gzip) {
            try (InputStream in = gunzip(archive)) {
                length = in.transferTo(java.io.OutputStream.nullOutputStream());
            }
        } else {
            length = Files.size(archive);
        }
        long diskSize = diskSize(image, length, options);
        try (QedFileSystem fs = QedFileSystems.create(image, createOptions(diskSize, options), openOptions(options));
             BufferedDiskChannel disk = diskChannel(fs, diskSize, image, options);
             InputStream in = copied.gzip ? gunzip(archive)
                     : new BufferedInputStream(Files.newInputStream(archive), 1 << 20)) {
            byte[] buf = new byte[1 << 20];
            for (int k; (k = in.read(buf)) >= 0; ) {
                disk.write(ByteBuffer.wrap(buf, 0, k));
            }
            checkLength(archive.toString(), length, disk);
        }
        return new PackResult(copied.format, length, diskSize, true, List.of());
    }

    private static InputStream gunzip(Path archive) throws IOException {
        InputStream raw = new BufferedInputStream(Files.newInputStream(archive), 1 << 20);
        try {
            return GzipCompressorInputStream.builder().setInputStream(raw).setDecompressConcatenated(true).get();
        } catch (IOException e) {
            raw.close();
            throw new ArchiveException(archive + ": not a gzip file, although named so: " + e.getMessage(), e);
        }
    }

    private static PackResult packTree(List<SourceTree.Entry> entries, ArchiveFormat format, Path image,
                                       PackOptions options) throws IOException {
        long length = -1;
        if (options.size() < 0) {
            // Measure: a tar's length does not depend on the file contents, so zeros stand in for them.
            CountingChannel counter = new CountingChannel();
            ArchiveWriter.write(format, entries, counter, format == ArchiveFormat.TAR);
            length = counter.size();
        }
        long diskSize = diskSize(image, length, options);
        long written;
        try (QedFileSystem fs = QedFileSystems.create(image, createOptions(diskSize, options), openOptions(options))) {
            BufferedDiskChannel disk = diskChannel(fs, diskSize, image, options);
            ArchiveWriter.write(format, entries, disk, false); // closes the channel
            if (length >= 0) {
                checkLength("the sources", length, disk);
            }
            written = disk.end();
        }
        return new PackResult(format, written, diskSize, false, SourceTree.linksOutside(entries));
    }

    private static void checkLength(String what, long expected, BufferedDiskChannel disk) throws ArchiveException {
        if (disk.end() != expected) {
            throw new ArchiveException(what + " changed while being packed: the archive measured " + expected
                    + " bytes but " + disk.end() + " were written");
        }
    }

    private static long diskSize(Path image, long length, PackOptions options) throws ArchiveException {
        if (options.size() < 0) {
            return Math.max(SECTOR, (length + SECTOR - 1) / SECTOR * SECTOR);
        }
        if (length > options.size()) {
            throw new ArchiveException(image + ": the archive needs " + length + " bytes, more than the requested"
                    + " disk size of " + options.size());
        }
        return options.size();
    }

    private static CreateOptions createOptions(long diskSize, PackOptions options) {
        CreateOptions c = CreateOptions.ofSize(diskSize);
        if (options.clusterSize() != 0) {
            c = c.withClusterSize(options.clusterSize());
        }
        if (options.tableSize() != 0) {
            c = c.withTableSize(options.tableSize());
        }
        return c;
    }

    private static OpenOptions openOptions(PackOptions options) {
        return OpenOptions.defaults().withDetectZeroes(options.detectZeroes());
    }

    private static BufferedDiskChannel diskChannel(QedFileSystem fs, long diskSize, Path image, PackOptions options)
            throws IOException {
        int clusterSize = (int) (options.clusterSize() == 0 ? 65536 : options.clusterSize());
        return new BufferedDiskChannel(Files.newByteChannel(fs.getPath("/disk"), StandardOpenOption.WRITE), diskSize,
                image.toString(), Math.max(1 << 20, clusterSize), options.progress());
    }

    private static void deleteFailed(Path image, Exception cause) {
        try {
            Files.deleteIfExists(image);
        } catch (IOException e) {
            cause.addSuppressed(e);
        }
    }
}
