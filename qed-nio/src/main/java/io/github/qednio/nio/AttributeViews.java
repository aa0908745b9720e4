package io.github.qednio.nio;

import io.github.qednio.internal.storage.LockSafeFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttributeView;
import java.nio.file.attribute.FileTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/** The {@code basic} and {@code qed} attribute views, by type and by name ({@code "qed:clusterSize"}). */
final class AttributeViews {
    static final Set<String> VIEWS = Set.of("basic", "qed");

    private static final Map<String, Function<QedFileAttributes, Object>> BASIC = new LinkedHashMap<>();
    private static final Map<String, Function<QedFileAttributes, Object>> QED = new LinkedHashMap<>();

    static {
        BASIC.put("lastModifiedTime", BasicFileAttributes::lastModifiedTime);
        BASIC.put("lastAccessTime", BasicFileAttributes::lastAccessTime);
        BASIC.put("creationTime", BasicFileAttributes::creationTime);
        BASIC.put("size", BasicFileAttributes::size);
        BASIC.put("isRegularFile", BasicFileAttributes::isRegularFile);
        BASIC.put("isDirectory", BasicFileAttributes::isDirectory);
        BASIC.put("isSymbolicLink", BasicFileAttributes::isSymbolicLink);
        BASIC.put("isOther", BasicFileAttributes::isOther);
        BASIC.put("fileKey", BasicFileAttributes::fileKey);
        QED.putAll(BASIC);
        QED.put("clusterSize", QedFileAttributes::clusterSize);
        QED.put("tableSize", QedFileAttributes::tableSize);
        QED.put("virtualSize", QedFileAttributes::virtualSize);
        QED.put("backingFile", QedFileAttributes::backingFile);
        QED.put("backingFormat", QedFileAttributes::backingFormat);
        QED.put("needsCheck", QedFileAttributes::needsCheck);
        QED.put("allocatedBytes", QedFileAttributes::allocatedBytes);
    }

    private AttributeViews() {
    }

    @SuppressWarnings("unchecked")
    static <V extends FileAttributeView> V view(QedPath path, Class<V> type) {
        if (type == BasicFileAttributeView.class || type == QedFileAttributeView.class) {
            return (V) new View(path, type == QedFileAttributeView.class ? "qed" : "basic");
        }
        return null;
    }

    @SuppressWarnings("unchecked")
    static <A extends BasicFileAttributes> A read(QedPath path, Class<A> type) throws IOException {
        if (type == BasicFileAttributes.class) {
            return (A) DiskAttributes.read(path, false);
        }
        if (type == QedFileAttributes.class) {
            return (A) DiskAttributes.read(path, true);
        }
        throw new UnsupportedOperationException("a qed: file system has no attributes of type " + type.getName()
                + " (supported: BasicFileAttributes, QedFileAttributes)");
    }

    /** {@code Files.readAttributes(path, "view:a,b")} with views basic and qed. */
    static Map<String, Object> read(QedPath path, String attributes) throws IOException {
        int colon = attributes.indexOf(':');
        String view = colon < 0 ? "basic" : attributes.substring(0, colon);
        String names = colon < 0 ? attributes : attributes.substring(colon + 1);
        Map<String, Function<QedFileAttributes, Object>> known = switch (view) {
            case "basic" -> BASIC;
            case "qed" -> QED;
            default -> throw new UnsupportedOperationException("attribute view '" + view
                    + "' is not supported by a qed: file system (supported: basic, qed)");
        };
        List<String> wanted = names.equals("*") ? List.copyOf(known.keySet()) : List.of(names.split(","));
        for (String n : wanted) {
            if (!n.equals("*") && !known.containsKey(n)) {
                throw new IllegalArgumentException("'" + n + "' is not an attribute of view '" + view
                        + "' (known: " + String.join(", ", known.keySet()) + ")");
            }
        }
        boolean all = wanted.contains("*");
        DiskAttributes a = DiskAttributes.read(path, view.equals("qed")
                && (all || wanted.contains("allocatedBytes")));
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, Function<QedFileAttributes, Object>> e : known.entrySet()) {
            if (all || wanted.contains(e.getKey())) {
                out.put(e.getKey(), e.getValue().apply(a));
            }
        }
        return out;
    }

    /** {@code Files.setAttribute}: only the basic times can be set; they are the image file's. */
    static void set(QedPath path, String attribute, Object value) throws IOException {
        int colon = attribute.indexOf(':');
        String view = colon < 0 ? "basic" : attribute.substring(0, colon);
        String name = colon < 0 ? attribute : attribute.substring(colon + 1);
        if (!VIEWS.contains(view)) {
            throw new UnsupportedOperationException("attribute view '" + view + "' is not supported by a qed:"
                    + " file system (supported: basic, qed)");
        }
        if (!(name.equals("lastModifiedTime") || name.equals("lastAccessTime") || name.equals("creationTime"))) {
            throw new IllegalArgumentException("attribute '" + attribute + "' cannot be set (only the basic times"
                    + " can; the qed attributes are read-only)");
        }
        if (!(value instanceof FileTime t)) {
            throw new ClassCastException("attribute '" + attribute + "' takes a FileTime, not " + value);
        }
        new View(path, view).setTimes(name.equals("lastModifiedTime") ? t : null,
                name.equals("lastAccessTime") ? t : null, name.equals("creationTime") ? t : null);
    }

    /** Both views; {@code setTimes} applies to the image file. */
    private static final class View implements QedFileAttributeView {
        private final QedPath path;
        private final String name;

        View(QedPath path, String name) {
            this.path = path;
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public QedFileAttributes readAttributes() throws IOException {
            return DiskAttributes.read(path, name.equals("qed"));
        }

        @Override
        public void setTimes(FileTime lastModifiedTime, FileTime lastAccessTime, FileTime createTime)
                throws IOException {
            QedFileSystem fs = path.getFileSystem();
            fs.provider().checkAccess(path);
            if (fs.isReadOnly()) {
                throw new QedReadOnlyFileSystemException(fs.image(), fs.readOnlyReason());
            }
            // The JDK sets times through a descriptor of its own; LockSafeFiles takes the image locks again after it.
            LockSafeFiles.setTimes(fs.image(), lastModifiedTime, lastAccessTime, createTime);
        }
    }
}
