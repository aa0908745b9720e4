package io.github.qednio.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code qemu-io} that keeps an image open, reading its commands from a pipe, for lock tests: it holds
 * QEMU's image locks from its first answered command until {@link #close()}. Callers run
 * {@link Qemu#assumeAvailable()} first.
 */
public final class QemuIoSession implements AutoCloseable {
    private final Process process;
    private final BufferedReader out;
    private final OutputStream in;

    private QemuIoSession(Process process) {
        this.process = process;
        this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        this.in = process.getOutputStream();
    }

    /**
     * Starts {@code qemu-io options... image} and waits until it has opened the image, which it does before answering
     * a first command: {@code write -P 0x44 0 512} for a writer, {@code read 0 512} with {@code -r}.
     */
    public static QemuIoSession open(Path image, String... options) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("qemu-io"));
        cmd.addAll(List.of(options));
        cmd.add(image.toString());
        QemuIoSession s = new QemuIoSession(new ProcessBuilder(cmd).redirectErrorStream(true).start());
        try {
            if (cmd.contains("-r")) {
                s.command("read 0 512", "read 512/512 bytes");
            } else {
                s.command("write -P 0x44 0 512", "wrote 512/512 bytes");
            }
        } catch (IOException | RuntimeException | Error e) {
            s.process.destroyForcibly();
            throw e;
        }
        return s;
    }

    /** Sends one command and waits for a line of output containing {@code expected}. */
    public void command(String command, String expected) throws IOException {
        in.write((command + "\n").getBytes(StandardCharsets.US_ASCII));
        in.flush();
        StringBuilder seen = new StringBuilder();
        for (String line; (line = out.readLine()) != null; ) {
            seen.append(line).append('\n');
            if (line.contains(expected)) {
                return;
            }
        }
        throw new AssertionError("qemu-io ended without printing '" + expected + "':\n" + seen);
    }

    /** Quits qemu-io and waits for it to exit (killing it if it does not), so that its locks are gone. */
    @Override
    public void close() throws IOException {
        try {
            in.write("quit\n".getBytes(StandardCharsets.US_ASCII));
            in.close();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        } catch (IOException e) {
            process.destroyForcibly();
        }
    }
}
