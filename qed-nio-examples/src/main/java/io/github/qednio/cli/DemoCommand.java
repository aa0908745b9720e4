package io.github.qednio.cli;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The project's end-to-end job: creates an image in a temporary directory, writes a random workload through a
 * {@link GuestDisk} while applying the same writes to a raw file, reads everything back (open, and again after
 * reopening read-only), checks the image, prints its info and, when qemu-img is on the PATH, has QEMU check it and
 * compare it with the raw file. Exits 0 only if every step verified.
 *
 * <p>The guest I/O goes through {@link #DEFAULT_OPENER} (a channel of the {@code qed:} file system), or through the
 * engine with {@code --via engine}; the opener changes how the demo reaches the disk and nothing else.
 */
@Command(name = "demo", description = "Create an image, write and verify data, check it, and print its info.")
final class DemoCommand implements Callable<Integer> {
    /** How the demo reaches the guest disk by default: through the {@code qed:} file system. */
    static final GuestDisk.Opener DEFAULT_OPENER = NioGuestDisk.OPENER;

    /** {@code --via}: the two ways to reach the disk. */
    enum Via {
        nio, engine
    }

    /** 4 KiB clusters and 8-cluster tables: each L2 table covers 16 MiB, so the workload crosses several. */
    private static final long SIZE = 128L << 20;
    private static final int CLUSTER = 4096;
    private static final int TABLE = 8;
    private static final int CHUNK = 1 << 20;

    @Spec
    private CommandSpec spec;

    @Option(names = "--seed", description = "Seed of the random workload (default: ${DEFAULT-VALUE}).")
    private long seed = 42;

    @Option(names = "--writes", description = "Number of random writes (default: ${DEFAULT-VALUE}).")
    private int writes = 200;

    @Option(names = "--keep", description = "Keep the temporary directory and print its path.")
    private boolean keep;

    @Option(names = "--via", description = "Reach the disk through the qed: file system (nio, default) or the"
            + " QedImage engine directly (engine).")
    private Via via;

    private GuestDisk.Opener opener;

    DemoCommand() {
        this(DEFAULT_OPENER);
    }

    DemoCommand(GuestDisk.Opener opener) {
        this.opener = opener;
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (via != null) {
            opener = via == Via.engine ? EngineGuestDisk.OPENER : NioGuestDisk.OPENER;
        }
        Path dir = Files.createTempDirectory("qed-demo");
        try {
            Path image = dir.resolve("demo.qed");
            Path model = dir.resolve("model.raw");
            try (QedImage created = QedImage.create(image,
                    CreateOptions.ofSize(SIZE).withClusterSize(CLUSTER).withTableSize(TABLE))) {
                out.printf("1. created %s: %s%n", image, created.geometry());
            }
            long bytes;
            try (GuestDisk disk = opener.open(image, false);
                 FileChannel raw = FileChannel.open(model, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                         StandardOpenOption.WRITE)) {
                raw.truncate(0);
                bytes = writeWorkload(disk, raw);
                disk.flush();
                out.printf("2. wrote %d bytes in %d writes through %s (same writes to %s)%n", bytes, writes + 2,
                        opener.describe(), model.getFileName());
                verify(disk, raw, "while open");
                out.printf("3. read back all %d guest bytes: identical to the raw model%n", SIZE);
            }
            try (GuestDisk disk = opener.open(image, true);
                 FileChannel raw = FileChannel.open(model, StandardOpenOption.READ)) {
                verify(disk, raw, "after reopening read-only");
                out.println("4. reopened read-only and read back again: identical");
            }
            try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
                CheckResult r = img.check(Repair.NONE);
                if (!r.isClean() || img.needsCheck()) {
                    throw new IOException("verification failed: check found " + r + (img.needsCheck()
                            ? " and NEED_CHECK is still set after close" : ""));
                }
                out.printf("5. check: no errors, %d/%d clusters allocated, NEED_CHECK clear%n", r.allocatedClusters(),
                        r.totalClusters());
            }
            out.println("6. info:");
            int rc = QedCli.newCommandLine("info").setOut(out).setErr(spec.commandLine().getErr())
                    .execute("info", image.toString());
            if (rc != 0) {
                throw new IOException("verification failed: info exited with " + rc);
            }
            out.println("7. " + qemuVerdict(image, model));
            out.println("demo: all steps verified");
            return 0;
        } finally {
            if (keep) {
                out.println("kept " + dir);
            } else {
                deleteTree(dir);
            }
        }
    }

    /** Random writes (unaligned, some spanning clusters and tables), plus the first and last bytes of the disk. */
    private long writeWorkload(GuestDisk disk, FileChannel raw) throws IOException {
        Random rnd = new Random(seed);
        long total = 0;
        for (int i = 0; i < writes + 2; i++) {
            int len;
            long pos;
            if (i == writes) {
                len = 1;
                pos = SIZE - 1;
            } else if (i == writes + 1) {
                len = 3 * CLUSTER + 17;
                pos = 0;
            } else {
                len = 1 + rnd.nextInt(i % 10 == 0 ? 96 * 1024 : 8 * 1024);
                pos = (long) (rnd.nextDouble() * (SIZE - len));
            }
            byte[] data = new byte[len];
            rnd.nextBytes(data);
            disk.write(ByteBuffer.wrap(data), pos);
            Buffers.writeFully(raw, ByteBuffer.wrap(data), pos);
            total += len;
        }
        return total;
    }

    private static void verify(GuestDisk disk, FileChannel raw, String when) throws IOException {
        if (disk.size() != SIZE) {
            throw new IOException("verification failed " + when + ": disk size " + disk.size() + ", expected " + SIZE);
        }
        ByteBuffer got = ByteBuffer.allocateDirect(CHUNK);
        ByteBuffer want = ByteBuffer.allocateDirect(CHUNK);
        for (long pos = 0; pos < SIZE; pos += CHUNK) {
            int n = (int) Math.min(CHUNK, SIZE - pos);
            got.clear().limit(n);
            disk.readFully(got, pos);
            want.clear().limit(n);
            Buffers.readRaw(raw::read, want, pos);
            int at = got.flip().mismatch(want.flip());
            if (at >= 0) {
                throw new IOException("verification failed " + when + ": guest byte " + (pos + at)
                        + " differs from the raw model");
            }
        }
    }

    /** QEMU's opinion, when qemu-img is installed; the demo does not depend on it. */
    private static String qemuVerdict(Path image, Path model) throws IOException, InterruptedException {
        String check = Processes.run("qemu-img", "check", "-f", "qed", image.toString());
        if (check == null) {
            return "qemu-img not on the PATH: QEMU's check and compare skipped";
        }
        if (!check.startsWith("0:")) {
            throw new IOException("verification failed: qemu-img check: " + check);
        }
        String cmp = Processes.run("qemu-img", "compare", "-f", "qed", "-F", "raw", image.toString(),
                model.toString());
        if (cmp == null || !cmp.startsWith("0:")) {
            throw new IOException("verification failed: qemu-img compare: " + cmp);
        }
        return "qemu-img check: no errors; qemu-img compare with the raw model: identical";
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Runs external tools for the optional QEMU step. */
    static final class Processes {
        private Processes() {
        }

        /** Runs a command; returns {@code "<exit code>: <output>"}, or null if the program is not installed. */
        static String run(String... cmd) throws IOException, InterruptedException {
            Process p;
            try {
                p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            } catch (IOException e) {
                return null;
            }
            p.getOutputStream().close();
            String output = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (!p.waitFor(5, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " did not finish within 5 minutes");
            }
            return p.exitValue() + ": " + output.strip().replace('\n', ' ');
        }
    }
}
