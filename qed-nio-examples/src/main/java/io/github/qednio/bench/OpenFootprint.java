package io.github.qednio.bench;

import io.github.qednio.engine.OpenOptions;
import io.github.qednio.engine.QedImage;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Path;

/**
 * Workload 7, the heap part: in a fresh JVM, opens a 64 TiB image with scattered clusters (read-write, as the file
 * system does) and prints the time of that first open and the heap the open image keeps reachable.
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.github.qednio.bench.OpenFootprint [virtualSize] [clusters]}; prints
 * {@code firstOpenMillis=<ms> retainedHeapBytes=<bytes>}.
 */
public final class OpenFootprint {
    private OpenFootprint() {
    }

    public static void main(String[] args) throws IOException {
        long virtualSize = args.length > 0 ? Long.parseLong(args[0]) : 64L << 40;
        int clusters = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        Path dir = BenchFiles.newDir("footprint");
        try {
            Path image = OpenBenchmark.scatteredImage(dir, virtualSize, clusters);
            long before = usedHeap();
            long t0 = System.nanoTime();
            QedImage img = QedImage.open(image, OpenOptions.defaults());
            long t1 = System.nanoTime();
            long after = usedHeap();
            System.out.printf("firstOpenMillis=%.3f retainedHeapBytes=%d%n", (t1 - t0) / 1e6, after - before);
            img.close();
        } finally {
            BenchFiles.deleteTree(dir);
        }
    }

    private static long usedHeap() {
        MemoryMXBean mx = ManagementFactory.getMemoryMXBean();
        for (int i = 0; i < 4; i++) {
            System.gc();
        }
        return mx.getHeapMemoryUsage().getUsed();
    }
}
