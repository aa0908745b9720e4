package io.github.qednio.nio;

import java.io.IOException;
import java.net.URI;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.ProviderMismatchException;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A path in a {@code qed:} file system: Unix syntax ({@code /} separator, one root). The file system holds the
 * root directory {@code /} and one regular file in it, {@code /disk}, the virtual disk. Paths are compared by
 * image and string, so {@code Path.of(uri)} twice gives equal paths.
 */
final class QedPath implements Path {
    private static final String[] EMPTY_NAME = {""};

    private final QedFileSystem fs;
    private final boolean absolute;
    /** Name elements; the empty path has the single name "", the root has none. */
    private final String[] names;

    private QedPath(QedFileSystem fs, boolean absolute, String[] names) {
        this.fs = fs;
        this.absolute = absolute;
        this.names = names;
    }

    static QedPath parse(QedFileSystem fs, String first, String... more) {
        StringBuilder sb = new StringBuilder(first);
        for (String m : more) {
            if (!m.isEmpty()) {
                if (sb.length() > 0) {
                    sb.append('/');
                }
                sb.append(m);
            }
        }
        String s = sb.toString();
        int nul = s.indexOf('\0');
        if (nul >= 0) {
            throw new InvalidPathException(s, "NUL character not allowed", nul);
        }
        List<String> parts = new ArrayList<>();
        for (String p : s.split("/")) {
            if (!p.isEmpty()) {
                parts.add(p);
            }
        }
        boolean abs = s.startsWith("/");
        if (!abs && parts.isEmpty()) {
            return new QedPath(fs, false, EMPTY_NAME);
        }
        return new QedPath(fs, abs, parts.toArray(String[]::new));
    }

    private QedPath make(boolean abs, String[] n) {
        if (!abs && n.length == 0) {
            return new QedPath(fs, false, EMPTY_NAME);
        }
        return new QedPath(fs, abs, n);
    }

    private boolean isEmptyPath() {
        return !absolute && names.length == 1 && names[0].isEmpty();
    }

    /** Whether this path, made absolute and normalized, is {@code /disk}. */
    boolean isDisk() {
        QedPath p = toAbsolutePath().normalize();
        return p.names.length == 1 && p.names[0].equals(QedFileSystem.DISK_NAME);
    }

    /** Whether this path, made absolute and normalized, is the root directory. */
    boolean isRoot() {
        return toAbsolutePath().normalize().names.length == 0;
    }

    @Override
    public QedFileSystem getFileSystem() {
        return fs;
    }

    @Override
    public boolean isAbsolute() {
        return absolute;
    }

    @Override
    public Path getRoot() {
        return absolute ? new QedPath(fs, true, new String[0]) : null;
    }

    @Override
    public Path getFileName() {
        if (names.length == 0) {
            return null;
        }
        if (names.length == 1 && !absolute) {
            return this;
        }
        return new QedPath(fs, false, new String[] {names[names.length - 1]});
    }

    @Override
    public Path getParent() {
        if (names.length == 0 || (names.length == 1 && !absolute)) {
            return null;
        }
        return new QedPath(fs, absolute, Arrays.copyOf(names, names.length - 1));
    }

    @Override
    public int getNameCount() {
        return names.length;
    }

    @Override
    public Path getName(int index) {
        if (index < 0 || index >= names.length) {
            throw new IllegalArgumentException("name index " + index + " is not in [0, " + names.length + ")");
        }
        return new QedPath(fs, false, new String[] {names[index]});
    }

    @Override
    public Path subpath(int beginIndex, int endIndex) {
        if (beginIndex < 0 || endIndex > names.length || beginIndex >= endIndex) {
            throw new IllegalArgumentException("subpath [" + beginIndex + ", " + endIndex + ") of a path with "
                    + names.length + " names");
        }
        return new QedPath(fs, false, Arrays.copyOfRange(names, beginIndex, endIndex));
    }

    @Override
    public boolean startsWith(Path other) {
        if (!(other instanceof QedPath o) || !fs.sameImage(o.fs)) {
            return false;
        }
        if (o.absolute != absolute || o.names.length > names.length) {
            return false;
        }
        if (o.isEmptyPath()) {
            return isEmptyPath();
        }
        for (int i = 0; i < o.names.length; i++) {
            if (!o.names[i].equals(names[i])) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean endsWith(Path other) {
        if (!(other instanceof QedPath o) || !fs.sameImage(o.fs)) {
            return false;
        }
        if (o.absolute) {
            return equals(o);
        }
        if (o.isEmptyPath()) {
            return isEmptyPath();
        }
        int off = names.length - o.names.length;
        if (off < 0) {
            return false;
        }
        for (int i = 0; i < o.names.length; i++) {
            if (!o.names[i].equals(names[off + i])) {
                return false;
            }
        }
        return true;
    }

    @Override
    public QedPath normalize() {
        List<String> out = new ArrayList<>();
        for (String n : names) {
            if (n.equals(".") || n.isEmpty()) {
                continue;
            }
            if (n.equals("..")) {
                if (!out.isEmpty() && !out.get(out.size() - 1).equals("..")) {
                    out.remove(out.size() - 1);
                    continue;
                }
                if (absolute) {
                    continue; // "/.." is "/"
                }
            }
            out.add(n);
        }
        return make(absolute, out.toArray(String[]::new));
    }

    @Override
    public Path resolve(Path other) {
        QedPath o = check(other);
        if (o.absolute) {
            return o;
        }
        if (o.isEmptyPath()) {
            return this;
        }
        if (isEmptyPath()) {
            return o;
        }
        String[] n = Arrays.copyOf(names, names.length + o.names.length);
        System.arraycopy(o.names, 0, n, names.length, o.names.length);
        return new QedPath(fs, absolute, n);
    }

    @Override
    public Path relativize(Path other) {
        QedPath o = check(other);
        if (o.absolute != absolute) {
            throw new IllegalArgumentException("cannot relativize '" + o + "' against '" + this
                    + "': one is absolute, the other relative");
        }
        String[] a = isEmptyPath() ? new String[0] : names;
        String[] b = o.isEmptyPath() ? new String[0] : o.names;
        int common = 0;
        while (common < a.length && common < b.length && a[common].equals(b[common])) {
            common++;
        }
        List<String> out = new ArrayList<>();
        for (int i = common; i < a.length; i++) {
            out.add("..");
        }
        out.addAll(Arrays.asList(b).subList(common, b.length));
        return make(false, out.toArray(String[]::new));
    }

    private QedPath check(Path other) {
        Objects.requireNonNull(other, "other");
        if (!(other instanceof QedPath o)) {
            throw new ProviderMismatchException("'" + other + "' is not a qed: path");
        }
        return o;
    }

    @Override
    public URI toUri() {
        QedPath p = toAbsolutePath();
        return p.isDisk() && p.names.length == 1 ? fs.diskUri() : QedUris.pathUri(fs.image(), p.toString());
    }

    @Override
    public QedPath toAbsolutePath() {
        return absolute ? this : new QedPath(fs, true, isEmptyPath() ? new String[0] : names);
    }

    @Override
    public Path toRealPath(LinkOption... options) throws IOException {
        QedPath p = toAbsolutePath().normalize();
        fs.provider().checkAccess(p);
        return p;
    }

    @Override
    public WatchKey register(WatchService watcher, WatchEvent.Kind<?>[] events, WatchEvent.Modifier... modifiers) {
        throw new UnsupportedOperationException("a qed: file system has no watch service");
    }

    @Override
    public int compareTo(Path other) {
        QedPath o = (QedPath) other;
        int c = fs.imageKey().compareTo(o.fs.imageKey());
        return c != 0 ? c : toString().compareTo(o.toString());
    }

    @Override
    public boolean equals(Object obj) {
        return obj instanceof QedPath o && fs.sameImage(o.fs) && toString().equals(o.toString());
    }

    @Override
    public int hashCode() {
        return fs.imageKey().hashCode() * 31 + toString().hashCode();
    }

    @Override
    public String toString() {
        if (isEmptyPath()) {
            return "";
        }
        return (absolute ? "/" : "") + String.join("/", names);
    }
}
