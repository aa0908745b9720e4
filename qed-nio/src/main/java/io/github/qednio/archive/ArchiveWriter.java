package io.github.qednio.archive;

import io.github.qednio.archive.SourceTree.Entry;
import io.github.qednio.archive.SourceTree.Kind;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.util.List;
import org.apache.commons.compress.archivers.sevenz.SevenZArchiveEntry;
import org.apache.commons.compress.archivers.sevenz.SevenZMethod;
import org.apache.commons.compress.archivers.sevenz.SevenZOutputFile;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.apache.commons.compress.archivers.zip.UnixStat;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipArchiveOutputStream;

/** Writes the listed entries as tar, zip or 7z onto a channel (the disk, or a {@link CountingChannel}). */
final class ArchiveWriter {
    /** 7z's attribute bit saying the high 16 bits hold a Unix mode (as p7zip and 7-Zip write it). */
    static final int SEVEN_Z_UNIX_EXTENSION = 0x8000;
    static final int SEVEN_Z_DIRECTORY = 0x10;
    private static final byte[] ZEROS = new byte[64 << 10];

    private ArchiveWriter() {
    }

    /**
     * Writes {@code entries} in {@code format}; the channel is closed. With {@code zeroData} a tar gets zeros for file
     * contents (its length does not depend on them: measuring without reading the files).
     */
    static void write(ArchiveFormat format, List<Entry> entries, SeekableByteChannel out, boolean zeroData)
            throws IOException {
        switch (format) {
            case TAR -> writeTar(entries, out, zeroData);
            case ZIP -> writeZip(entries, out);
            case SEVEN_Z -> write7z(entries, out);
            default -> throw new IllegalStateException(format.toString());
        }
    }

    private static void writeTar(List<Entry> entries, SeekableByteChannel out, boolean zeroData) throws IOException {
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(Channels.newOutputStream(out),
                StandardCharsets.UTF_8.name())) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            tar.setAddPaxHeadersForNonAsciiNames(true);
            for (Entry e : entries) {
                TarArchiveEntry t = switch (e.kind()) {
                    case DIRECTORY -> new TarArchiveEntry(e.name() + "/");
                    case FILE -> new TarArchiveEntry(e.name());
                    case SYMLINK -> new TarArchiveEntry(e.name(), TarConstants.LF_SYMLINK);
                };
                t.setModTime(e.mtime());
                t.setMode(unixMode(e));
                if (e.kind() == Kind.SYMLINK) {
                    t.setLinkName(e.target());
                } else if (e.kind() == Kind.FILE) {
                    t.setSize(e.size());
                }
                tar.putArchiveEntry(t);
                if (e.kind() == Kind.FILE) {
                    copy(e, tar, zeroData);
                }
                tar.closeArchiveEntry();
            }
            tar.finish();
        }
    }

    private static void writeZip(List<Entry> entries, SeekableByteChannel out) throws IOException {
        try (ZipArchiveOutputStream zip = new ZipArchiveOutputStream(out)) {
            for (Entry e : entries) {
                ZipArchiveEntry z = new ZipArchiveEntry(e.kind() == Kind.DIRECTORY ? e.name() + "/" : e.name());
                z.setUnixMode(unixMode(e));
                z.setLastModifiedTime(e.mtime());
                zip.putArchiveEntry(z);
                if (e.kind() == Kind.FILE) {
                    copy(e, zip, false);
                } else if (e.kind() == Kind.SYMLINK) {
                    zip.write(e.target().getBytes(StandardCharsets.UTF_8));
                }
                zip.closeArchiveEntry();
            }
            zip.finish();
        }
    }

    private static void write7z(List<Entry> entries, SeekableByteChannel out) throws IOException {
        try (SevenZOutputFile sz = new SevenZOutputFile(out)) {
            // Deflate rather than the default LZMA2: several times faster for disk-sized archives. (org.tukaani:xz is
            // needed on the class path either way: commons-compress's 7z coder table loads its classes.)
            sz.setContentCompression(SevenZMethod.DEFLATE);
            for (Entry e : entries) {
                SevenZArchiveEntry s = new SevenZArchiveEntry();
                s.setName(e.name());
                s.setDirectory(e.kind() == Kind.DIRECTORY);
                s.setLastModifiedTime(e.mtime());
                s.setHasWindowsAttributes(true);
                s.setWindowsAttributes(SEVEN_Z_UNIX_EXTENSION | (unixMode(e) << 16)
                        | (e.kind() == Kind.DIRECTORY ? SEVEN_Z_DIRECTORY : 0));
                sz.putArchiveEntry(s);
                if (e.kind() == Kind.FILE) {
                    try (InputStream in = Files.newInputStream(e.path(), LinkOption.NOFOLLOW_LINKS)) {
                        copyExactly(e, in, new OutputStream() {
                            @Override
                            public void write(int b) throws IOException {
                                sz.write(b);
                            }

                            @Override
                            public void write(byte[] b, int off, int len) throws IOException {
                                sz.write(b, off, len);
                            }
                        });
                    }
                } else if (e.kind() == Kind.SYMLINK) {
                    sz.write(e.target().getBytes(StandardCharsets.UTF_8));
                }
                sz.closeArchiveEntry();
            }
            sz.finish();
        }
    }

    /** File type and permission bits as stored in tar headers and zip and 7z attributes. */
    static int unixMode(Entry e) {
        return switch (e.kind()) {
            case DIRECTORY -> UnixStat.DIR_FLAG | e.mode();
            case FILE -> UnixStat.FILE_FLAG | e.mode();
            case SYMLINK -> UnixStat.LINK_FLAG | 0777;
        };
    }

    private static void copy(Entry e, OutputStream out, boolean zeroData) throws IOException {
        if (zeroData) {
            for (long left = e.size(); left > 0; ) {
                int k = (int) Math.min(left, ZEROS.length);
                out.write(ZEROS, 0, k);
                left -= k;
            }
            return;
        }
        try (InputStream in = Files.newInputStream(e.path(), LinkOption.NOFOLLOW_LINKS)) {
            copyExactly(e, in, out);
        }
    }

    /** Copies the entry's recorded size, no more: a file that shrank since it was listed is an error. */
    private static void copyExactly(Entry e, InputStream in, OutputStream out) throws IOException {
        byte[] buf = new byte[(int) Math.min(e.size(), 1 << 20)]; // small files are the common case
        for (long left = e.size(); left > 0; ) {
            int k = in.read(buf, 0, (int) Math.min(left, buf.length));
            if (k < 0) {
                throw new ArchiveException(e.path() + ": shrank while being packed (listed with " + e.size()
                        + " bytes, ended after " + (e.size() - left) + ")");
            }
            out.write(buf, 0, k);
            left -= k;
        }
    }
}
