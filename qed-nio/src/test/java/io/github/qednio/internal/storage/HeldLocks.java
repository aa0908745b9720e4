package io.github.qednio.internal.storage;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * For lock tests: the POSIX locks this process holds on an image, as {@code /proc/locks} lists them (and QEMU sees
 * them); a test that needs them is skipped where they are not listed (not Linux). Also the latch wait the lock
 * manager's I/O hooks use, which may only throw an {@link IOException}.
 */
public final class HeldLocks {
    /** The bytes a writer holds, as QEMU's writers do; a reader holds 100, 201 and 203, with force-share only 100. */
    static final int[] WRITER_BYTES = {100, 101, 103, 201, 203};

    private HeldLocks() {
    }

    /** The token {@code /proc/locks} uses for {@code file}, taken while a writer holds it; or the test is skipped. */
    static String token(Path file) {
        return token(file, 101);
    }

    /**
     * The token {@code /proc/locks} uses for {@code file}, taken while this process holds byte {@code held} of it; or
     * the test is skipped.
     */
    static String token(Path file, int held) {
        String t = ProcLocks.tokenOf(file, held);
        assumeTrue(t != null, "/proc/locks does not list this process's locks here");
        return t;
    }

    /** The bytes from 100 to 299 (QEMU's lock bytes) this process holds on the file named by {@code token}. */
    static int[] heldBytes(String token) throws IOException {
        List<long[]> ranges = ProcLocks.ranges(token);
        return java.util.stream.IntStream.range(100, 300).filter(b -> ProcLocks.covers(ranges, b)).toArray();
    }

    /**
     * The bytes from 100 to 299 that open-file-description locks (QEMU's) hold on {@code file}, as
     * {@code /proc/locks} lists them; the test is skipped where it cannot be read.
     */
    static int[] qemuHeldBytes(Path file) throws IOException {
        Path procLocks = Path.of("/proc/locks");
        assumeTrue(Files.isReadable(procLocks), "no /proc/locks");
        String token = ProcLocks.token((Long) Files.getAttribute(file, "unix:dev"),
                (Long) Files.getAttribute(file, "unix:ino"));
        java.util.Set<Integer> held = new java.util.TreeSet<>();
        for (String line : Files.readAllLines(procLocks)) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 8 && f[1].equals("OFDLCK") && f[5].equals(token)) {
                for (long b = Long.parseLong(f[6]); b <= Long.parseLong(f[7]); b++) {
                    if (b >= 100 && b < 300) {
                        held.add((int) b);
                    }
                }
            }
        }
        return held.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Whether this process holds byte {@code b} of the file named by {@code token}. */
    static boolean holds(String token, int b) throws IOException {
        return ProcLocks.covers(ProcLocks.ranges(token), b);
    }

    /** Whether this process holds every byte a writer holds. */
    static boolean holdsWriterBytes(String token) throws IOException {
        List<long[]> ranges = ProcLocks.ranges(token);
        for (int b : WRITER_BYTES) {
            if (!ProcLocks.covers(ranges, b)) {
                return false;
            }
        }
        return true;
    }

    /** Waits for {@code latch}; an interrupt becomes an {@link InterruptedIOException} (hooks throw only those). */
    public static void await(CountDownLatch latch) throws IOException {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted");
        }
    }
}
