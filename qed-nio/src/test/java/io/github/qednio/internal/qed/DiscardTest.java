package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.chain.ChainFixtures;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link QedImage#discard}: what reads, maps and checks see afterwards, and the reuse of the freed space. */
class DiscardTest {
    private static final int CS = 64 * 1024;

    @TempDir
    Path dir;

    private static void write(QedImage img, long pos, int len, long seed) throws IOException {
        img.write(ByteBuffer.wrap(ChainFixtures.pattern(len, seed)), pos);
    }

    private static byte[] read(QedImage img, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        img.readFully(b, pos);
        return b.array();
    }

    @Test
    void discardedWholeClustersReadAsZerosAndAreUnallocatedWhileNeighboursKeepTheirData() throws IOException {
        Path file = dir.resolve("a.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20))) {
            write(img, 0, 8 * CS, 1);
            img.discard(2 * CS, 3 * CS);
            assertThat(read(img, 2 * CS, 3 * CS)).isEqualTo(new byte[3 * CS]);
            assertThat(read(img, 0, 2 * CS)).isEqualTo(Arrays.copyOfRange(ChainFixtures.pattern(8 * CS, 1), 0, 2 * CS));
            assertThat(read(img, 5 * CS, 3 * CS))
                    .isEqualTo(Arrays.copyOfRange(ChainFixtures.pattern(8 * CS, 1), 5 * CS, 8 * CS));
            assertThat(img.map(2 * CS, 3 * CS)).singleElement()
                    .satisfies(e -> assertThat(e.type()).isEqualTo(MappedExtent.Type.UNALLOCATED));
            assertThat(img.allocatedBytes()).isEqualTo(5L * CS);
        }
        if (Qemu.crossChecks()) {
            List<ChainFixtures.MapEntry> map = ChainFixtures.qemuMap(file);
            assertThat(map).filteredOn(e -> e.start() < 5L * CS && e.end() > 2L * CS)
                    .allSatisfy(e -> assertThat(e.data()).as("qemu-img map: %s", map).isFalse());
            byte[] expected = new byte[64 << 20];
            System.arraycopy(ChainFixtures.pattern(8 * CS, 1), 0, expected, 0, 8 * CS);
            Arrays.fill(expected, 2 * CS, 5 * CS, (byte) 0);
            assertThat(ChainFixtures.qemuRead(file)).isEqualTo(expected);
            Qemu.Result check = Qemu.img("check", "-f", "qed", "--output=json", file.toString());
            assertThat(Qemu.jsonLong(check.stdout(), "corruptions")).as(check.stdout()).isZero();
            // The freed clusters sit between data clusters: unreferenced (leaks to QEMU) until reused or compacted.
            assertThat(Qemu.jsonLong(check.stdout(), "leaks")).as(check.stdout()).isEqualTo(3);
        }
    }

    @Test
    void partialClustersAreZeroedInPlaceAndTheRestOfTheirClusterIsKept() throws IOException {
        Path file = dir.resolve("p.qed");
        byte[] data = ChainFixtures.pattern(4 * CS, 2);
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(16L << 20))) {
            write(img, 0, 4 * CS, 2);
            long before = Files.size(file);
            img.discard(CS / 2, 2 * CS); // half of cluster 0, all of cluster 1, half of cluster 2
            Arrays.fill(data, CS / 2, CS / 2 + 2 * CS, (byte) 0);
            assertThat(read(img, 0, 4 * CS)).isEqualTo(data);
            assertThat(img.allocatedBytes()).isEqualTo(3L * CS);
            assertThat(Files.size(file)).isEqualTo(before);
            img.discard(10L << 20, 1000); // unallocated without a backing file: nothing to do
            assertThat(img.allocatedBytes()).isEqualTo(3L * CS);
        }
        if (Qemu.crossChecks()) {
            assertThat(Arrays.copyOf(ChainFixtures.qemuRead(file), 4 * CS)).isEqualTo(data);
        }
    }

    @Test
    void overABackingFileDiscardedClustersBecomeZeroClustersThatMaskTheBackingData() throws IOException {
        Path base = ChainFixtures.writeFile(dir.resolve("base.raw"), ChainFixtures.pattern(4 << 20, 7));
        Path file = dir.resolve("o.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(4L << 20)
                .withBackingFile("base.raw", ImageFormat.RAW))) {
            write(img, 0, 2 * CS, 3);
            img.discard(0, 4 * CS); // two allocated clusters, two unallocated over backing data
            img.discard(5 * CS + 100, 200); // partial, over backing data
            assertThat(read(img, 0, 4 * CS)).isEqualTo(new byte[4 * CS]);
            assertThat(read(img, 5 * CS + 100, 200)).isEqualTo(new byte[200]);
            assertThat(read(img, 5 * CS, 100)).isEqualTo(Arrays.copyOfRange(ChainFixtures.pattern(4 << 20, 7),
                    5 * CS, 5 * CS + 100));
            assertThat(img.map(0, 4 * CS)).singleElement()
                    .satisfies(e -> assertThat(e.type()).isEqualTo(MappedExtent.Type.ZERO));
        }
        if (Qemu.crossChecks()) {
            byte[] expected = ChainFixtures.pattern(4 << 20, 7);
            Arrays.fill(expected, 0, 4 * CS, (byte) 0);
            Arrays.fill(expected, 5 * CS + 100, 5 * CS + 300, (byte) 0);
            assertThat(ChainFixtures.qemuRead(file)).isEqualTo(expected);
            assertThat(ChainFixtures.depthOf(ChainFixtures.qemuMap(file), 0, 4 * CS)).isZero();
            Qemu.Result check = Qemu.img("check", "-f", "qed", "--output=json", file.toString());
            assertThat(Qemu.jsonLong(check.stdout(), "corruptions")).as(check.stdout()).isZero();
        }
    }

    @Test
    void clustersDiscardedAtTheEndOfTheFileAreCutOffAtTheNextFlush() throws IOException {
        Path file = dir.resolve("t.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20))) {
            write(img, 0, CS, 1); // data, then its L2 table
            long withTable = Files.size(file);
            write(img, 8L * CS, 4 * CS, 2); // four clusters at the end of the file
            img.discard(8L * CS, 4 * CS);
            assertThat(Files.size(file)).as("nothing is given back before the update is durable")
                    .isEqualTo(withTable + 4L * CS);
            img.flush();
            assertThat(Files.size(file)).isEqualTo(withTable);
        }
        if (Qemu.crossChecks()) {
            Qemu.Result check = Qemu.img("check", "-f", "qed", file.toString());
            assertThat(check.exitCode()).as("qemu-img check: %s", check.stdout()).isZero();
        }
    }

    @Test
    void theFileStopsGrowingUnderWriteDiscardWriteWithConstantLiveData() throws IOException {
        Path file = dir.resolve("loop.qed");
        long[] sizes = new long[40];
        byte[] expected = new byte[32 * CS];
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20))) {
            for (int round = 0; round < sizes.length; round++) {
                // 8 live clusters at a time, moving through 32 guest clusters: each round frees 8 and writes 8.
                int slot = round % 4;
                int old = (round + 3) % 4;
                img.discard((long) old * 8 * CS, 8L * CS);
                Arrays.fill(expected, old * 8 * CS, (old + 1) * 8 * CS, (byte) 0);
                write(img, (long) slot * 8 * CS, 8 * CS, round);
                System.arraycopy(ChainFixtures.pattern(8 * CS, round), 0, expected, slot * 8 * CS, 8 * CS);
                sizes[round] = Files.size(file);
            }
            assertThat(read(img, 0, 32 * CS)).isEqualTo(expected);
        }
        assertStoppedGrowingWithQemuSeeingTheSame(file, sizes, expected);
    }

    @Test
    void theFileStopsGrowingAcrossReopensToo() throws IOException {
        Path file = dir.resolve("reopen.qed");
        QedImage.create(file, CreateOptions.ofSize(64L << 20)).close();
        long[] sizes = new long[12];
        byte[] expected = new byte[32 * CS];
        for (int round = 0; round < sizes.length; round++) {
            // One open per round: the clusters freed in the middle of the file are found again after the reopen.
            try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
                int slot = round % 4;
                write(img, (long) slot * 8 * CS, 8 * CS, round);
                System.arraycopy(ChainFixtures.pattern(8 * CS, round), 0, expected, slot * 8 * CS, 8 * CS);
                int old = (round + 3) % 4;
                if (round >= 3) {
                    img.discard((long) old * 8 * CS, 8L * CS);
                    Arrays.fill(expected, old * 8 * CS, (old + 1) * 8 * CS, (byte) 0);
                }
            }
            sizes[round] = Files.size(file);
        }
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            assertThat(read(img, 0, 32 * CS)).isEqualTo(expected);
        }
        assertStoppedGrowingWithQemuSeeingTheSame(file, sizes, expected);
    }

    /** The file is no larger after the last round than after round 4, and QEMU reads the expected content. */
    private static void assertStoppedGrowingWithQemuSeeingTheSame(Path file, long[] sizes, byte[] expected) {
        assertThat(sizes[sizes.length - 1]).as("file sizes per round: %s", Arrays.toString(sizes))
                .isLessThanOrEqualTo(sizes[4]);
        if (Qemu.crossChecks()) {
            try {
                assertThat(Arrays.copyOf(ChainFixtures.qemuRead(file), 32 * CS)).isEqualTo(expected);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            Qemu.Result check = Qemu.img("check", "-f", "qed", "--output=json", file.toString());
            assertThat(Qemu.jsonLong(check.stdout(), "corruptions")).as(check.stdout()).isZero();
        }
    }

    @Test
    void discardIsRefusedOnAReadOnlyImageAndOutsideTheDisk() throws IOException {
        Path file = dir.resolve("ro.qed");
        QedImage.create(file, CreateOptions.ofSize(1L << 20)).close();
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> img.discard(0, CS))
                    .isInstanceOf(java.nio.file.AccessDeniedException.class);
        }
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> img.discard(1L << 20, 1))
                    .isInstanceOf(IOException.class).hasMessageContaining("discard");
        }
    }
}
