package io.github.qednio.internal.qed;

import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * What a guest may read back after a crash. {@code durable} holds the content as of the last successful flush,
 * which must read back exactly except where a later operation wrote; there each byte must be the durable value or
 * the value some later operation wrote to that very position, never data from anywhere else.
 */
final class GuestModel {
    private final byte[] durable;
    private final List<Written> since = new ArrayList<>();
    private boolean uncertain;

    private record Written(CrashWorkload.Op op, byte[] data) {
    }

    /** @param initial the guest content of the new image: zeros, or the backing file's content cut at the size */
    GuestModel(byte[] initial) {
        this.durable = initial.clone();
    }

    /** An operation was issued; {@code completed} false if it failed (so it may have happened in part). */
    void issued(CrashWorkload.Op op, boolean completed) {
        if (op.kind() != CrashWorkload.Kind.FLUSH) {
            since.add(new Written(op, op.data()));
            uncertain |= !completed;
        }
    }

    /**
     * A flush succeeded: everything issued so far is durable. After failures, learn the exact state from the image
     * (which may be null only when nothing failed).
     */
    void flushed(QedImage image) throws IOException {
        if (uncertain) {
            byte[] now = readAll(image);
            assertAllowed(now, "after a successful flush following failed operations");
            System.arraycopy(now, 0, durable, 0, durable.length);
        } else {
            for (Written w : since) {
                System.arraycopy(w.data(), 0, durable, (int) w.op().position(), w.op().length());
            }
        }
        since.clear();
        uncertain = false;
    }

    /** Asserts that every byte of the image is allowed. */
    void verify(QedImage image, String context) throws IOException {
        assertAllowed(readAll(image), context);
    }

    /** Asserts every byte of {@code actual} is allowed: the durable byte or one a later operation put there. */
    void assertAllowed(byte[] actual, String context) {
        assertThat(actual.length).isEqualTo(durable.length);
        for (int i = 0; i < actual.length; i++) {
            if (actual[i] != durable[i] && !writtenSince(i, actual[i])) {
                throw new AssertionError(String.format("%s: guest byte 0x%x reads 0x%02x; the last flush left 0x%02x"
                        + " and no later operation wrote 0x%02x there (%d operations since the flush: %s)", context, i,
                        actual[i] & 0xff, durable[i] & 0xff, actual[i] & 0xff, since.size(), covering(i)));
            }
        }
    }

    private boolean writtenSince(int pos, byte value) {
        for (Written w : since) {
            long start = w.op().position();
            if (pos >= start && pos < start + w.data().length && w.data()[(int) (pos - start)] == value) {
                return true;
            }
        }
        return false;
    }

    private List<CrashWorkload.Op> covering(int pos) {
        return since.stream().map(Written::op)
                .filter(op -> pos >= op.position() && pos < op.position() + op.length()).toList();
    }

    static byte[] readAll(QedImage image) throws IOException {
        byte[] all = new byte[(int) image.size()];
        ByteBuffer buf = ByteBuffer.wrap(all);
        image.readFully(buf, 0);
        return all;
    }
}
