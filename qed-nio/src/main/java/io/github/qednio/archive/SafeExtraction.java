package io.github.qednio.archive;

import io.github.qednio.archive.ArchiveReader.Item;
import io.github.qednio.archive.ArchiveReader.Type;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Extracts an archive under one directory in two passes, so that a refused archive leaves the directory exactly as
 * it was (not even created). {@link #check} writes nothing: it follows every entry through a model of the directory
 * (what is on the disk, overlaid with what the entries before made) and refuses the archive at the first entry that
 * could not be extracted safely. {@link #extract} then writes, checking each entry again against the disk.
 *
 * <p>The rules are bsdtar's (GNU tar's too, but that it writes through a link that stays inside): names that are
 * absolute or have {@code ..} components are refused; symbolic links are made whatever they point to, but nothing is
 * written through one (an entry with a link on its path is refused, and a file, link or directory entry whose place
 * holds a link or file replaces it); a hard link must name a file inside the directory; a directory is never
 * replaced. Files are written sparse (runs of zeros become holes). Modes, setuid, setgid and sticky bits included,
 * are applied as {@code tar -p} applies them, a directory's after everything else (a read-only directory would
 * refuse its own contents).
 */
final class SafeExtraction {
    private static final int CHUNK = 1 << 20;
    private static final byte[] ZEROS = new byte[CHUNK];

    /** What is at a place under the directory. */
    private enum Node { ABSENT, DIRECTORY, FILE, LINK, OTHER }

    /** A directory's mode and time, applied once everything else is extracted. */
    private record Pending(Path path, int mode, FileTime mtime) {
    }

    private final Path dir;
    private final String source;
    private final byte[] chunk = new byte[CHUNK];
    /** While checking: what the entries so far made, by relative name. */
    private final Map<String, Node> model = new HashMap<>();
    /** While checking: directories the entries made or put in place of a file; nothing on the disk is under them. */
    private final Set<String> fresh = new HashSet<>();
    private final List<Pending> directories = new ArrayList<>();
    private boolean checking = true;
    /** The real directory, once it exists; null while checking a directory that does not exist yet. */
    private Path root;
    private boolean created;
    private int total;
    private int entries;
    private long bytes;
    private String current;
    private String partial;

    /** Extracts into {@code dir}; {@code source} names the archive in messages. Creates nothing yet. */
    SafeExtraction(Path dir, String source) throws IOException {
        this.dir = dir.toAbsolutePath().normalize();
        this.source = source;
        for (Path p = this.dir; p != null; p = p.getParent()) {
            if (Files.isDirectory(p)) {
                root = p.equals(this.dir) ? p.toRealPath() : null;
                return;
            }
            if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                throw new ArchiveException(source + ": cannot unpack into " + dir + ": " + p
                        + " is not a directory");
            }
        }
    }

    int entries() {
        return entries;
    }

    long bytes() {
        return bytes;
    }

    /** Pass one: refuses the entry if it could not be extracted safely after those checked before. Writes nothing. */
    void check(Item item, InputStream data) throws IOException {
        Place place = place(item);
        if (item.type() == Type.FILE) {
            truncated(item, data.transferTo(OutputStream.nullOutputStream()));
        }
        if (!place.rel().isEmpty()) {
            model.put(place.rel(), switch (item.type()) {
                case DIRECTORY -> Node.DIRECTORY;
                case FILE, HARDLINK -> Node.FILE;
                case SYMLINK -> Node.LINK;
            });
            if (item.type() == Type.DIRECTORY && place.was() != Node.DIRECTORY) {
                fresh.add(place.rel());
            }
        }
        total++;
    }

    /** Pass two: extracts the entry; called for the entries {@link #check} accepted, in the same order. */
    void extract(Item item, InputStream data) throws IOException {
        current = item.name();
        if (checking) {
            checking = false;
            model.clear();
            fresh.clear();
            boolean absent = Files.notExists(dir);
            Files.createDirectories(dir);
            created = absent;
            root = dir.toRealPath();
        }
        Place place = place(item);
        Path dest = place.rel().isEmpty() ? root : root.resolve(place.rel());
        if (place.was() != Node.ABSENT && place.was() != Node.DIRECTORY) {
            Files.delete(dest); // a link is removed, not followed
        }
        switch (item.type()) {
            case DIRECTORY -> {
                if (place.was() != Node.DIRECTORY) {
                    Files.createDirectory(dest);
                }
                directories.add(new Pending(dest, item.mode(), item.mtime()));
            }
            case FILE -> file(item, dest, data);
            case SYMLINK -> Files.createSymbolicLink(dest, dest.getFileSystem().getPath(item.link()));
            case HARDLINK -> Files.createLink(dest, root.resolve(place.hardLinkTarget()));
        }
        entries++;
    }

    /** Applies the directories' modes and times, in reverse archive order (a directory after those inside it). */
    void finish() throws IOException {
        for (int i = directories.size() - 1; i >= 0; i--) {
            Pending d = directories.get(i);
            if (d.mode() >= 0) {
                mode(d.path(), d.mode());
            }
            if (d.mtime() != null) {
                Files.setLastModifiedTime(d.path(), d.mtime());
            }
        }
        directories.clear();
    }

    /**
     * The failure {@code e} of the second pass, saying what it left behind: the entries extracted before it, whose
     * directories get their modes and times all the same.
     */
    IOException failed(IOException e) {
        try {
            finish();
        } catch (IOException | RuntimeException again) {
            e.addSuppressed(again);
        }
        String message = source + ": unpacking stopped at entry '" + current + "': " + e.getMessage() + "; left in "
                + dir + (created ? " (created by this unpack)" : "") + ": the first " + entries + " of " + total
                + " entries" + (partial != null ? ", and '" + partial + "' partly written" : "");
        return e instanceof ArchiveException ? new ArchiveException(message, e) : new IOException(message, e);
    }

    /**
     * Where an entry goes: its relative name ("" for the directory itself), what was there before it, and a hard
     * link's target's relative name.
     */
    private record Place(String rel, Node was, String hardLinkTarget) {
    }

    /** Where the entry goes, after checking it and the directories on its way (made when extracting). */
    private Place place(Item item) throws IOException {
        String name = item.name();
        List<String> parts = components(name, name);
        if (parts.isEmpty()) {
            if (item.type() != Type.DIRECTORY) {
                throw refused(name, "has no file name");
            }
            return new Place("", Node.DIRECTORY, null);
        }
        boolean under = directories(name, parts, parts.size() - 1, true);
        String rel = String.join("/", parts);
        Node was = node(rel, under);
        if (was == Node.DIRECTORY && item.type() != Type.DIRECTORY) {
            throw refused(name, "would replace the directory '" + rel + "'");
        }
        if (item.type() == Type.SYMLINK && item.link().isEmpty()) {
            throw refused(name, "is a symbolic link with an empty target");
        }
        return new Place(rel, was, item.type() == Type.HARDLINK ? hardLink(name, item.link(), rel) : null);
    }

    /** Checks a hard link's target: a file inside the directory, reached through no link. */
    private String hardLink(String name, String target, String rel) throws IOException {
        List<String> parts = components(name, target);
        if (parts.isEmpty()) {
            throw refused(name, "is a hard link without a target");
        }
        boolean under = directories(name, parts, parts.size() - 1, false);
        String targetRel = String.join("/", parts);
        if (targetRel.equals(rel)) {
            throw refused(name, "is a hard link to itself");
        }
        if (node(targetRel, under) != Node.FILE) {
            throw refused(name, "is a hard link to '" + target + "', which is not a file in " + dir);
        }
        return targetRel;
    }

    /**
     * Checks the first {@code n} components of {@code parts} as directories on the way to an entry: none may be a
     * link or a file. Missing ones are made ({@code make}: in the model while checking, on the disk while extracting).
     * Returns whether the last of them is new (so nothing on the disk is under it).
     */
    private boolean directories(String name, List<String> parts, int n, boolean make) throws IOException {
        boolean under = root == null;
        StringBuilder prefix = new StringBuilder();
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                prefix.append('/');
            }
            prefix.append(parts.get(i));
            String p = prefix.toString();
            switch (node(p, under)) {
                case LINK -> throw refused(name, "goes through the symbolic link '" + p + "' (nothing is extracted"
                        + " through a link)");
                case FILE, OTHER -> throw refused(name, "needs '" + p + "' to be a directory, but it is a file");
                case DIRECTORY -> under |= checking && fresh.contains(p);
                case ABSENT -> {
                    if (!make) {
                        return true;
                    }
                    under = true;
                    if (checking) {
                        model.put(p, Node.DIRECTORY);
                        fresh.add(p);
                    } else {
                        Files.createDirectory(root.resolve(p));
                    }
                }
            }
        }
        return under;
    }

    /** What is at {@code rel}: in the model while checking (nothing of the disk {@code under} a new directory). */
    private Node node(String rel, boolean under) throws IOException {
        if (checking) {
            Node n = model.get(rel);
            if (n != null) {
                return n;
            }
            if (under) {
                return Node.ABSENT;
            }
        }
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(root.resolve(rel), BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return Node.ABSENT;
        }
        return a.isSymbolicLink() ? Node.LINK : a.isDirectory() ? Node.DIRECTORY : a.isRegularFile() ? Node.FILE
                : Node.OTHER;
    }

    private void truncated(Item item, long written) throws ArchiveException {
        if (item.size() >= 0 && written < item.size()) {
            throw new ArchiveException(source + ": entry '" + item.name() + "' is truncated (" + written + " of "
                    + item.size() + " bytes): the archive is damaged or was cut short");
        }
    }

    /** Writes a file of {@code item.size()} bytes read from {@code in} (-1: until its end). */
    private void file(Item item, Path dest, InputStream in) throws IOException {
        long size = item.size();
        long written = 0;
        try (FileChannel out = FileChannel.open(dest, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int k; (size < 0 || written < size)
                    && (k = in.read(chunk, 0, (int) (size < 0 ? CHUNK : Math.min(CHUNK, size - written)))) >= 0; ) {
                if (!isZeros(chunk, k)) {
                    ByteBuffer b = ByteBuffer.wrap(chunk, 0, k);
                    while (b.hasRemaining()) {
                        out.write(b, written + b.position());
                    }
                }
                written += k;
            }
            if (out.size() < written) {
                // A trailing hole: the length comes from writing the last byte.
                out.write(ByteBuffer.allocate(1), written - 1);
            }
        } catch (IOException | RuntimeException e) {
            try {
                Files.deleteIfExists(dest);
            } catch (IOException again) {
                e.addSuppressed(again);
                partial = item.name();
            }
            throw e;
        }
        truncated(item, written);
        if (item.mode() >= 0) {
            mode(dest, item.mode());
        }
        if (item.mtime() != null) {
            Files.setLastModifiedTime(dest, item.mtime());
        }
        bytes += written;
    }

    /** The name's components; refused if absolute or with {@code ..} ({@code name} is the entry's, for messages). */
    private List<String> components(String name, String path) throws ArchiveException {
        String what = path.equals(name) ? "" : "is a hard link to '" + path + "', which ";
        if (path.startsWith("/")) {
            throw refused(name, what + "has an absolute name");
        }
        if (path.indexOf('\0') >= 0) {
            throw refused(name, what + "has a NUL character in its name");
        }
        List<String> parts = new ArrayList<>();
        for (String part : path.split("/")) {
            if (part.equals("..")) {
                throw refused(name, what + "has a '..' component");
            }
            if (!part.isEmpty() && !part.equals(".")) {
                parts.add(part);
            }
        }
        return parts;
    }

    private ArchiveException refused(String name, String why) {
        return new ArchiveException(source + ": entry '" + name + "' " + why + "; refused"
                + (checking ? " (nothing was extracted: " + dir + " is as it was)" : ""));
    }

    /** Sets the permission bits and the setuid, setgid and sticky bits, as chmod does. */
    private static void mode(Path file, int mode) throws IOException {
        try {
            Files.setAttribute(file, "unix:mode", mode & 07777, LinkOption.NOFOLLOW_LINKS);
            return;
        } catch (UnsupportedOperationException | IllegalArgumentException e) {
            // No "unix" view (not Linux or macOS, or another file system): the permission bits alone.
        }
        Set<PosixFilePermission> perms = EnumSet.noneOf(PosixFilePermission.class);
        for (PosixFilePermission p : PosixFilePermission.values()) {
            if ((mode & (0400 >> p.ordinal())) != 0) {
                perms.add(p);
            }
        }
        try {
            Files.setPosixFilePermissions(file, perms);
        } catch (UnsupportedOperationException e) {
            // Not a POSIX file system: the default permissions stay.
        }
    }

    private static boolean isZeros(byte[] b, int n) {
        return Arrays.mismatch(b, 0, n, ZEROS, 0, n) < 0;
    }
}
