package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A growable in-memory file that logs writes and forces and can be told to fail writes. */
public final class MemoryStorage implements Storage {
    private byte[] data = new byte[0];
    private final List<String> log = new ArrayList<>();
    private boolean failWrites;
    private Runnable onWrite;

    /** Runs {@code hook} once, at the next write (before it), outside this storage's lock. */
    public void onNextWrite(Runnable hook) {
        synchronized (this) {
            onWrite = hook;
        }
    }

    public MemoryStorage() {
    }

    public MemoryStorage(byte[] initial) {
        data = initial.clone();
    }

    public synchronized byte[] bytes() {
        return data.clone();
    }

    public synchronized void failWrites(boolean value) {
        failWrites = value;
    }

    /** "write OFFSET LENGTH" and "force" entries, oldest first. */
    public synchronized List<String> log() {
        return List.copyOf(log);
    }

    public synchronized void clearLog() {
        log.clear();
    }

    public synchronized long getLong(long offset) {
        return ByteBuffer.wrap(data, (int) offset, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
    }

    public synchronized void putLong(long offset, long value) {
        ensure(offset + 8);
        ByteBuffer.wrap(data, (int) offset, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(value);
    }

    @Override
    public synchronized int read(ByteBuffer dst, long position) {
        if (position >= data.length) {
            return -1;
        }
        int n = (int) Math.min(dst.remaining(), data.length - position);
        dst.put(data, (int) position, n);
        return n;
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        Runnable hook;
        synchronized (this) {
            hook = onWrite;
            onWrite = null;
        }
        if (hook != null) {
            hook.run();
        }
        writeLocked(src, position);
    }

    private synchronized void writeLocked(ByteBuffer src, long position) throws IOException {
        if (failWrites) {
            throw new IOException("Input/output error (simulated, mem)");
        }
        log.add("write " + position + " " + src.remaining());
        ensure(position + src.remaining());
        src.get(data, (int) position, src.remaining());
    }

    private void ensure(long length) {
        if (length > data.length) {
            data = Arrays.copyOf(data, (int) length);
        }
    }

    @Override
    public synchronized long size() {
        return data.length;
    }

    @Override
    public synchronized void truncate(long size) {
        if (size < data.length) {
            data = Arrays.copyOf(data, (int) size);
        }
    }

    @Override
    public synchronized void force() {
        log.add("force");
    }

    @Override
    public String name() {
        return "mem.qed";
    }

    @Override
    public void close() {
    }
}
