package io.github.qednio.nio;

import io.github.qednio.internal.qed.EngineTestHooks;
import io.github.qednio.image.OpenOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Storage with deterministic hooks for lifecycle tests: a write at one file offset, a force, or a read of the
 * header can be made to stop until the test releases it (waiting uninterruptibly, so that an interrupt of the
 * stopped thread does not end the wait), and every write, force and close is logged in order.
 */
final class HookedStorage extends EngineTestHooks.Interceptor {
    /** A point where a thread stops, once armed, until released. */
    static final class Hook {
        volatile boolean armed;
        final CountDownLatch reached = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        Hook arm() {
            armed = true;
            return this;
        }

        void pass() {
            if (!armed) {
                return;
            }
            reached.countDown();
            boolean interrupted = false;
            while (true) {
                try {
                    release.await();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }

        void awaitReached() throws InterruptedException {
            reached.await();
        }

        void release() {
            release.countDown();
        }
    }

    /** Stops a write at {@link #writeAt}. */
    final Hook write = new Hook();
    volatile long writeAt = -1;
    /** Stops a force. */
    final Hook force = new Hook();
    /** Stops a read at offset 0 (the header, read first by every open). */
    final Hook headerRead;
    private final List<String> events = new ArrayList<>();

    HookedStorage(Hook headerRead) {
        this.headerRead = headerRead;
    }

    /** Options whose storage is a HookedStorage, handed to {@code sink[0]} when the image is opened. */
    static OpenOptions options(OpenOptions base, HookedStorage[] sink, Hook headerRead) {
        return EngineTestHooks.intercepting(base, (file, readOnly) -> {
            HookedStorage s = new HookedStorage(headerRead);
            sink[0] = s;
            return s;
        });
    }

    synchronized List<String> events() {
        return List.copyOf(events);
    }

    private synchronized void log(String e) {
        events.add(e);
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        if (position == 0 && headerRead != null) {
            headerRead.pass();
        }
        return super.read(dst, position);
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
        if (position == writeAt) {
            write.pass();
        }
        super.write(src, position);
        log("write " + position);
    }

    @Override
    public void force() throws IOException {
        force.pass();
        super.force();
        log("force");
    }

    @Override
    public void close() throws IOException {
        log("close");
        super.close();
    }
}
