package io.github.qednio.cli;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/** A {@link GuestDisk} reached through the {@code qed:} file system: a plain {@link FileChannel} on the disk. */
final class NioGuestDisk implements GuestDisk {
    /** Opens images as {@code qed:} file systems (found through the service loader) and a channel on the disk. */
    static final Opener OPENER = new Opener() {
        @Override
        public GuestDisk open(Path image, boolean readOnly) throws IOException {
            URI uri = URI.create("qed:" + image.toAbsolutePath().toUri());
            FileSystem fs = FileSystems.newFileSystem(uri, Map.of("readOnly", String.valueOf(readOnly)));
            try {
                FileChannel ch = readOnly
                        ? FileChannel.open(fs.getPath("/disk"), StandardOpenOption.READ)
                        : FileChannel.open(fs.getPath("/disk"), StandardOpenOption.READ, StandardOpenOption.WRITE);
                return new NioGuestDisk(fs, ch);
            } catch (IOException | RuntimeException e) {
                fs.close();
                throw e;
            }
        }

        @Override
        public String describe() {
            return "a FileChannel of the qed: file system";
        }
    };

    private final FileSystem fs;
    private final FileChannel channel;

    private NioGuestDisk(FileSystem fs, FileChannel channel) {
        this.fs = fs;
        this.channel = channel;
    }

    @Override
    public long size() throws IOException {
        return channel.size();
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        Buffers.writeFully(channel, src, position);
    }

    @Override
    public void readFully(ByteBuffer dst, long position) throws IOException {
        Buffers.readFully(channel::read, dst, position, "the qed: disk");
    }

    @Override
    public void flush() throws IOException {
        channel.force(true);
    }

    @Override
    public void close() throws IOException {
        try {
            channel.close();
        } finally {
            fs.close();
        }
    }
}
