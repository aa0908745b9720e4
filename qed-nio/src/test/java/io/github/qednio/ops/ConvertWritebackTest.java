package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.CacheMode;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A conversion large enough for the target's early write-back ({@code -t writeback}: every 32 MiB) and its
 * reservations past the end (every 16 MiB) to happen many times: neither changes a byte of the image. The synced
 * target equals the unsynced one and the one written with preallocation off, and QEMU finds it clean and equal to
 * the source.
 */
class ConvertWritebackTest {
    private static final int MIB = 1 << 20;
    @TempDir
    Path dir;

    /** 96 MiB: 1 MiB of random data every 2 MiB, the rest holes. */
    private Path source() throws IOException {
        Path f = dir.resolve("src.raw");
        SplittableRandom random = new SplittableRandom(42);
        byte[] chunk = new byte[MIB];
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(96L * MIB);
            for (long at = 0; at < 96L * MIB; at += 2L * MIB) {
                random.nextBytes(chunk);
                raf.seek(at);
                raf.write(chunk);
            }
        }
        return f;
    }

    @Test
    void aSyncedConversionWritesTheSameImageAsAnUnsyncedOneAndOneWithoutPreallocation() throws IOException {
        Path src = source();
        ConvertOptions to = ConvertOptions.to(ImageFormat.QED).withSourceFormat(ImageFormat.RAW);
        Path synced = dir.resolve("synced.qed");
        Path unsynced = dir.resolve("unsynced.qed");
        Path plain = dir.resolve("plain.qed");
        ImageConverter.convert(src, synced, to.withCacheMode(CacheMode.WRITEBACK));
        ImageConverter.convert(src, unsynced, to.withCacheMode(CacheMode.UNSAFE));
        String old = System.setProperty("qednio.preallocate", "false");
        try {
            ImageConverter.convert(src, plain, to.withCacheMode(CacheMode.WRITEBACK));
        } finally {
            if (old == null) {
                System.clearProperty("qednio.preallocate");
            } else {
                System.setProperty("qednio.preallocate", old);
            }
        }
        assertThat(Files.mismatch(synced, unsynced)).as("synced (early write-back) against unsynced").isEqualTo(-1);
        assertThat(Files.mismatch(synced, plain)).as("with preallocation against without").isEqualTo(-1);
        Qemu.assumeAvailable();
        Qemu.assertCheckClean(synced);
        Qemu.Result r = Qemu.img("compare", "-f", "qed", "-F", "raw", synced.toString(), src.toString());
        assertThat(r.exitCode()).as("qemu-img compare: %s", r).isZero();
    }
}
