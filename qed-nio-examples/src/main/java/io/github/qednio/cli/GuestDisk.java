package io.github.qednio.cli;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * The guest-visible disk of an image, as the demo uses it: positional reads and writes of guest bytes. One
 * implementation goes straight to the engine ({@link EngineGuestDisk}); another can go through the {@code qed:} file
 * system; {@link DemoCommand} takes whichever {@link Opener} it is given.
 */
interface GuestDisk extends Closeable {

    /** Opens the guest disk of an existing QED image. */
    @FunctionalInterface
    interface Opener {
        GuestDisk open(Path image, boolean readOnly) throws IOException;

        /** A short name for the demo's output, e.g. "engine". */
        default String describe() {
            return getClass().getSimpleName();
        }
    }

    long size() throws IOException;

    /** Writes all of {@code src} at guest offset {@code position}. */
    void write(ByteBuffer src, long position) throws IOException;

    /** Fills {@code dst} with guest bytes from {@code position}. */
    void readFully(ByteBuffer dst, long position) throws IOException;

    /** Makes completed writes durable. */
    void flush() throws IOException;
}
