package io.github.qednio.archive;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The entries to pack, listed once before anything is written (so the automatic size and the archive agree): each
 * source under its own file name, directories walked in name order (the same sources give the same archive),
 * symbolic links recorded as links and never followed.
 */
final class SourceTree {
    /** Linux's limit on links followed while resolving one path. */
    private static final int MAX_LINKS = 40;

    private SourceTree() {
    }

    public enum Kind { DIRECTORY, FILE, SYMLINK }

    /**
     * One entry.
     *
     * @param name    relative name with {@code /} separators, no trailing slash
     * @param path    the file on the host
     * @param kind    what it is
     * @param size    bytes of a file (0 otherwise): exactly this many are packed
     * @param mode    permission bits with the setuid, setgid and sticky bits ({@code 07777})
     * @param mtime   last modification
     * @param target  a link's target as stored in the link, else null
     */
    record Entry(String name, Path path, Kind kind, long size, int mode, FileTime mtime, String target) {
    }

    static List<Entry> walk(List<Path> sources) throws IOException {
        List<Entry> entries = new ArrayList<>();
        Set<String> tops = new HashSet<>();
        for (Path source : sources) {
            Path name = source.toAbsolutePath().normalize().getFileName();
            if (name == null) {
                throw new ArchiveException(source + ": a file system root cannot be packed under a name; pack the"
                        + " directories inside it instead");
            }
            if (!tops.add(name.toString())) {
                throw new ArchiveException(source + ": another source is also named '" + name + "'; each source is"
                        + " packed under its own file name, so they would overwrite each other");
            }
            add(entries, source, name.toString());
        }
        return entries;
    }

    /**
     * The symbolic links among {@code entries} that lead outside them: absolute, or climbing above the archive's top
     * with {@code ..}, or ending at a name that is not one of its sources, following the entries' own links on the
     * way (as the links will be followed once unpacked).
     */
    static List<PackResult.Link> linksOutside(List<Entry> entries) {
        Map<String, String> links = new HashMap<>();
        Set<String> tops = new HashSet<>();
        for (Entry e : entries) {
            tops.add(e.name().split("/", 2)[0]);
            if (e.kind() == Kind.SYMLINK) {
                links.put(e.name(), e.target());
            }
        }
        List<PackResult.Link> outside = new ArrayList<>();
        for (Entry e : entries) {
            if (e.kind() == Kind.SYMLINK) {
                List<String> from = new ArrayList<>(List.of(e.name().split("/")));
                from.remove(from.size() - 1);
                List<String> to = resolve(from, e.target(), links, 0);
                if (to == null || to.isEmpty() || !tops.contains(to.get(0))) {
                    outside.add(new PackResult.Link(e.name(), e.target()));
                }
            }
        }
        return outside;
    }

    /** Where {@code target} leads from the directory {@code from} (components); null if above the top. */
    private static List<String> resolve(List<String> from, String target, Map<String, String> links, int depth) {
        if (target.startsWith("/")) {
            return null;
        }
        List<String> cur = new ArrayList<>(from);
        for (String part : target.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (cur.isEmpty()) {
                    return null;
                }
                cur.remove(cur.size() - 1);
                continue;
            }
            cur.add(part);
            String link = links.get(String.join("/", cur));
            if (link != null && depth < MAX_LINKS) { // past Linux's limit the link does not resolve: not outside
                cur = resolve(cur.subList(0, cur.size() - 1), link, links, depth + 1);
                if (cur == null) {
                    return null;
                }
            }
        }
        return cur;
    }

    private static void add(List<Entry> entries, Path path, String name) throws IOException {
        BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        int mode = mode(path, a);
        if (a.isSymbolicLink()) {
            entries.add(new Entry(name, path, Kind.SYMLINK, 0, 0777, a.lastModifiedTime(),
                    Files.readSymbolicLink(path).toString()));
        } else if (a.isDirectory()) {
            entries.add(new Entry(name, path, Kind.DIRECTORY, 0, mode, a.lastModifiedTime(), null));
            List<Path> children;
            try (Stream<Path> s = Files.list(path)) {
                children = s.sorted().toList();
            }
            for (Path child : children) {
                add(entries, child, name + "/" + child.getFileName());
            }
        } else if (a.isRegularFile()) {
            entries.add(new Entry(name, path, Kind.FILE, a.size(), mode, a.lastModifiedTime(), null));
        } else {
            throw new ArchiveException(path + ": not a regular file, directory or symbolic link (devices, pipes and"
                    + " sockets are not packed)");
        }
    }

    private static int mode(Path path, BasicFileAttributes basic) throws IOException {
        if (basic.isSymbolicLink()) {
            return 0777;
        }
        try {
            return (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
        } catch (UnsupportedOperationException | IllegalArgumentException e) {
            // No "unix" view (not Linux or macOS, or another file system): the permission bits alone.
        }
        PosixFileAttributes posix;
        try {
            posix = Files.readAttributes(path, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (UnsupportedOperationException e) {
            return basic.isDirectory() ? 0755 : 0644;
        }
        int mode = 0;
        for (PosixFilePermission p : posix.permissions()) {
            mode |= 0400 >> p.ordinal(); // OWNER_READ, OWNER_WRITE, ... OTHERS_EXECUTE: rwxrwxrwx in that order
        }
        return mode;
    }
}
