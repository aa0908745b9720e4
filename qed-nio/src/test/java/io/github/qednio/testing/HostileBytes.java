package io.github.qednio.testing;

import java.util.Random;

/** Random corruption of a valid image's bytes, for tests that prove hostile files only give IOExceptions. */
public final class HostileBytes {
    private HostileBytes() {
    }

    /**
     * A copy of {@code valid} with 1 to 4 bytes replaced or bit-flipped: two times in three in the header sector
     * (the first 512 bytes), otherwise in the last {@code tail} bytes, where the metadata of the images these tests
     * build lies.
     *
     * @param valid the valid image
     * @param r     the seeded source of randomness
     * @param tail  how many bytes at the end of the file may be hit
     * @return the corrupted copy
     */
    public static byte[] corrupt(byte[] valid, Random r, int tail) {
        byte[] bad = valid.clone();
        int edits = 1 + r.nextInt(4);
        for (int i = 0; i < edits; i++) {
            int at = r.nextInt(3) > 0 ? r.nextInt(512) : valid.length - 1 - r.nextInt(tail);
            bad[at] = (byte) (r.nextBoolean() ? r.nextInt(256) : bad[at] ^ (1 << r.nextInt(8)));
        }
        return bad;
    }
}
