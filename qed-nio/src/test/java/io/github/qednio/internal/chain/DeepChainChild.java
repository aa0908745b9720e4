package io.github.qednio.internal.chain;

import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Child JVM of {@link DeepChainMemoryTest}: opens the top of a deep chain read-only with the default options and
 * reads one block in every L2 table's range of every image, twice, in scattered order, checking each block.
 * Prints {@code OK <reads>} on success, or the failure; an OutOfMemoryError kills the JVM with a non-zero status.
 */
final class DeepChainChild {
    private DeepChainChild() {
    }

    public static void main(String[] args) throws Exception {
        Path top = Path.of(args[0]);
        int tables = Integer.parseInt(args[1]);
        int reads = 0;
        try (QedImage img = QedImage.open(top, OpenOptions.readOnlyDefaults())) {
            for (int pass = 0; pass < 2; pass++) {
                for (int k = 0; k < tables; k++) {
                    // A stride coprime with the table count visits every table, never two neighbours in a row.
                    int j = (int) ((k * 7L + pass * 3L) % tables);
                    ByteBuffer got = ByteBuffer.allocate(DeepChainMemoryTest.BLOCK);
                    img.readFully(got, DeepChainMemoryTest.offsetOf(j));
                    if (!Arrays.equals(got.array(), DeepChainMemoryTest.block(j))) {
                        System.out.println("MISMATCH table " + j);
                        System.exit(3);
                    }
                    reads++;
                }
            }
        }
        System.out.println("OK " + reads);
    }
}
