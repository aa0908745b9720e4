package io.github.qednio.internal.qed;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Child JVM for {@link ProcessKillTest}: runs {@link CrashWorkload} {@code args[1]} through the {@code qed:} file
 * system (a {@link FileChannel} on the image's virtual disk) on the image {@code args[0]}
 * (guest size {@code args[2]}, cluster size {@code args[3]}), printing {@code S i} before starting operation
 * {@code i} and {@code F i} after flush operation {@code i} has returned, until it is killed. After {@code args[4]}
 * operations it waits for stdin to close.
 */
public final class CrashChild {
    private CrashChild() {
    }

    public static void main(String[] args) throws IOException {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true);
        CrashWorkload workload = new CrashWorkload(Long.parseLong(args[1]), Long.parseLong(args[2]),
                Integer.parseInt(args[3]));
        int limit = Integer.parseInt(args[4]);
        URI disk = URI.create("qed:" + Path.of(args[0]).toUri());
        FileChannel image = FileChannel.open(Path.of(disk), StandardOpenOption.READ, StandardOpenOption.WRITE);
        for (int i = 0; i < limit; i++) {
            CrashWorkload.Op op = workload.next();
            out.println("S " + op.index());
            op.apply(image);
            if (op.kind() == CrashWorkload.Kind.FLUSH) {
                out.println("F " + op.index());
            }
        }
        out.println("done");
        while (System.in.read() >= 0) {
            // keep the image open (never closed cleanly) until the parent kills us
        }
    }
}
