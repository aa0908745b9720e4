package io.github.qednio.internal.qed;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A partial write into a new cluster past the end of the file, without backing data, leaves the rest of the cluster
 * as a hole instead of writing zeros. These tests pin what that must still guarantee.
 */
class EngineHoleFillTest {
    private static final int CS = 65536;

    @TempDir
    Path dir;

    @Test
    void partialWritesIntoNewClustersReadBackWithZerosAroundThemAfterReopen() throws IOException {
        Path file = dir.resolve("h.qed");
        byte[] a = filled(4096, 0x11);
        byte[] b = filled(100, 0x22);
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20))) {
            img.write(ByteBuffer.wrap(a), 0);                 // head of a cluster; tail is a hole
            img.write(ByteBuffer.wrap(b), 3L * CS + 1000);    // middle of a cluster: head and tail are holes
            assertThat(Files.size(file) % CS).as("file ends on a cluster boundary").isZero();
        }
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(a), 7L * CS + CS - 4096); // after reopening: allocated after, not over
            assertThat(read(img, 0, CS)).isEqualTo(concat(a, new byte[CS - 4096]));
            byte[] c3 = new byte[CS];
            System.arraycopy(b, 0, c3, 1000, b.length);
            assertThat(read(img, 3L * CS, CS)).isEqualTo(c3);
            assertThat(read(img, 7L * CS, CS)).isEqualTo(concat(new byte[CS - 4096], a));
        }
        if (!Qemu.crossChecks()) {
            return; // without QEMU only the cross-checks below are skipped
        }
        Qemu.assertCheckClean(file);
        Path raw = dir.resolve("h.raw");
        try (FileChannel ch = FileChannel.open(raw, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(a), 0);
            ch.write(ByteBuffer.wrap(b), 3L * CS + 1000);
            ch.write(ByteBuffer.wrap(a), 7L * CS + CS - 4096);
            ch.truncate(64L << 20);
            ch.write(ByteBuffer.allocate(1), (64L << 20) - 1);
        }
        Qemu.assertIdentical(file, raw);
    }

    @Test
    void bytesAfterTheLastClusterAreNeverExposedByANewPartialCluster() throws IOException {
        Path file = dir.resolve("g.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20))) {
            img.write(ByteBuffer.wrap(filled(CS, 0x33)), 0);
        }
        long end = Files.size(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(filled(100, 0xFF)), end); // trailing garbage, as after an interrupted append
        }
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(filled(4096, 0x44)), 5L * CS + 4096);
            byte[] want = new byte[CS];
            Arrays.fill(want, 4096, 8192, (byte) 0x44);
            assertThat(read(img, 5L * CS, CS)).as("the cluster over the old garbage reads zeros around the data")
                    .isEqualTo(want);
        }
    }

    private static byte[] read(QedImage img, long pos, int n) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(n);
        img.readFully(buf, pos);
        return buf.array();
    }

    private static byte[] filled(int n, int value) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private static byte[] concat(byte[] x, byte[] y) {
        byte[] r = Arrays.copyOf(x, x.length + y.length);
        System.arraycopy(y, 0, r, x.length, y.length);
        return r;
    }
}
