package io.github.qednio.internal.convert;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.ops.InPlaceConverter;
import java.nio.file.Path;

/**
 * Child JVM of {@link ConversionKillTest}: converts {@code args[0]} to {@code args[1]} and, at the progress call
 * named by {@code args[2]} ({@code first}: after the first metadata write; {@code switched}: after the header switch
 * is durable), prints {@code HELD} and waits to be killed.
 */
public final class ConversionKillChild {
    private ConversionKillChild() {
    }

    public static void main(String[] args) throws Exception {
        boolean first = args[2].equals("first");
        int[] calls = {0};
        int[] complete = {0};
        InPlaceConverter.convert(Path.of(args[0]), ImageFormat.valueOf(args[1]), (done, total) -> {
            calls[0]++;
            if (done == total) {
                complete[0]++;
            }
            if (first ? calls[0] == 1 : complete[0] == 2) {
                System.out.println("HELD " + done + "/" + total);
                System.out.flush();
                while (true) {
                    try {
                        Thread.sleep(60_000);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
            }
        });
        System.out.println("DONE");
    }
}
