package io.github.qednio.archive;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Writes archive entries under one directory and nowhere else. Names that are absolute or have {@code ..}
 * components are refused; every directory on the way to an entry is walked on the host, following the symbolic
 * links earlier entries made, and each step must stay inside the directory (so a link escaping it is never written
 * through); a new link's target is resolved the same way and refused if it leaves the directory. An existing file or
 * link at an entry's place is replaced (never written through); an existing directory is kept. Files are written
 * sparse: runs of zeros become holes.
 */
final class SafeExtraction {
    /** Linux's limit on links followed while resolving one path. */
    private static final int MAX_LINKS = 40;
    private static final int CHUNK = 1 << 20;
    private static final byte[] ZEROS = new byte[CHUNK];

    private final Path dir;
    private final String source;
    private final byte[] chunk = new byte[CHUNK];
    private int entries;
    private long bytes;

    /** Extracts into {@code dir} (created if missing); {@code source} names the archive in messages. */
    SafeExtraction(Path dir, String source) throws IOException {
        Files.createDirectories(dir);
        this.dir = dir.toRealPath();
        this.source = source;
    }

    int entries() {
        return entries;
    }

    long bytes() {
        return bytes;
    }

    void directory(String name) throws IOException {
        List<String> parts = components(name);
        Path cur = dir;
        for (String part : parts) {
            cur = step(name, cur, part, true);
        }
        entries++;
    }

    /** Writes a file of {@code size} bytes read from {@code in} (-1: until its end). */
    void file(String name, InputStream in, long size, int mode, FileTime mtime) throws IOException {
        Path dest = replaceable(name);
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
        }
        if (size >= 0 && written < size) {
            throw new ArchiveException(source + ": entry '" + name + "' is truncated (" + written + " of " + size
                    + " bytes): the archive is damaged or was cut short");
        }
        if (mode >= 0) {
            permissions(dest, mode);
        }
        if (mtime != null) {
            Files.setLastModifiedTime(dest, mtime);
        }
        bytes += written;
        entries++;
    }

    void symlink(String name, String target) throws IOException {
        Path dest = replaceable(name);
        if (target.isEmpty() || target.startsWith("/")) {
            throw refused(name, "is a symbolic link to the absolute path '" + target + "'");
        }
        resolve(name, dest.getParent(), target, 0);
        Files.createSymbolicLink(dest, dest.getFileSystem().getPath(target));
        entries++;
    }

    /** A tar hard link to {@code targetName}, an entry extracted before. */
    void hardLink(String name, String targetName) throws IOException {
        List<String> parts = components(targetName);
        Path cur = dir;
        for (int i = 0; i < parts.size(); i++) {
            cur = step(name, cur, parts.get(i), false);
        }
        if (!Files.isRegularFile(cur, LinkOption.NOFOLLOW_LINKS)) {
            throw refused(name, "is a hard link to '" + targetName + "', which is not a file extracted before");
        }
        Files.createLink(replaceable(name), cur);
        entries++;
    }

    /** The place of a file or link entry, its directories created, anything but a directory there removed. */
    private Path replaceable(String name) throws IOException {
        List<String> parts = components(name);
        if (parts.isEmpty()) {
            throw refused(name, "has no file name");
        }
        Path cur = dir;
        for (int i = 0; i < parts.size() - 1; i++) {
            cur = step(name, cur, parts.get(i), true);
        }
        Path dest = cur.resolve(parts.get(parts.size() - 1));
        if (Files.isDirectory(dest, LinkOption.NOFOLLOW_LINKS)) {
            throw refused(name, "would replace the directory " + dest);
        }
        Files.deleteIfExists(dest); // a link is removed, not followed
        return dest;
    }

    /** The directory {@code part} under {@code cur} (real, inside), following links, created if allowed. */
    private Path step(String name, Path cur, String part, boolean create) throws IOException {
        Path next = cur.resolve(part);
        if (Files.isSymbolicLink(next)) {
            next = resolve(name, cur, Files.readSymbolicLink(next).toString(), 1);
        }
        if (create && Files.notExists(next, LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectory(next);
        } else if (create && !Files.isDirectory(next, LinkOption.NOFOLLOW_LINKS)) {
            throw refused(name, "needs " + next + " to be a directory");
        }
        return next;
    }

    /** Where {@code target}, read from {@code from}, leads, following links; refused if any step leaves the dir. */
    private Path resolve(String name, Path from, String target, int depth) throws IOException {
        if (depth > MAX_LINKS) {
            throw refused(name, "goes through more than " + MAX_LINKS + " symbolic links");
        }
        if (target.startsWith("/")) {
            throw refused(name, "goes through a symbolic link to the absolute path '" + target + "'");
        }
        Path cur = from;
        for (String part : target.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            cur = part.equals("..") ? cur.getParent() : cur.resolve(part);
            if (cur == null || !cur.startsWith(dir)) {
                throw refused(name, "leads outside " + dir + " through the link target '" + target + "'");
            }
            if (!part.equals("..") && Files.isSymbolicLink(cur)) {
                cur = resolve(name, cur.getParent(), Files.readSymbolicLink(cur).toString(), depth + 1);
            }
        }
        return cur;
    }

    /** The name's components; refused if absolute or with {@code ..}. */
    private List<String> components(String name) throws ArchiveException {
        if (name.startsWith("/")) {
            throw refused(name, "has an absolute name");
        }
        if (name.indexOf('\0') >= 0) {
            throw refused(name, "has a NUL character in its name");
        }
        List<String> parts = new ArrayList<>();
        for (String part : name.split("/")) {
            if (part.equals("..")) {
                throw refused(name, "has a '..' component");
            }
            if (!part.isEmpty() && !part.equals(".")) {
                parts.add(part);
            }
        }
        return parts;
    }

    private ArchiveException refused(String name, String why) {
        return new ArchiveException(source + ": entry '" + name + "' " + why + "; refused (nothing is written outside "
                + dir + ")");
    }

    private static void permissions(Path file, int mode) throws IOException {
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
