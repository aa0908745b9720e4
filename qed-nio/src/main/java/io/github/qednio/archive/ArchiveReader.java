package io.github.qednio.archive;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.attribute.FileTime;
import java.util.Collections;
import org.apache.commons.compress.archivers.sevenz.SevenZArchiveEntry;
import org.apache.commons.compress.archivers.sevenz.SevenZFile;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.zip.UnixStat;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipArchiveInputStream;
import org.apache.commons.compress.archivers.zip.ZipFile;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * Reads the archive on a disk, whatever its format (found by its first bytes), entry by entry. Failures of the
 * archive itself (damaged, truncated, not an archive) become one {@link ArchiveException} naming the source, the
 * format and the last entry read; failures of the visitor (the extraction's own writes) pass through unchanged.
 */
final class ArchiveReader {
    private ArchiveReader() {
    }

    enum Type { DIRECTORY, FILE, SYMLINK, HARDLINK }

    /**
     * One entry.
     *
     * @param size  bytes of a file, or -1 if the archive does not say
     * @param mode  permission bits with the setuid, setgid and sticky bits ({@code 07777}), or -1 if the archive
     *              does not say
     * @param mtime last modification, or null
     * @param link  a link's target, else null
     */
    record Item(String name, Type type, long size, int mode, FileTime mtime, String link) {
    }

    interface Visitor {
        /** Called for each entry in archive order; {@code data} is a file's content (empty for other types). */
        void visit(Item item, InputStream data) throws IOException;
    }

    /** The format of the archive on {@code disk}, read from its first bytes. */
    static ArchiveFormat detect(SeekableByteChannel disk, String source) throws IOException {
        return kind(disk, source).format;
    }

    /** Reads every entry of the archive on {@code disk} into {@code visitor}; returns the format. */
    static ArchiveFormat read(SeekableByteChannel disk, String source, Visitor visitor) throws IOException {
        Kind kind = kind(disk, source);
        Reading r = new Reading(source, kind, visitor);
        try {
            switch (kind) {
                case TAR, TAR_GZ -> r.tar(disk);
                case ZIP -> r.zip(disk);
                case SEVEN_Z -> r.sevenZ(disk);
                default -> throw new IllegalStateException(kind.toString());
            }
        } catch (VisitorFailure f) {
            throw f.getCause();
        } catch (ArchiveException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw r.damaged(e);
        }
        return kind.format;
    }

    private enum Kind {
        TAR(ArchiveFormat.TAR), TAR_GZ(ArchiveFormat.TAR), ZIP(ArchiveFormat.ZIP), SEVEN_Z(ArchiveFormat.SEVEN_Z);

        final ArchiveFormat format;

        Kind(ArchiveFormat format) {
            this.format = format;
        }
    }

    private static Kind kind(SeekableByteChannel disk, String source) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(512);
        disk.position(0);
        while (head.hasRemaining() && disk.read(head) >= 0) {
            // keep reading: a channel may return fewer bytes than asked
        }
        disk.position(0);
        byte[] b = head.array();
        int n = head.position();
        if (SevenZFile.matches(b, n)) {
            return Kind.SEVEN_Z;
        }
        if (ZipArchiveInputStream.matches(b, n)) {
            return Kind.ZIP;
        }
        if (n >= 2 && (b[0] & 0xff) == 0x1f && (b[1] & 0xff) == 0x8b) {
            return Kind.TAR_GZ;
        }
        if (TarArchiveInputStream.matches(b, n)) {
            return Kind.TAR;
        }
        throw new ArchiveException(source + ": no tar, zip or 7z archive at the start of the disk (first bytes "
                + hex(b, Math.min(n, 8)) + ")");
    }

    private static String hex(byte[] b, int n) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < n; i++) {
            s.append(String.format("%02x", b[i] & 0xff));
        }
        return s.toString();
    }

    /** An IOException of the visitor, carried through the archive-damage handling untouched. */
    private static final class VisitorFailure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        VisitorFailure(IOException cause) {
            super(cause);
        }

        @Override
        public synchronized IOException getCause() {
            return (IOException) super.getCause();
        }
    }

    private static final class Reading {
        private final String source;
        private final Kind kind;
        private final Visitor visitor;
        private String last;

        Reading(String source, Kind kind, Visitor visitor) {
            this.source = source;
            this.kind = kind;
            this.visitor = visitor;
        }

        ArchiveException damaged(Exception e) {
            String where = last == null ? "before its first entry" : "after entry '" + last + "'";
            return new ArchiveException(source + ": damaged or truncated " + kind.format.label() + " archive on the"
                    + " disk (" + where + "): " + e.getMessage(), e);
        }

        private void visit(Item item, InputStream data) {
            last = item.name();
            try {
                visitor.visit(item, new Guarded(data));
            } catch (IOException e) {
                throw new VisitorFailure(e);
            }
        }

        void tar(SeekableByteChannel disk) throws IOException {
            InputStream in = new BufferedInputStream(Channels.newInputStream(disk), 1 << 20);
            if (kind == Kind.TAR_GZ) {
                in = GzipCompressorInputStream.builder().setInputStream(in).setDecompressConcatenated(true).get();
            }
            try (TarArchiveInputStream tar = new TarArchiveInputStream(in, StandardCharsets.UTF_8.name())) {
                for (TarArchiveEntry e; (e = tar.getNextEntry()) != null; ) {
                    Type type;
                    if (e.isDirectory()) {
                        type = Type.DIRECTORY;
                    } else if (e.isSymbolicLink()) {
                        type = Type.SYMLINK;
                    } else if (e.isLink()) {
                        type = Type.HARDLINK;
                    } else if (e.isCharacterDevice() || e.isBlockDevice() || e.isFIFO()) {
                        throw new VisitorFailure(new ArchiveException(source + ": entry '" + e.getName() + "' is a"
                                + " device or pipe; refused (only files, directories and links are extracted)"));
                    } else {
                        type = Type.FILE;
                    }
                    visit(new Item(e.getName(), type, type == Type.FILE ? e.getSize() : 0, e.getMode() & 07777,
                            FileTime.from(e.getModTime().toInstant()), e.getLinkName()), tar);
                }
            }
        }

        void zip(SeekableByteChannel disk) throws IOException {
            ZipFile zip;
            try {
                zip = ZipFile.builder().setSeekableByteChannel(disk).get();
            } catch (IOException e) {
                throw new ArchiveException(source + ": the zip archive's central directory is not at the end of the"
                        + " disk (damaged or truncated, or packed on a disk larger than the archive): "
                        + e.getMessage(), e);
            }
            try (zip) {
                for (ZipArchiveEntry e : Collections.list(zip.getEntriesInPhysicalOrder())) {
                    if (!zip.canReadEntryData(e)) {
                        throw new ArchiveException(source + ": zip entry '" + e.getName() + "' uses a compression"
                                + " method that cannot be read (" + e.getMethod() + ")");
                    }
                    int mode = e.getPlatform() == ZipArchiveEntry.PLATFORM_UNIX ? e.getUnixMode() & 07777 : -1;
                    FileTime mtime = e.getLastModifiedTime();
                    if (e.isDirectory()) {
                        visit(new Item(e.getName(), Type.DIRECTORY, 0, mode, mtime, null), InputStream.nullInputStream());
                    } else if (e.isUnixSymlink()) {
                        visit(new Item(e.getName(), Type.SYMLINK, 0, mode, mtime, zip.getUnixSymlink(e)),
                                InputStream.nullInputStream());
                    } else {
                        try (InputStream data = zip.getInputStream(e)) {
                            visit(new Item(e.getName(), Type.FILE, e.getSize(), mode, mtime, null), data);
                        }
                    }
                }
            }
        }

        void sevenZ(SeekableByteChannel disk) throws IOException {
            try (SevenZFile sz = SevenZFile.builder().setSeekableByteChannel(disk).get()) {
                InputStream current = new InputStream() {
                    @Override
                    public int read() throws IOException {
                        return sz.read();
                    }

                    @Override
                    public int read(byte[] b, int off, int len) throws IOException {
                        return sz.read(b, off, len);
                    }
                };
                for (SevenZArchiveEntry e; (e = sz.getNextEntry()) != null; ) {
                    int attributes = e.getHasWindowsAttributes() ? e.getWindowsAttributes() : 0;
                    int unix = (attributes & ArchiveWriter.SEVEN_Z_UNIX_EXTENSION) != 0 ? attributes >>> 16 : -1;
                    FileTime mtime = e.getHasLastModifiedDate() ? e.getLastModifiedTime() : null;
                    int mode = unix >= 0 ? unix & 07777 : -1;
                    if (e.isDirectory()) {
                        visit(new Item(e.getName(), Type.DIRECTORY, 0, mode, mtime, null), InputStream.nullInputStream());
                    } else if (unix >= 0 && (unix & UnixStat.FILE_TYPE_FLAG) == UnixStat.LINK_FLAG) {
                        String target = new String(current.readNBytes((int) Math.min(e.getSize(), 1 << 16)),
                                StandardCharsets.UTF_8);
                        visit(new Item(e.getName(), Type.SYMLINK, 0, mode, mtime, target), InputStream.nullInputStream());
                    } else {
                        visit(new Item(e.getName(), Type.FILE, e.hasStream() ? e.getSize() : 0, mode, mtime, null),
                                e.hasStream() ? current : InputStream.nullInputStream());
                    }
                }
            }
        }

        /** The archive's data stream, whose failures are the archive's (damaged), not the visitor's. */
        private final class Guarded extends InputStream {
            private final InputStream in;

            Guarded(InputStream in) {
                this.in = in;
            }

            @Override
            public int read() throws IOException {
                try {
                    return in.read();
                } catch (IOException | RuntimeException e) {
                    throw damaged(e);
                }
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                try {
                    return in.read(b, off, len);
                } catch (IOException | RuntimeException e) {
                    throw damaged(e);
                }
            }
        }
    }
}
