package io.github.qednio.bench;

import io.github.qednio.image.Progress;
import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.InPlaceConverter;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Issue 13: the in-place conversion's own time, without the JVM's start, as the first thing the JVM does with the
 * library (class loading included).
 *
 * <pre>
 * java -cp benchmarks.jar io.github.qednio.bench.InPlaceTiming IMAGE qcow2|qed
 * </pre>
 * prints {@code convertMillis=<ms>}.
 */
public final class InPlaceTiming {
    private InPlaceTiming() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: InPlaceTiming IMAGE qcow2|qed");
            System.exit(2);
        }
        long t0 = System.nanoTime();
        InPlaceConverter.convert(Path.of(args[0]), ImageFormat.parse(args[1]), Progress.NONE);
        long t1 = System.nanoTime();
        System.out.printf("convertMillis=%.3f%n", (t1 - t0) / 1e6);
    }
}
