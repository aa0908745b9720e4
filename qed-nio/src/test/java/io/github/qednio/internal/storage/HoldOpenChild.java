package io.github.qednio.internal.storage;

import io.github.qednio.image.ImageLockedException;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Child JVM for locking tests: opens the image given as {@code args[0]} (read-write, or read-only with
 * {@code args[1] = "ro"}), prints {@code open} (or {@code refused <message>}), and keeps it open until stdin closes.
 */
public final class HoldOpenChild {
    private HoldOpenChild() {
    }

    public static void main(String[] args) throws IOException {
        boolean ro = args.length > 1 && args[1].equals("ro");
        OpenOptions opts = ro ? OpenOptions.readOnlyDefaults() : OpenOptions.defaults();
        try (QedImage img = QedImage.open(Path.of(args[0]), opts)) {
            System.out.println("open");
            System.out.flush();
            while (System.in.read() >= 0) {
                // hold the image until the parent closes our stdin
            }
        } catch (ImageLockedException e) {
            System.out.println("refused " + e.getMessage());
            System.out.flush();
        }
    }
}
