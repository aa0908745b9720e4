package io.github.qednio.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The converter's write-behind: the target's writes run on one other thread in the order they were queued, a failed
 * write fails the caller's next call with that very exception (and the caller never waits forever for a buffer the
 * failed writer would not give back), and nothing runs on the target after close.
 */
class WriteBehindTest {
    private static final int CHUNK = 4096;

    /** Records each call as "write POS LEN" or "zero POS LEN" with the thread it ran on; fails write {@code failAt}. */
    private static final class Recording implements ImageConverter.Target {
        final List<String> calls = Collections.synchronizedList(new ArrayList<>());
        final List<Thread> threads = Collections.synchronizedList(new ArrayList<>());
        final int failAt;
        final IOException failure = new IOException("disk full at the test's write");
        int writes;

        Recording(int failAt) {
            this.failAt = failAt;
        }

        @Override
        public int granule() {
            return CHUNK;
        }

        @Override
        public long size() {
            return Long.MAX_VALUE;
        }

        @Override
        public boolean hasBacking() {
            return false;
        }

        @Override
        public void readCurrent(ByteBuffer dst, long pos) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void write(ByteBuffer src, long pos) throws IOException {
            threads.add(Thread.currentThread());
            if (++writes == failAt) {
                throw failure;
            }
            calls.add("write " + pos + " " + src.remaining() + " " + src.get(src.position()));
        }

        @Override
        public void zero(long pos, long length) {
            threads.add(Thread.currentThread());
            calls.add("zero " + pos + " " + length);
        }

        @Override
        public void close() {
        }
    }

    @Test
    void writesRunInTheirOrderOnOneOtherThreadAndFinishWaitsForThemAll() throws IOException {
        Recording target = new Recording(-1);
        List<String> expected = new ArrayList<>();
        try (WriteBehind pipe = new WriteBehind(target, CHUNK, 3)) {
            for (int chunk = 0; chunk < 50; chunk++) {
                ByteBuffer buf = pipe.nextBuffer();
                byte mark = (byte) chunk;
                while (buf.hasRemaining()) {
                    buf.put(mark);
                }
                long pos = (long) chunk * CHUNK;
                pipe.write(buf.slice(0, 1024), pos);
                pipe.zero(pos + 1024, 1024);
                pipe.write(buf.slice(2048, 2048), pos + 2048);
                pipe.endChunk(buf);
                expected.add("write " + pos + " 1024 " + mark);
                expected.add("zero " + (pos + 1024) + " 1024");
                expected.add("write " + (pos + 2048) + " 2048 " + mark);
            }
            pipe.finish();
        }
        // Each write saw its own chunk's bytes: no buffer was reused before its writes were done.
        assertThat(target.calls).containsExactlyElementsOf(expected);
        assertThat(target.threads).doesNotContain(Thread.currentThread());
        assertThat(new java.util.HashSet<>(target.threads)).hasSize(1);
    }

    @Test
    void aFailedWriteFailsTheCallersNextCallWithItsOwnExceptionAndSkipsTheRest() throws IOException {
        Recording target = new Recording(2);
        try (WriteBehind pipe = new WriteBehind(target, CHUNK, 3)) {
            assertThatThrownBy(() -> {
                // More chunks than buffers: with the writer failed, the caller must still get buffers back.
                for (int chunk = 0; chunk < 20; chunk++) {
                    ByteBuffer buf = pipe.nextBuffer();
                    pipe.write(buf.slice(0, 512), (long) chunk * CHUNK);
                    pipe.endChunk(buf);
                }
                pipe.finish();
            }).isSameAs(target.failure);
        }
        assertThat(target.calls).containsExactly("write 0 512 0");
        assertThat(target.writes).isEqualTo(2);
    }

    @Test
    void depthOneRunsEverythingOnTheCallersThread() throws IOException {
        Recording target = new Recording(-1);
        try (WriteBehind pipe = new WriteBehind(target, CHUNK, 1)) {
            ByteBuffer buf = pipe.nextBuffer();
            pipe.write(buf.slice(0, 16), 0);
            pipe.endChunk(buf);
            pipe.finish();
        }
        assertThat(target.threads).containsOnly(Thread.currentThread());
    }
}
