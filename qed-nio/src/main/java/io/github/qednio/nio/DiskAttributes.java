package io.github.qednio.nio;

import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Locale;

/**
 * A snapshot of the attributes of {@code /disk} or {@code /} in a {@code qed:} file system. Times are the image
 * file's; the root directory has size 0.
 */
final class DiskAttributes implements QedFileAttributes {
    private final boolean directory;
    private final BasicFileAttributes file;
    private final int clusterSize;
    private final int tableSize;
    private final long virtualSize;
    private final String backingFile;
    private final String backingFormat;
    private final boolean needsCheck;
    private final long allocatedBytes;

    private DiskAttributes(boolean directory, BasicFileAttributes file, QedImage img, boolean withAllocation)
            throws IOException {
        this.directory = directory;
        this.file = file;
        this.clusterSize = img.geometry().clusterSize();
        this.tableSize = img.geometry().tableSize();
        this.virtualSize = img.size();
        this.backingFile = img.backingFileName();
        this.backingFormat = img.backingFormat() == null ? null
                : img.backingFormat().name().toLowerCase(Locale.ROOT);
        this.needsCheck = img.needsCheck();
        this.allocatedBytes = withAllocation ? img.allocatedBytes() : -1;
    }

    /**
     * Reads the attributes.
     *
     * @param withAllocation whether to compute {@link #allocatedBytes()} (a walk over the tables)
     */
    static DiskAttributes read(QedPath path, boolean withAllocation) throws IOException {
        QedFileSystem fs = path.getFileSystem();
        boolean dir = fs.provider().checkAccess(path);
        BasicFileAttributes file = java.nio.file.Files.readAttributes(fs.image(), BasicFileAttributes.class);
        return fs.withImage(img -> new DiskAttributes(dir, file, img, withAllocation));
    }

    @Override
    public FileTime lastModifiedTime() {
        return file.lastModifiedTime();
    }

    @Override
    public FileTime lastAccessTime() {
        return file.lastAccessTime();
    }

    @Override
    public FileTime creationTime() {
        return file.creationTime();
    }

    @Override
    public boolean isRegularFile() {
        return !directory;
    }

    @Override
    public boolean isDirectory() {
        return directory;
    }

    @Override
    public boolean isSymbolicLink() {
        return false;
    }

    @Override
    public boolean isOther() {
        return false;
    }

    @Override
    public long size() {
        return directory ? 0 : virtualSize;
    }

    @Override
    public Object fileKey() {
        return null;
    }

    @Override
    public int clusterSize() {
        return clusterSize;
    }

    @Override
    public int tableSize() {
        return tableSize;
    }

    @Override
    public long virtualSize() {
        return virtualSize;
    }

    @Override
    public String backingFile() {
        return backingFile;
    }

    @Override
    public String backingFormat() {
        return backingFormat;
    }

    @Override
    public boolean needsCheck() {
        return needsCheck;
    }

    @Override
    public long allocatedBytes() {
        if (allocatedBytes < 0) {
            throw new IllegalStateException("allocatedBytes was not read (read QedFileAttributes instead)");
        }
        return allocatedBytes;
    }
}
