package io.github.qednio.bench;

import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Path;

/**
 * Workload 7, the first-open and heap part, each measurement in a fresh JVM.
 *
 * <pre>
 * java -cp benchmarks.jar io.github.qednio.bench.OpenFootprint create DIR [virtualSize] [clusters]  # prints the image path
 * java -cp benchmarks.jar io.github.qednio.bench.OpenFootprint measure IMAGE
 * </pre>
 * {@code measure} opens the image read-write (as the file system does) as the first thing the JVM does with the
 * library, and prints {@code firstOpenMillis=<ms, class loading included> retainedHeapBytes=<bytes>}, the heap the
 * open image keeps reachable (used heap after full GCs, with and without it).
 */
public final class OpenFootprint {
    private OpenFootprint() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length >= 2 && args[0].equals("create")) {
            long virtualSize = args.length > 2 ? Long.parseLong(args[2]) : 64L << 40;
            int clusters = args.length > 3 ? Integer.parseInt(args[3]) : 1000;
            System.out.println(OpenBenchmark.scatteredImage(Path.of(args[1]), virtualSize, clusters));
        } else if (args.length == 2 && args[0].equals("measure")) {
            Path image = Path.of(args[1]);
            long before = usedHeap();
            long t0 = System.nanoTime();
            QedImage img = QedImage.open(image, OpenOptions.defaults());
            long t1 = System.nanoTime();
            long after = usedHeap();
            System.out.printf("firstOpenMillis=%.3f retainedHeapBytes=%d%n", (t1 - t0) / 1e6, after - before);
            img.close();
        } else {
            System.err.println("usage: OpenFootprint create DIR [virtualSize] [clusters] | measure IMAGE");
            System.exit(2);
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
