package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static java.nio.file.StandardOpenOption.CREATE_NEW;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

/**
 * The same random sequence of channel operations on a raw file of the default file system and on a {@code qed:}
 * disk of the same size: every read returns the same bytes, and at the end both hold the same bytes (compared here
 * and by {@code qemu-img compare}).
 */
class DifferentialTest {
    private static final int SIZE = 12 << 20; // spans two L2 tables of a 4 KiB-cluster image
    private static final int OPS = 400;

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void randomOperationsGiveTheSameBytesAsARawFile(long seed) throws IOException {
        boolean qemu = Qemu.crossChecks(); // without QEMU only the cross-checks are skipped
        Path image = dir.resolve("diff.qed");
        Path rawFile = dir.resolve("diff.raw");
        if (qemu) {
            Qemu.img("create", "-f", "qed", "-o", "cluster_size=4096", image.toString(), String.valueOf(SIZE))
                    .assertSuccess();
        } else {
            QedFileSystems.create(image, CreateOptions.ofSize(SIZE).withClusterSize(4096)).close();
        }
        try (FileChannel raw = FileChannel.open(rawFile, READ, WRITE, CREATE_NEW)) {
            raw.write(ByteBuffer.allocate(1), SIZE - 1);
        }
        Path disk = Path.of(URI.create("qed:" + image.toUri()));
        Random rnd = new Random(seed);
        FileChannel raw = FileChannel.open(rawFile, READ, WRITE);
        FileChannel qed = FileChannel.open(disk, READ, WRITE);
        try {
            for (int i = 0; i < OPS; i++) {
                // Flushes and reopens are rarer: they cost an fsync or two each.
                int op = rnd.nextInt(40);
                op = op < 8 ? op : op < 39 ? op % 8 : 8 + rnd.nextInt(2);
                switch (op) {
                    case 0, 1, 2 -> { // positional write, any alignment, sometimes large
                        int len = length(rnd);
                        long pos = rnd.nextInt(SIZE - len + 1);
                        byte[] d = bytes(rnd, len);
                        assertThat(qed.write(ByteBuffer.wrap(d), pos)).isEqualTo(raw.write(ByteBuffer.wrap(d), pos));
                    }
                    case 3 -> { // relative write after a seek
                        int len = length(rnd);
                        long pos = rnd.nextInt(SIZE - len + 1);
                        byte[] d = bytes(rnd, len);
                        raw.position(pos).write(ByteBuffer.wrap(d));
                        qed.position(pos).write(ByteBuffer.wrap(d));
                        assertThat(qed.position()).isEqualTo(raw.position());
                    }
                    case 4, 5 -> { // positional read, also across the end
                        int len = length(rnd);
                        long pos = rnd.nextInt(SIZE + 4096);
                        ByteBuffer a = ByteBuffer.allocate(len);
                        ByteBuffer b = ByteBuffer.allocate(len);
                        assertThat(readFully(qed, b, pos)).isEqualTo(readFully(raw, a, pos));
                        assertThat(b.flip()).isEqualTo(a.flip());
                    }
                    case 6 -> { // relative read
                        long pos = rnd.nextInt(SIZE);
                        int len = length(rnd);
                        ByteBuffer a = ByteBuffer.allocate(len);
                        ByteBuffer b = ByteBuffer.allocate(len);
                        int na = raw.position(pos).read(a);
                        int nb = qed.position(pos).read(b);
                        assertThat(nb).isEqualTo(na);
                        assertThat(b.flip()).isEqualTo(a.flip());
                        assertThat(qed.position()).isEqualTo(raw.position());
                    }
                    case 7 -> { // transferFrom a byte source
                        int len = length(rnd);
                        long pos = rnd.nextInt(SIZE - len + 1);
                        byte[] d = bytes(rnd, len);
                        long nr = raw.transferFrom(Channels.newChannel(new java.io.ByteArrayInputStream(d)), pos, len);
                        long nq = qed.transferFrom(Channels.newChannel(new java.io.ByteArrayInputStream(d)), pos, len);
                        assertThat(nq).isEqualTo(nr);
                    }
                    case 8 -> { // flush
                        raw.force(true);
                        qed.force(true);
                    }
                    default -> { // close and reopen the disk: the implicit image closes and opens again
                        qed.close();
                        qed = FileChannel.open(disk, READ, WRITE);
                    }
                }
            }
        } finally {
            raw.close();
            qed.close();
        }
        byte[] expected = Files.readAllBytes(rawFile);
        assertThat(Files.readAllBytes(disk)).isEqualTo(expected);
        if (qemu) {
            Qemu.assertCheckClean(image);
            Qemu.assertIdentical(image, rawFile);
        }
    }

    private static int length(Random rnd) {
        return switch (rnd.nextInt(4)) {
            case 0 -> 1 + rnd.nextInt(512);
            case 1 -> 512 * (1 + rnd.nextInt(16));
            case 2 -> 1 + rnd.nextInt(70_000);
            default -> 1 + rnd.nextInt(600_000);
        };
    }

    private static byte[] bytes(Random rnd, int len) {
        byte[] d = new byte[len];
        if (rnd.nextInt(5) > 0) { // sometimes all zeros
            rnd.nextBytes(d);
        }
        return d;
    }

    /** Reads until the buffer is full or the channel ends; returns the byte count (-1 if nothing at the end). */
    private static int readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        int total = 0;
        while (b.hasRemaining()) {
            int n = ch.read(b, pos + total);
            if (n < 0) {
                return total == 0 ? -1 : total;
            }
            total += n;
        }
        return total;
    }
}
