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
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The entries to pack, listed once before anything is written (so the automatic size and the archive agree): each
 * source under its own file name, directories walked in name order (the same sources give the same archive),
 * symbolic links recorded as links and never followed.
 */
final class SourceTree {
    private SourceTree() {
    }

    enum Kind { DIRECTORY, FILE, SYMLINK }

    /**
     * One entry.
     *
     * @param name    relative name with {@code /} separators, no trailing slash
     * @param path    the file on the host
     * @param kind    what it is
     * @param size    bytes of a file (0 otherwise): exactly this many are packed
     * @param mode    permission bits ({@code 0777} and above)
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
