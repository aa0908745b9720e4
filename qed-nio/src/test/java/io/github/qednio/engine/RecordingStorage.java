package io.github.qednio.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * A real file {@link Storage} that records every write and force in order, and can run a check just before each
 * write reaches the file (to observe what is already on disk at that moment).
 */
final class RecordingStorage implements Storage {
    /** One recorded call: a write of {@code length} bytes at {@code offset}, or a force ({@code offset} -1). */
    record Event(long offset, int length) {
        boolean isForce() {
            return offset < 0;
        }

        @Override
        public String toString() {
            return isForce() ? "force" : "write " + length + " @0x" + Long.toHexString(offset);
        }
    }

    private final Storage delegate;
    private final List<Event> events = new ArrayList<>();
    private volatile LongConsumer beforeWrite = off -> { };

    private RecordingStorage(Storage delegate) {
        this.delegate = delegate;
    }

    /** A factory that opens real files and hands each storage it makes to {@code sink}. */
    static StorageFactory factory(List<RecordingStorage> sink) {
        return (Path file, boolean readOnly) -> {
            RecordingStorage s = new RecordingStorage(Storage.open(file, readOnly));
            sink.add(s);
            return s;
        };
    }

    /** Runs {@code hook} with the offset of each write before the write happens. */
    void beforeWrite(LongConsumer hook) {
        this.beforeWrite = hook;
    }

    synchronized List<Event> events() {
        return List.copyOf(events);
    }

    synchronized void clear() {
        events.clear();
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        return delegate.read(dst, position);
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        beforeWrite.accept(position);
        synchronized (this) {
            events.add(new Event(position, src.remaining()));
        }
        delegate.write(src, position);
    }

    @Override
    public long size() throws IOException {
        return delegate.size();
    }

    @Override
    public void truncate(long size) throws IOException {
        delegate.truncate(size);
    }

    @Override
    public void force() throws IOException {
        synchronized (this) {
            events.add(new Event(-1, 0));
        }
        delegate.force();
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }
}
