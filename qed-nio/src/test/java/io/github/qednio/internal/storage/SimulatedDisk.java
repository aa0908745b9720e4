package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * An in-memory disk for fault injection: a <em>durable</em> image plus a <em>volatile</em> log of the writes and
 * truncations made since the last successful {@link Storage#force()}, which is what a power cut may lose.
 *
 * <p>Faults are scheduled by mutation number (every write, truncate and force counts as one mutation):
 * <ul>
 *   <li>{@link #crashAt}: power loss during that mutation. The crash image keeps the durable image plus, depending
 *       on the {@link CrashMode}, none, a prefix, a random in-order subset or all of the volatile log, and possibly a
 *       torn prefix of the write in progress. After a crash every call fails and nothing changes any more.</li>
 *   <li>{@link #failWriteAt}: that write reaches the disk only in part (a random prefix) and fails with EIO.</li>
 *   <li>{@link #failForceAt}: that force fails; nothing becomes durable (the log is kept, as a later successful force
 *       still makes it durable).</li>
 *   <li>{@link #limitSize}: a full disk: a write that would extend the file past the limit writes what fits and
 *       fails with {@code IOException("No space left on device")}.</li>
 * </ul>
 *
 * <p>Torn and failed writes keep a prefix of the write cut at any byte ({@code tearGranularity} 1), at an 8-byte
 * boundary of the file (aligned words are atomic, so a table entry is never half old, half new), or at a 512-byte
 * sector boundary (a disk with atomic sectors, the assumption QEMU's table updates rely on). With byte tears a
 * crash inside an L2 update can leave an entry holding the low bytes of the new offset, which may name any other
 * cluster; no checksum-less format can detect that, so the crash test uses word or sector tears.
 */
public final class SimulatedDisk {
    public static final String ENOSPC = "No space left on device";

    /** What a power cut keeps of the writes since the last successful force. */
    public enum CrashMode {
        /** Nothing: the durable image only. */
        LOSE_ALL,
        /** The writes in order up to a random point, the next one possibly torn. */
        KEEP_PREFIX,
        /** A random subset, applied in order (no ordering between forces), the interrupted write possibly torn. */
        KEEP_SUBSET,
        /** Everything, and a torn prefix of the write in progress. */
        TEAR_LAST
    }

    private record Op(boolean truncate, long position, byte[] data) {
    }

    private final Random random;
    private final int tearGranularity;
    private final Image durable;
    private final Image current;
    private final List<Op> pending = new ArrayList<>();
    private long mutations;
    private long crashAt = -1;
    private CrashMode crashMode;
    private long failWriteAt = -1;
    private long failForceAt = -1;
    private long sizeLimit = Long.MAX_VALUE;
    private byte[] crashImage;
    private long forces;

    public SimulatedDisk(byte[] initial, long seed, int tearGranularity) {
        this.random = new Random(seed);
        this.tearGranularity = tearGranularity;
        this.durable = new Image(initial);
        this.current = new Image(initial);
    }

    // ----------------------------------------------------------------------------------------------- scheduling

    /** Power loss during mutation {@code n} (1-based, counted from now on). */
    public synchronized SimulatedDisk crashAt(long n, CrashMode mode) {
        crashAt = mutations + n;
        crashMode = mode;
        return this;
    }

    /** The write that is mutation {@code n} (counted from now on) fails with EIO after writing a random prefix. */
    public synchronized SimulatedDisk failWriteAt(long n) {
        failWriteAt = mutations + n;
        return this;
    }

    /** The force that is mutation {@code n} (counted from now on) fails. */
    public synchronized SimulatedDisk failForceAt(long n) {
        failForceAt = mutations + n;
        return this;
    }

    /** The file may not grow past {@code bytes}. */
    public synchronized SimulatedDisk limitSize(long bytes) {
        sizeLimit = bytes;
        return this;
    }

    /** Power loss now, between two mutations. */
    public synchronized void crashNow(CrashMode mode) {
        if (crashImage == null) {
            crashMode = mode;
            crash(null);
        }
    }

    public synchronized boolean crashed() {
        return crashImage != null;
    }

    /** The image a reboot after the crash finds. */
    public synchronized byte[] crashImage() {
        if (crashImage == null) {
            throw new IllegalStateException("no crash happened");
        }
        return crashImage.clone();
    }

    /** The durable image now. */
    public synchronized byte[] durableImage() {
        return durable.bytes();
    }

    /** What reads see now. */
    public synchronized byte[] currentImage() {
        return current.bytes();
    }

    public synchronized long mutations() {
        return mutations;
    }

    synchronized long successfulForces() {
        return forces;
    }

    /** A {@link Storage} on this disk; closing it changes nothing. */
    public Storage storage(String name) {
        return new DiskStorage(name);
    }

    // ------------------------------------------------------------------------------------------------ operations

    private synchronized int read(ByteBuffer dst, long position) throws IOException {
        checkAlive();
        if (position >= current.length) {
            return -1;
        }
        int n = (int) Math.min(dst.remaining(), current.length - position);
        dst.put(current.data, (int) position, n);
        return n;
    }

    private synchronized void write(ByteBuffer src, long position) throws IOException {
        checkAlive();
        byte[] data = new byte[src.remaining()];
        src.get(data);
        long m = ++mutations;
        if (m == crashAt) {
            crash(new Op(false, position, data));
            throw crashedException();
        }
        long end = position + data.length;
        if (end > sizeLimit && end > current.length) {
            int fits = (int) Math.max(0, Math.min(data.length, sizeLimit - position));
            apply(new Op(false, position, Arrays.copyOf(data, fits)));
            throw new IOException(ENOSPC);
        }
        if (m == failWriteAt) {
            apply(torn(new Op(false, position, data)));
            throw new IOException("Input/output error (simulated write failure at offset " + position + ")");
        }
        apply(new Op(false, position, data));
    }

    private synchronized void truncate(long size) throws IOException {
        checkAlive();
        long m = ++mutations;
        if (m == crashAt) {
            crash(null);
            throw crashedException();
        }
        if (size < current.length) {
            apply(new Op(true, size, null));
        }
    }

    private synchronized void force() throws IOException {
        checkAlive();
        long m = ++mutations;
        if (m == crashAt) {
            crash(null);
            throw crashedException();
        }
        if (m == failForceAt) {
            throw new IOException("Input/output error (simulated fsync failure)");
        }
        if (TRACE) {
            System.err.printf("m%d force%n", m);
        }
        for (Op op : pending) {
            durable.apply(op);
        }
        pending.clear();
        forces++;
    }

    private synchronized long size() throws IOException {
        checkAlive();
        return current.length;
    }

    private static final boolean TRACE = Boolean.getBoolean("qed.disk.trace");

    private void apply(Op op) {
        if (TRACE) {
            System.err.printf("m%d %s @0x%x len %d%n", mutations, op.truncate() ? "truncate" : "write",
                    op.position(), op.truncate() ? 0 : op.data().length);
        }
        if (!op.truncate() && op.data().length == 0) {
            return;
        }
        pending.add(op);
        current.apply(op);
    }

    private void crash(Op inProgress) {
        Image img = new Image(durable.bytes());
        int keep = switch (crashMode) {
            case LOSE_ALL -> 0;
            case KEEP_PREFIX -> random.nextInt(pending.size() + 1);
            case KEEP_SUBSET, TEAR_LAST -> pending.size();
        };
        for (int i = 0; i < keep; i++) {
            if (crashMode != CrashMode.KEEP_SUBSET || random.nextBoolean()) {
                img.apply(pending.get(i));
            }
        }
        boolean tearable = crashMode != CrashMode.LOSE_ALL && keep == pending.size();
        if (inProgress != null && tearable) {
            img.apply(torn(inProgress));
        }
        crashImage = img.bytes();
    }

    /** A prefix of the write, cut at a multiple of {@code tearGranularity} in the file. */
    private Op torn(Op op) {
        long cut = op.position() + random.nextInt(op.data().length + 1);
        if (tearGranularity > 1) {
            cut = Math.max(op.position(), cut / tearGranularity * tearGranularity);
        }
        return new Op(false, op.position(), Arrays.copyOf(op.data(), (int) (cut - op.position())));
    }

    private void checkAlive() throws IOException {
        if (crashImage != null) {
            throw crashedException();
        }
    }

    private static IOException crashedException() {
        return new IOException("simulated power loss");
    }

    /** A growable byte image. */
    private static final class Image {
        byte[] data;
        long length;

        Image(byte[] initial) {
            data = initial.clone();
            length = initial.length;
        }

        void apply(Op op) {
            if (op.truncate()) {
                if (op.position() < length) {
                    Arrays.fill(data, (int) op.position(), (int) length, (byte) 0);
                    length = op.position();
                }
                return;
            }
            if (op.data().length == 0) {
                return;
            }
            long end = op.position() + op.data().length;
            if (end > data.length) {
                data = Arrays.copyOf(data, (int) Math.max(end, Math.min(Integer.MAX_VALUE - 8, data.length * 2L)));
            }
            // Growing past the old end leaves a hole that reads as zeros (the array is zero-filled beyond length).
            System.arraycopy(op.data(), 0, data, (int) op.position(), op.data().length);
            length = Math.max(length, end);
        }

        byte[] bytes() {
            return Arrays.copyOf(data, (int) length);
        }
    }

    private final class DiskStorage implements Storage {
        private final String name;

        DiskStorage(String name) {
            this.name = name;
        }

        @Override
        public int read(ByteBuffer dst, long position) throws IOException {
            return SimulatedDisk.this.read(dst, position);
        }

        @Override
        public void write(ByteBuffer src, long position) throws IOException {
            SimulatedDisk.this.write(src, position);
        }

        @Override
        public long size() throws IOException {
            return SimulatedDisk.this.size();
        }

        @Override
        public void truncate(long size) throws IOException {
            SimulatedDisk.this.truncate(size);
        }

        @Override
        public void force() throws IOException {
            SimulatedDisk.this.force();
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public void close() {
        }
    }
}
