package io.github.qednio.cli;

import static io.github.qednio.cli.QedCliTest.cli;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qed check --output=json} against {@code qemu-img check --output=json} on the corruption matrix of the notes
 * (§11.3): the same text, the same keys (those that are zero left out) in the same order. The images are small, so
 * QEMU's false leaks (§11.4) do not occur.
 */
class CheckMatrixTest {
    private static final long L1 = 0x10000;
    private static final long L2 = 0x60000;

    @TempDir
    Path dir;

    /** base1.qed: 1 GiB, writes at 0, 64K and 10M: L2 at 0x60000, data at 0x50000, 0xA0000, 0xB0000. */
    private Path base(String name) {
        Path p = dir.resolve(name);
        Qemu.img("create", "-f", "qed", p.toString(), "1G").assertSuccess();
        Qemu.io("-c", "write -P 1 0 64k", "-c", "write -P 2 64k 64k", "-c", "write -P 3 10M 64k", p.toString())
                .assertSuccess();
        return p;
    }

    static void put(Path p, long offset, long value) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value), offset);
        }
    }

    static void truncate(Path p, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        }
    }

    private static void append(Path p, int bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(bytes), ch.size());
        }
    }

    private static void assertSameCheck(Path p) {
        Qemu.Result q = Qemu.img("check", "--output=json", p.toString());
        Run ours = cli("check", "--output=json", p.toString());
        assertThat(ours.code()).as(p + ": " + q.stdout()).isEqualTo(q.exitCode());
        assertThat(ours.out()).as("check --output=json of %s", p).isEqualTo(q.stdout());
    }

    @Test
    void tableEntriesPastTheEndMisalignedOrOneAgreeWithQemuImgCheck() throws IOException {
        Qemu.assumeAvailable();
        Path c1 = base("c1.qed");
        put(c1, L2 + 160 * 8, 0x1000000);
        assertSameCheck(c1);
        Path c2 = base("c2.qed");
        put(c2, L2 + 160 * 8, 0xB0800);
        assertSameCheck(c2);
        Path c3 = base("c3.qed");
        put(c3, L1 + 8, 0x2000000);
        assertSameCheck(c3);
        Path c10 = base("c10.qed");
        put(c10, L1 + 8, 1);
        assertSameCheck(c10);
        Path c12 = base("c12.qed");
        put(c12, L2 + 5 * 8, 1);
        assertSameCheck(c12);
    }

    @Test
    void truncatedAndExtendedFilesAgreeWithQemuImgCheck() throws IOException {
        Qemu.assumeAvailable();
        Path c8 = base("c8.qed");
        truncate(c8, 0x90000);
        assertSameCheck(c8);
        Path c16 = base("c16.qed");
        truncate(c16, 0xB8000);
        assertSameCheck(c16);
        Path c9 = base("c9.qed");
        append(c9, 100);
        assertSameCheck(c9);
        Path c7 = base("c7.qed");
        append(c7, 2 * 65536);
        assertSameCheck(c7);
        assertSameCheck(base("clean.qed"));
    }
}
