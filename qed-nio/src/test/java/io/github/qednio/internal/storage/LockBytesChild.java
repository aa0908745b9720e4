package io.github.qednio.internal.storage;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Child JVM for locking tests: takes shared locks on the bytes {@code args[1..]} of the file {@code args[0]}, as a
 * QEMU user with those permissions would (for example a writer opened with {@code share-rw=on}, which holds the
 * write permission byte 101 but not 201), prints {@code locked}, and holds them until stdin closes.
 */
public final class LockBytesChild {
    private LockBytesChild() {
    }

    public static void main(String[] args) throws IOException {
        try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.READ)) {
            for (int i = 1; i < args.length; i++) {
                ch.lock(Long.parseLong(args[i]), 1, true);
            }
            System.out.println("locked");
            System.out.flush();
            while (System.in.read() >= 0) {
                // hold the locks until the parent closes our stdin
            }
        }
    }
}
