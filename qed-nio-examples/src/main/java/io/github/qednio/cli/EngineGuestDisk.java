package io.github.qednio.cli;

import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/** A {@link GuestDisk} that calls {@link QedImage} directly. */
final class EngineGuestDisk implements GuestDisk {
    /** Opens images with {@link QedImage#open}. */
    static final Opener OPENER = new Opener() {
        @Override
        public GuestDisk open(Path image, boolean readOnly) throws IOException {
            return new EngineGuestDisk(QedImage.open(image,
                    readOnly ? OpenOptions.readOnlyDefaults() : OpenOptions.defaults()));
        }

        @Override
        public String describe() {
            return "the QedImage engine";
        }
    };

    private final QedImage image;

    EngineGuestDisk(QedImage image) {
        this.image = image;
    }

    @Override
    public long size() {
        return image.size();
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        image.write(src, position);
    }

    @Override
    public void readFully(ByteBuffer dst, long position) throws IOException {
        image.readFully(dst, position);
    }

    @Override
    public void flush() throws IOException {
        image.flush();
    }

    @Override
    public void close() throws IOException {
        image.close();
    }
}
