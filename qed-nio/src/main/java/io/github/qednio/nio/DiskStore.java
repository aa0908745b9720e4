package io.github.qednio.nio;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.FileAttributeView;
import java.nio.file.attribute.FileStoreAttributeView;

/**
 * The store of a {@code qed:} file system: the virtual disk's capacity. Total space is the virtual size; usable and
 * unallocated space is what the image file does not hold yet (the virtual size minus the allocated bytes).
 */
final class DiskStore extends FileStore {
    private final QedFileSystem fs;

    DiskStore(QedFileSystem fs) {
        this.fs = fs;
    }

    @Override
    public String name() {
        return String.valueOf(fs.image().getFileName());
    }

    @Override
    public String type() {
        return "qed";
    }

    @Override
    public boolean isReadOnly() {
        return fs.isReadOnly();
    }

    @Override
    public long getTotalSpace() throws IOException {
        return fs.withImage(img -> img.size());
    }

    @Override
    public long getUsableSpace() throws IOException {
        return getUnallocatedSpace();
    }

    @Override
    public long getUnallocatedSpace() throws IOException {
        return fs.withImage(img -> Math.max(0, img.size() - img.allocatedBytes()));
    }

    @Override
    public boolean supportsFileAttributeView(Class<? extends FileAttributeView> type) {
        return type == BasicFileAttributeView.class || type == QedFileAttributeView.class;
    }

    @Override
    public boolean supportsFileAttributeView(String name) {
        return AttributeViews.VIEWS.contains(name);
    }

    @Override
    public <V extends FileStoreAttributeView> V getFileStoreAttributeView(Class<V> type) {
        return null;
    }

    @Override
    public Object getAttribute(String attribute) throws IOException {
        return switch (attribute) {
            case "totalSpace" -> getTotalSpace();
            case "usableSpace" -> getUsableSpace();
            case "unallocatedSpace" -> getUnallocatedSpace();
            default -> throw new UnsupportedOperationException("file store attribute '" + attribute + "'");
        };
    }

    @Override
    public String toString() {
        return "qed store of " + fs.image();
    }
}
