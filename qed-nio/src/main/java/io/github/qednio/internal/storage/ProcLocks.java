package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The POSIX record locks this process holds, as Linux lists them in {@code /proc/locks}: Java has no
 * {@code F_GETLK} that reports one's own locks, and the JVM keeps believing in a lock the kernel dropped when some
 * descriptor of the file was closed. A line reads {@code "3: POSIX  ADVISORY  READ 1234 fe:00:2285622 100 101"}
 * (type, mode, access, pid, {@code major:minor:inode} of the file, first and last byte; adjacent ranges of one
 * owner are merged). The file stays open and is read again from offset 0 each time (the kernel regenerates it),
 * which costs about 2-4 µs against 10-30 µs for an open, read and close; writers still look only once per write
 * epoch ({@link LockHandle#beforeWrite}).
 *
 * <p>Reading {@code /proc/locks} opens no descriptor of any image, so it cannot itself drop a lock.
 */
public final class ProcLocks {
    private static final Path PROC_LOCKS = Path.of("/proc/locks");
    private static final String PID = Long.toString(ProcessHandle.current().pid());
    /** Guards {@link #channel} and {@link #buffer}: one reader at a time (a read takes a few microseconds). */
    private static final Object READING = new Object();
    private static FileChannel channel;
    private static ByteBuffer buffer = ByteBuffer.allocate(16 << 10);

    private ProcLocks() {
    }

    /**
     * How {@code /proc/locks} names {@code file} ({@code major:minor:inode}): the token of a POSIX lock of this
     * process on the file's inode covering byte {@code heldByte}, which the caller has just locked; preferring the
     * device the file's {@code stat} reports. Null when it cannot be found (no {@code /proc}, another OS).
     */
    public static String tokenOf(Path file, long heldByte) {
        String inode;
        String expected;
        try {
            long ino = (Long) Files.getAttribute(file, "unix:ino");
            inode = Long.toString(ino);
            expected = token((Long) Files.getAttribute(file, "unix:dev"), ino);
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | ClassCastException e) {
            return null;
        }
        String text;
        try {
            text = readText();
        } catch (IOException e) {
            return null;
        }
        return tokenIn(text, PID, inode, expected, heldByte);
    }

    /**
     * The {@code major:minor:inode} the kernel prints for a file whose {@code stat} gives {@code dev} and
     * {@code ino}: glibc's {@code major()}/{@code minor()} of the user-space {@code dev_t}, in hex.
     */
    static String token(long dev, long ino) {
        long major = ((dev & 0xfff00L) >>> 8) | ((dev & 0xfffff00000000000L) >>> 32);
        long minor = (dev & 0xffL) | ((dev & 0xffffff00000L) >>> 12);
        return String.format("%02x:%02x:%d", major, minor, ino);
    }

    /** {@link #tokenOf} on the text of {@code /proc/locks}, for process {@code pid}. */
    static String tokenIn(String procLocks, String pid, String inode, String expected, long heldByte) {
        String found = null;
        for (String[] f : parse(procLocks)) {
            if (f[4].equals(pid) && f[5].endsWith(":" + inode) && covers(f, heldByte)) {
                if (f[5].equals(expected)) {
                    return expected;
                }
                found = f[5];
            }
        }
        return found;
    }

    /** The byte ranges ({@code [first, last]}) this process holds as POSIX locks on the file named {@code token}. */
    public static List<long[]> ranges(String token) throws IOException {
        return rangesIn(readText(), PID, token);
    }

    /** {@link #ranges} on the text of {@code /proc/locks}, for process {@code pid}. */
    static List<long[]> rangesIn(String procLocks, String pid, String token) {
        List<long[]> out = new ArrayList<>();
        for (String[] f : parse(procLocks)) {
            if (f[4].equals(pid) && f[5].equals(token)) {
                out.add(new long[] {Long.parseLong(f[6]), f[7].equals("EOF") ? Long.MAX_VALUE : Long.parseLong(f[7])});
            }
        }
        return out;
    }

    /**
     * Whether anyone but this process holds byte {@code b} of the file named {@code token}: another process's POSIX
     * lock, or an open-file-description lock (QEMU's; this library takes none). Java can test a byte only by locking
     * it exclusively, which needs a writable descriptor, so readers look here instead.
     */
    static boolean othersHold(String token, long b) throws IOException {
        return othersHoldIn(readText(), PID, token, b);
    }

    /** {@link #othersHold} on the text of {@code /proc/locks}, for process {@code pid}. */
    static boolean othersHoldIn(String procLocks, String pid, String token, long b) {
        for (String[] f : lines(procLocks, true)) {
            if (f[5].equals(token) && covers(f, b) && !(f[1].equals("POSIX") && f[4].equals(pid))) {
                return true;
            }
        }
        return false;
    }

    /** Whether one of {@code ranges} covers byte {@code b}. */
    public static boolean covers(List<long[]> ranges, long b) {
        for (long[] r : ranges) {
            if (r[0] <= b && b <= r[1]) {
                return true;
            }
        }
        return false;
    }

    private static boolean covers(String[] f, long b) {
        long first = Long.parseLong(f[6]);
        return first <= b && (f[7].equals("EOF") || b <= Long.parseLong(f[7]));
    }

    private static String readText() throws IOException {
        // An interrupt would make the JDK close the channel in the middle of the read: keep it aside meanwhile.
        boolean interrupted = Thread.interrupted();
        try {
            synchronized (READING) {
                for (int attempt = 0; ; attempt++) {
                    try {
                        return readOnce();
                    } catch (ClosedChannelException e) {
                        channel = null; // closed by an interrupt that came during the read: open it again
                        if (attempt >= 2) {
                            throw e;
                        }
                    }
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static String readOnce() throws IOException {
        if (channel == null) {
            channel = FileChannel.open(PROC_LOCKS);
        }
        buffer.clear();
        for (int n; (n = channel.read(buffer, buffer.position())) > 0; ) {
            if (!buffer.hasRemaining()) {
                buffer = ByteBuffer.allocate(buffer.capacity() * 2).put(buffer.flip());
            }
        }
        return new String(buffer.array(), 0, buffer.position(), StandardCharsets.US_ASCII);
    }

    /**
     * The POSIX lines of a {@code /proc/locks} text, split into the eight fields described above. Lines of blocked
     * waiters ({@code "->"}), other lock types and lines that do not parse are left out.
     */
    static List<String[]> parse(String text) {
        return lines(text, false);
    }

    /** {@link #parse}, keeping open-file-description ({@code OFDLCK}) lines too if {@code withOfd}. */
    private static List<String[]> lines(String text, boolean withOfd) {
        List<String[]> out = new ArrayList<>();
        for (int start = 0, end; start < text.length(); start = end + 1) {
            end = text.indexOf('\n', start);
            if (end < 0) {
                end = text.length();
            }
            String[] f = fields(text, start, end);
            if (f != null && (f[1].equals("POSIX") || withOfd && f[1].equals("OFDLCK")) && isOffset(f[6])
                    && (f[7].equals("EOF") || isOffset(f[7]))) {
                out.add(f);
            }
        }
        return out;
    }

    /** The whitespace-separated fields of {@code text[start, end)} if there are exactly eight, else null. */
    private static String[] fields(String text, int start, int end) {
        String[] f = new String[8];
        int n = 0;
        for (int i = start; i < end; ) {
            while (i < end && text.charAt(i) <= ' ') {
                i++;
            }
            int from = i;
            while (i < end && text.charAt(i) > ' ') {
                i++;
            }
            if (i > from) {
                if (n == f.length) {
                    return null;
                }
                f[n++] = text.substring(from, i);
            }
        }
        return n == f.length ? f : null;
    }

    /** Whether {@code s} is 1 to 18 decimal digits (a byte offset that fits in a long). */
    private static boolean isOffset(String s) {
        if (s.isEmpty() || s.length() > 18) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }
}
