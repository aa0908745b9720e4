package io.github.qednio.internal.chain;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qed.Extent;
import io.github.qednio.ops.BackingOperations;
import static io.github.qednio.internal.chain.ChainFixtures.depthOf;
import static io.github.qednio.internal.chain.ChainFixtures.pattern;
import static io.github.qednio.internal.chain.ChainFixtures.qemuMap;
import static io.github.qednio.internal.chain.ChainFixtures.qemuRead;
import static io.github.qednio.internal.chain.ChainFixtures.readAll;
import static io.github.qednio.internal.chain.ChainFixtures.writeFile;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Backing chains against live QEMU: reading chains qemu-img made, and qemu-img reading chains made here. */
class BackingChainInteropTest {
    private static final int K = 1024;
    private static final int M = 1024 * 1024;

    @TempDir
    Path dir;

    @BeforeEach
    void qemu() {
        Qemu.assumeAvailable();
    }

    private static void qemuWrite(Path image, String... commands) {
        String[] args = new String[commands.length * 2 + 3];
        args[0] = "-f";
        args[1] = "qed";
        for (int i = 0; i < commands.length; i++) {
            args[2 + 2 * i] = "-c";
            args[3 + 2 * i] = commands[i];
        }
        args[args.length - 1] = image.toString();
        Qemu.io(args).assertSuccess();
    }

    private static byte[] engineRead(Path image) throws IOException {
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            return readAll(img);
        }
    }

    @Test
    void qemuOverlayOnShorterRawBaseWithRelativeNameReadsAsQemuConverts() throws IOException {
        // 3 MiB + 1000 bytes: the base ends inside a cluster and inside a 512-byte sector.
        writeFile(dir.resolve("base.raw"), pattern(3 * M + 1000, 1));
        Path ov = dir.resolve("ov.qed");
        Qemu.img("create", "-q", "-f", "qed", "-b", "base.raw", "-F", "raw", ov.toString(), "4M").assertSuccess();
        qemuWrite(ov, "write -P 0xab 100k 10k", "write -z 1M 128k", "write -P 0xcd 3000k 200k");

        assertThat(engineRead(ov)).isEqualTo(qemuRead(ov));
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFileName()).isEqualTo("base.raw");
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.RAW);
        }
    }

    @Test
    void qemuOverlayOnLargerQedBaseWithAbsoluteNameIsCutAtItsOwnSize() throws IOException {
        Path base = dir.resolve("base.qed");
        Qemu.img("create", "-q", "-f", "qed", base.toString(), "8M").assertSuccess();
        qemuWrite(base, "write -P 0x11 0 8M", "write -z 2M 64k");
        Path ov = dir.resolve("ov.qed");
        Qemu.img("create", "-q", "-f", "qed", "-b", base.toAbsolutePath().toString(), "-F", "qed", ov.toString(),
                "3M").assertSuccess();
        qemuWrite(ov, "write -P 0x22 1000k 100k", "write -P 0x33 3068k 4k");

        byte[] ours = engineRead(ov);
        assertThat(ours).hasSize(3 * M).isEqualTo(qemuRead(ov));
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.QED);
            assertThat(img.backingImage().size()).isEqualTo(8 * M);
        }
    }

    @Test
    void qemuChainQedOverQedOverRawReadsAsQemuConverts() throws IOException {
        Files.createDirectories(dir.resolve("sub"));
        writeFile(dir.resolve("sub/base.raw"), pattern(5 * M, 2));
        Path mid = dir.resolve("sub/mid.qed");
        Qemu.img("create", "-q", "-f", "qed", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw",
                mid.toString(), "6M").assertSuccess();
        qemuWrite(mid, "write -P 0x44 4k 8k", "write -z 1M 1M", "write -P 0x45 5000k 300k");
        Path top = dir.resolve("top.qed");
        Qemu.img("create", "-q", "-f", "qed", "-b", "sub/mid.qed", "-F", "qed", top.toString(), "6M")
                .assertSuccess();
        qemuWrite(top, "write -P 0x66 6k 1k", "write -P 0x67 1100k 70k", "write -z 4M 256k");

        assertThat(engineRead(top)).isEqualTo(qemuRead(top));
    }

    /** Builds raw -> mid.qed -> top.qed with the engine, mirroring every write in a flat model. */
    @Test
    void engineMadeChainPassesQemuCheckInfoAndCompare() throws IOException {
        byte[] base = pattern(2 * M + 512, 3);
        writeFile(dir.resolve("base.raw"), base);
        byte[] model = Arrays.copyOf(base, 3 * M);
        Path mid = dir.resolve("mid.qed");
        Path top = dir.resolve("top.qed");
        try (QedImage m = QedImage.create(mid, CreateOptions.overlay("base.raw", ImageFormat.RAW)
                .withSize(3 * M))) {
            write(m, model, 70 * K, pattern(5000, 4));
            write(m, model, 2 * M - 100, pattern(300 * K, 5));
            m.writeZeroes(192 * K, 64 * K);
            Arrays.fill(model, 192 * K, 256 * K, (byte) 0);
        }
        try (QedImage t = QedImage.create(top, CreateOptions.overlay(mid.toAbsolutePath().toString(),
                ImageFormat.QED))) {
            assertThat(t.size()).isEqualTo(3 * M);
            write(t, model, 1, pattern(10, 6));
            write(t, model, 200 * K, pattern(100, 7));
            write(t, model, 1 * M, pattern(64 * K, 8));
            t.writeZeroes(1536 * K, 128 * K);
            Arrays.fill(model, 1536 * K, 1664 * K, (byte) 0);
            assertThat(readAll(t)).isEqualTo(model);
        }
        Path modelFile = writeFile(dir.resolve("model.raw"), model);

        Qemu.assertCheckClean(mid);
        Qemu.assertCheckClean(top);
        assertThat(ChainFixtures.qemuChain(top)).containsExactly("top.qed:qed", "mid.qed:qed", "base.raw:raw");
        String info = Qemu.img("info", "--output=json", mid.toString()).assertSuccess().stdout();
        assertThat(info).contains("\"backing-filename-format\": \"raw\"");
        Qemu.assertIdentical(top, modelFile);
        assertThat(engineRead(top)).isEqualTo(model);
    }

    private static void write(QedImage img, byte[] model, int pos, byte[] data) throws IOException {
        img.write(ByteBuffer.wrap(data), pos);
        System.arraycopy(data, 0, model, pos, data.length);
    }

    @Test
    void copyOnReadMovesReadClustersToTheTopSoTheyOutliveTheBackingFile() throws IOException {
        byte[] base = pattern(4 * M, 9);
        writeFile(dir.resolve("base.raw"), base);
        Path ours = dir.resolve("ours.qed");
        Path theirs = dir.resolve("theirs.qed");
        long[][] ranges = {{100 * K, 10 * K}, {M + 5, 70 * K}, {4 * M - 1, 1}};
        for (Path ov : List.of(ours, theirs)) {
            QedImage.create(ov, CreateOptions.overlay("base.raw", ImageFormat.RAW)).close();
            try (QedImage img = QedImage.open(ov, OpenOptions.defaults().withCopyOnRead(true))) {
                for (long[] r : ranges) {
                    ByteBuffer buf = ByteBuffer.allocate((int) r[1]);
                    img.readFully(buf, r[0]);
                    assertThat(buf.array()).isEqualTo(Arrays.copyOfRange(base, (int) r[0], (int) (r[0] + r[1])));
                }
            }
        }
        List<ChainFixtures.MapEntry> map = qemuMap(ours);
        int cs = 64 * K;
        for (long[] r : ranges) {
            long first = r[0] / cs * cs;
            long last = (r[0] + r[1] + cs - 1) / cs * cs;
            assertThat(depthOf(map, first, last)).as("depth of [%d, %d) in %s", first, last, map).isZero();
        }
        assertThat(depthOf(map, 0, 64 * K)).as("a cluster never read stays in the base").isEqualTo(1);
        Qemu.assertCheckClean(ours);

        // Drop the backing file: ours with the engine's unsafe rebase, theirs with qemu-img's.
        BackingOperations.rebaseUnsafe(ours, null, null);
        Qemu.img("rebase", "-u", "-b", "", "-f", "qed", theirs.toString()).assertSuccess();
        for (Path ov : List.of(ours, theirs)) {
            byte[] seen = qemuRead(ov);
            for (long[] r : ranges) {
                long first = r[0] / cs * cs;
                long last = Math.min(base.length, (r[0] + r[1] + cs - 1) / cs * cs);
                assertThat(Arrays.copyOfRange(seen, (int) first, (int) last)).as("%s [%d, %d)", ov, first, last)
                        .isEqualTo(Arrays.copyOfRange(base, (int) first, (int) last));
            }
            assertThat(Arrays.copyOfRange(seen, 0, 64 * K)).as("unread cluster now reads zeros")
                    .containsOnly(0);
            assertThat(engineRead(ov)).isEqualTo(seen);
        }
    }

    /**
     * The spec says a write into a zero cluster fills the rest of the new cluster with zeros. QEMU 7.2 fills it
     * from the backing file instead (notes §14.5): there, bytes the guest zeroed come back as base data. We do
     * what the spec says, and QEMU reads our result as zeros.
     */
    @Test
    void partialWriteIntoZeroClusterFillsRestWithZeros() throws IOException {
        byte[] base = new byte[M];
        Arrays.fill(base, (byte) 0x55);
        writeFile(dir.resolve("base.raw"), base);
        Path ov = dir.resolve("ov.qed");
        byte[] data = pattern(4 * K, 10);
        try (QedImage img = QedImage.create(ov, CreateOptions.overlay("base.raw", ImageFormat.RAW))) {
            img.writeZeroes(0, 64 * K);
            assertThat(img.extentAt(0).kind()).isEqualTo(Extent.Kind.ZERO);
            img.write(ByteBuffer.wrap(data), 8 * K);
            assertThat(img.extentAt(0).kind()).isEqualTo(Extent.Kind.DATA);
        }
        byte[] expected = new byte[64 * K];
        System.arraycopy(data, 0, expected, 8 * K, data.length);
        assertThat(Arrays.copyOf(engineRead(ov), 64 * K)).isEqualTo(expected);
        assertThat(Arrays.copyOf(qemuRead(ov), 64 * K)).isEqualTo(expected);
        Qemu.assertCheckClean(ov);
    }

    @Test
    void partialAllocatingWriteOverBackingFileCopiesTheRestFromIt() throws IOException {
        byte[] base = pattern(M, 11);
        writeFile(dir.resolve("base.raw"), base);
        Path ov = dir.resolve("ov.qed");
        byte[] data = pattern(4 * K, 12);
        try (QedImage img = QedImage.create(ov, CreateOptions.overlay("base.raw", ImageFormat.RAW))) {
            img.write(ByteBuffer.wrap(data), 8 * K);
        }
        byte[] expected = base.clone();
        System.arraycopy(data, 0, expected, 8 * K, data.length);
        // After removing the base, the whole first cluster must still hold base bytes around the write.
        BackingOperations.rebaseUnsafe(ov, null, null);
        assertThat(Arrays.copyOf(qemuRead(ov), 64 * K)).isEqualTo(Arrays.copyOf(expected, 64 * K));
    }
}
