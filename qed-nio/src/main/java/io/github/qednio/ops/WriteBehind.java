package io.github.qednio.ops;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The target's writes, run in order on a thread of their own while the caller reads and scans the next chunk
 * (qemu-img overlaps them too, with 8 requests in flight), or on the caller's thread with a depth of 1. Only one
 * thread ever writes the target, in the same order, so the image is the same either way. A chunk's buffer comes
 * back for reuse once its writes are done; a failed write fails the next call on the caller's side.
 */
final class WriteBehind implements ImageConverter.Target {
    private final ImageConverter.Target out;
    private final java.util.concurrent.BlockingQueue<ByteBuffer> free;
    private final java.util.concurrent.ExecutorService writer;
    private volatile Throwable failure;
    private volatile boolean cancelled;

    WriteBehind(ImageConverter.Target out, int chunk, int depth) {
        this.out = out;
        this.free = new java.util.concurrent.ArrayBlockingQueue<>(depth);
        for (int i = 0; i < depth; i++) {
            free.add(ByteBuffer.allocateDirect(chunk));
        }
        this.writer = depth == 1 ? null : java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "qed-convert-writer");
            t.setDaemon(true);
            return t;
        });
    }

    /** A free chunk buffer, cleared; waits for the writer to give one back. */
    ByteBuffer nextBuffer() throws IOException {
        check();
        try {
            ByteBuffer b = writer == null ? free.peek() : free.take();
            check();
            return b.clear();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("convert interrupted");
        }
    }

    /** The writes of the chunk in {@code buf} are all queued: it comes back once they are done. */
    void endChunk(ByteBuffer buf) throws IOException {
        if (writer != null) {
            check();
            writer.execute(() -> free.add(buf)); // even after a failure: the caller may wait for it
        }
    }

    /** Waits for every queued write; throws the first failure. */
    void finish() throws IOException {
        if (writer != null) {
            writer.shutdown();
            awaitWriter();
        }
        check();
    }

    private interface Op {
        void run() throws IOException;
    }

    private void run(Op op) throws IOException {
        check();
        if (writer == null) {
            op.run();
            return;
        }
        writer.execute(() -> {
            if (failure != null || cancelled) {
                return;
            }
            try {
                op.run();
            } catch (IOException | RuntimeException | Error e) {
                failure = e;
            }
        });
    }

    private void check() throws IOException {
        Throwable f = failure;
        if (f instanceof IOException e) {
            throw e;
        } else if (f instanceof RuntimeException e) {
            throw e;
        } else if (f instanceof Error e) {
            throw e;
        }
    }

    /** Waits for the writer thread to end, even if interrupted: the target must not be closed under it. */
    private void awaitWriter() {
        boolean interrupted = false;
        while (true) {
            try {
                if (writer.awaitTermination(1, java.util.concurrent.TimeUnit.DAYS)) {
                    break;
                }
            } catch (InterruptedException e) {
                interrupted = true;
                cancelled = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public int granule() {
        return out.granule();
    }

    @Override
    public long size() throws IOException {
        return out.size();
    }

    @Override
    public boolean hasBacking() {
        return out.hasBacking();
    }

    @Override
    public void readCurrent(ByteBuffer dst, long pos) throws IOException {
        out.readCurrent(dst, pos);
    }

    @Override
    public void write(ByteBuffer src, long pos) throws IOException {
        run(() -> out.write(src, pos));
    }

    @Override
    public void zero(long pos, long length) throws IOException {
        run(() -> out.zero(pos, length));
    }

    /** Stops the writer (skipping what is still queued, after a failure on the caller's side) and waits. */
    @Override
    public void close() {
        if (writer != null && !writer.isTerminated()) {
            cancelled = true;
            writer.shutdown();
            awaitWriter();
        }
    }
}
