package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.LongConsumer;

/**
 * A real file {@link Storage} that records every write and force in order, and can run a check just before each
 * write reaches the file (to observe what is already on disk at that moment).
 */
public final class RecordingStorage extends ForwardingStorage {
    /** What a recorded call did. */
    public enum Kind { READ, WRITE, FORCE }

    /** One recorded call: a read or write of {@code length} bytes at {@code offset}, or a force. */
    public record Event(Kind kind, long offset, int length) {
        public static Event write(long offset, int length) {
            return new Event(Kind.WRITE, offset, length);
        }

        public static Event force() {
            return new Event(Kind.FORCE, -1, 0);
        }

        public boolean isForce() {
            return kind == Kind.FORCE;
        }

        public boolean isWrite() {
            return kind == Kind.WRITE;
        }

        @Override
        public String toString() {
            return isForce() ? "force" : kind.name().toLowerCase(Locale.ROOT) + " " + length + " @0x"
                    + Long.toHexString(offset);
        }
    }

    private final List<Event> events = new ArrayList<>();
    private volatile LongConsumer beforeWrite = off -> { };

    private RecordingStorage(Storage delegate) {
        super(delegate);
    }

    /** A factory that opens real files and hands each storage it makes to {@code sink}. */
    public static StorageFactory factory(List<RecordingStorage> sink) {
        return (Path file, boolean readOnly) -> {
            RecordingStorage s = new RecordingStorage(Storage.open(file, readOnly));
            sink.add(s);
            return s;
        };
    }

    /** Runs {@code hook} with the offset of each write before the write happens. */
    public void beforeWrite(LongConsumer hook) {
        this.beforeWrite = hook;
    }

    public synchronized List<Event> events() {
        return List.copyOf(events);
    }

    /** Writes and forces only. */
    public synchronized List<Event> writesAndForces() {
        return events.stream().filter(e -> e.kind() != Kind.READ).toList();
    }

    public synchronized void clear() {
        events.clear();
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        int n = delegate().read(dst, position);
        synchronized (this) {
            events.add(new Event(Kind.READ, position, n));
        }
        return n;
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        beforeWrite.accept(position);
        synchronized (this) {
            events.add(Event.write(position, src.remaining()));
        }
        delegate().write(src, position);
    }

    @Override
    public void force() throws IOException {
        synchronized (this) {
            events.add(Event.force());
        }
        delegate().force();
    }
}
