package io.github.qednio.internal.qemuio;

import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Runs qemu-io commands ({@link QemuIoCommand}) on an open image and prints what qemu-io 7.2 prints: the engine
 * behind {@code qed io}.
 *
 * <pre>{@code
 * try (QedImage img = QedImage.open(path, OpenOptions.defaults())) {
 *     QemuIo io = new QemuIo(img, out, err);
 *     boolean ok = io.execute("write -P 0xab 0 64k") & io.execute("read -P 0xab 0 64k");
 * }
 * }</pre>
 *
 * <p>Each command is one request to the engine, as in qemu-io (a {@code write} of 1 MiB is one
 * {@link QedImage#write} of 1 MiB), so that an image written here from a fresh {@code qed create} has the same
 * bytes as one written by {@code qemu-io} with the same commands. Output, line for line, as qemu-io's:
 * {@code wrote N/N bytes at offset O} (or {@code read ...}) followed by the statistics line
 * {@code 4 KiB, 1 ops; 00.00 sec (9.158 MiB/sec and 2344.4652 ops/sec)}, whose time and rates are measured
 * here (they are the only varying part; {@code -q} leaves both lines out); {@code read -v} dumps as qemu-io;
 * {@code map} prints qemu-io's allocation lines. A {@code read -P} whose data differs prints qemu-io's
 * {@code Pattern verification failed at offset N, M bytes} on standard output (N is where the checked range
 * starts, as in qemu-io) and, on standard error, where the first differing byte is and what it holds. Errors are
 * qemu-io's messages; an I/O error from the engine prints {@code write failed: } or {@code read failed: } and the
 * exception's message; a range past the end of the disk prints qemu-io's
 * {@code write failed: Input/output error}. A write to an image opened read-only prints
 * {@code IMAGE: Block node is read-only} on standard error (qemu-io prefixes its own name instead of the image's),
 * after the command was parsed (qemu-io refuses it before parsing).
 *
 * <p>Not thread-safe: one command at a time.
 */
public final class QemuIo {
    private final QedImage image;
    private final PrintWriter out;
    private final PrintWriter err;

    /**
     * A runner for {@code image}, printing to {@code out} and {@code err}.
     *
     * @param image the open image (read-only images refuse writes with a message)
     * @param out   where qemu-io's standard output goes
     * @param err   where qemu-io's standard error goes
     */
    public QemuIo(QedImage image, PrintWriter out, PrintWriter err) {
        this.image = Objects.requireNonNull(image, "image");
        this.out = Objects.requireNonNull(out, "out");
        this.err = Objects.requireNonNull(err, "err");
    }

    /**
     * Parses and runs one command. A blank line does nothing and succeeds, as in qemu-io.
     *
     * @param line the command, as qemu-io's {@code -c} takes it
     * @return true if it succeeded; false if qemu-io would have failed it (its exit code would be 1), the message
     *         having been printed
     */
    public boolean execute(String line) {
        if (QemuIoCommand.isBlank(line)) {
            return true;
        }
        QemuIoCommand cmd;
        try {
            cmd = QemuIoCommand.parse(line);
        } catch (QemuIoSyntaxException e) {
            e.standardOutput().forEach(out::println);
            e.standardError().forEach(err::println);
            flush();
            return false;
        }
        boolean ok = execute(cmd);
        flush();
        return ok;
    }

    private void flush() {
        out.flush();
        err.flush();
    }

    /**
     * Runs one parsed command.
     *
     * @param cmd the command
     * @return true if it succeeded, false if it failed (the message having been printed)
     */
    public boolean execute(QemuIoCommand cmd) {
        return switch (cmd.kind()) {
            case WRITE -> write(cmd);
            case READ -> read(cmd);
            case MAP -> map();
            case FLUSH -> flushImage();
            case DISCARD -> discard(cmd);
        };
    }

    private boolean inRange(QemuIoCommand cmd, String op) {
        long size = image.size();
        if (cmd.offset() > size || size - cmd.offset() < cmd.length()) {
            out.println(op + " failed: Input/output error");
            return false;
        }
        return true;
    }

    private boolean write(QemuIoCommand cmd) {
        if (image.isReadOnly()) {
            err.println(image.path() + ": Block node is read-only");
            return false;
        }
        if (!inRange(cmd, "write")) {
            return false;
        }
        long nanos;
        try {
            if (cmd.zeroes()) {
                long t0 = System.nanoTime();
                image.writeZeroes(cmd.offset(), cmd.length());
                nanos = System.nanoTime() - t0;
            } else {
                byte[] data = new byte[(int) cmd.length()];
                java.util.Arrays.fill(data, (byte) cmd.pattern().orElseThrow());
                long t0 = System.nanoTime();
                image.write(ByteBuffer.wrap(data), cmd.offset());
                nanos = System.nanoTime() - t0;
            }
        } catch (IOException | RuntimeException e) {
            out.println("write failed: " + e.getMessage());
            return false;
        }
        if (!cmd.quiet()) {
            IoReport.report(out, "wrote", nanos, cmd.offset(), cmd.length());
        }
        return true;
    }

    private boolean discard(QemuIoCommand cmd) {
        if (image.isReadOnly()) {
            err.println(image.path() + ": Block node is read-only");
            return false;
        }
        if (!inRange(cmd, "discard")) {
            return false;
        }
        long nanos;
        try {
            long t0 = System.nanoTime();
            image.discard(cmd.offset(), cmd.length());
            nanos = System.nanoTime() - t0;
        } catch (IOException | RuntimeException e) {
            out.println("discard failed: " + e.getMessage());
            return false;
        }
        if (!cmd.quiet()) {
            IoReport.report(out, "discard", nanos, cmd.offset(), cmd.length());
        }
        return true;
    }

    private boolean read(QemuIoCommand cmd) {
        if (!inRange(cmd, "read")) {
            return false;
        }
        ByteBuffer data = ByteBuffer.allocate((int) cmd.length());
        long nanos;
        try {
            long t0 = System.nanoTime();
            image.readFully(data, cmd.offset());
            nanos = System.nanoTime() - t0;
        } catch (IOException | RuntimeException e) {
            out.println("read failed: " + e.getMessage());
            return false;
        }
        data.flip();
        boolean ok = true;
        if (cmd.pattern().isPresent()) {
            int expected = cmd.pattern().getAsInt();
            long first = firstMismatch(data, (int) cmd.patternOffset(), (int) cmd.patternLength(), (byte) expected);
            if (first >= 0) {
                out.printf(Locale.ROOT, "Pattern verification failed at offset %d, %d bytes%n",
                        cmd.offset() + cmd.patternOffset(), cmd.patternLength());
                err.printf(Locale.ROOT, "first mismatch at offset %d: expected 0x%02x, found 0x%02x%n",
                        cmd.offset() + first, expected, data.get((int) first) & 0xff);
                ok = false;
            }
        }
        if (!cmd.quiet()) {
            if (cmd.verbose()) {
                IoReport.dump(out, data, cmd.offset());
            }
            IoReport.report(out, "read", nanos, cmd.offset(), cmd.length());
        }
        return ok;
    }

    /** The index in {@code data} of the first byte of {@code [from, from + length)} that is not {@code b}, or -1. */
    private static long firstMismatch(ByteBuffer data, int from, int length, byte b) {
        for (int i = from; i < from + length; i++) {
            if (data.get(i) != b) {
                return i;
            }
        }
        return -1;
    }

    /**
     * qemu-io's {@code map}: runs of the image's own clusters (data or zero clusters: "allocated") and of clusters
     * left to the backing chain or unallocated ("not allocated"), adjacent runs of one status merged.
     */
    private boolean map() {
        List<MappedExtent> extents;
        try {
            extents = image.map(0, image.size());
        } catch (IOException | RuntimeException e) {
            err.println("Failed to get allocation status: " + e.getMessage());
            return false;
        }
        long start = 0;
        long length = 0;
        boolean allocated = false;
        for (MappedExtent e : extents) {
            boolean own = e.depth() == 0 && e.type() != MappedExtent.Type.UNALLOCATED;
            if (length > 0 && own != allocated) {
                mapLine(start, length, allocated);
                start += length;
                length = 0;
            }
            allocated = own;
            length += e.length();
        }
        if (length > 0) {
            mapLine(start, length, allocated);
        }
        return true;
    }

    private void mapLine(long start, long length, boolean allocated) {
        out.printf(Locale.ROOT, "%s (0x%x) bytes %s at offset %s (0x%x)%n", IoReport.size(length), length,
                allocated ? "    allocated" : "not allocated", IoReport.size(start), start);
    }

    private boolean flushImage() {
        try {
            image.flush();
            return true;
        } catch (IOException e) {
            err.println("flush failed: " + e.getMessage());
            return false;
        }
    }
}
