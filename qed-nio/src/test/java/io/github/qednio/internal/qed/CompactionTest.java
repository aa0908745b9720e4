package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.Progress;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.chain.ChainFixtures;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.CorruptImageException;
import io.github.qednio.testing.ConvertBaseline;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link QedImage#compact}: the file shrinks to what {@code qemu-img convert -O qed} makes, content unchanged. */
class CompactionTest {
    private static final int CS = 4096;
    /** 4 KiB clusters, 2-cluster tables: one L2 table maps 4 MiB. */
    private static final CreateOptions SMALL = CreateOptions.ofSize(64L << 20).withClusterSize(CS).withTableSize(2);

    @TempDir
    Path dir;

    /** Scattered data in three L2 ranges, the first range mostly discarded, some clusters zeroed in place. */
    private static void fragment(QedImage img) throws IOException {
        for (int k = 0; k < 300; k++) {
            img.write(ByteBuffer.wrap(ChainFixtures.pattern(CS, k)), (long) k * CS);
        }
        img.write(ByteBuffer.wrap(ChainFixtures.pattern(3 * CS, 1000)), 40L << 20); // second table, late
        img.write(ByteBuffer.wrap(ChainFixtures.pattern(5 * CS, 1001)), 9L << 20); // third table, later still
        img.discard(0, 250L * CS);
        img.writeZeroes(260L * CS, 5L * CS); // allocated clusters now holding zeros
        img.discard(9L << 20, 5L * CS); // the third table maps nothing any more
    }

    @Test
    void compactionShrinksTheFileToWhatQemuImgConvertMakesWithTheSameContent() throws IOException {
        Path file = dir.resolve("c.qed");
        byte[] before;
        long grown;
        long after;
        List<long[]> reported = new ArrayList<>();
        try (QedImage img = QedImage.create(file, SMALL)) {
            fragment(img);
            img.flush();
            grown = Files.size(file);
            before = ChainFixtures.readAll(img);
            after = img.compact((done, total) -> reported.add(new long[] {done, total}));
            assertThat(ChainFixtures.readAll(img)).as("content after compaction").isEqualTo(before);
            assertThat(img.check(Repair.NONE).isClean()).isTrue();
        }
        assertThat(Files.size(file)).isEqualTo(after).isLessThan(grown);
        // header + L1 + 45 data clusters (300 - 250 - 5 zeroed + 3 + 0) + two tables
        assertThat(after).isEqualTo((1 + 2 + 48 + 2 * 2) * (long) CS);
        assertThat(reported).isNotEmpty();
        assertThat(reported.get(reported.size() - 1)[0]).isEqualTo(reported.get(reported.size() - 1)[1]);
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            assertThat(ChainFixtures.readAll(img)).as("content after reopening").isEqualTo(before);
        }
        if (Qemu.crossChecks()) {
            Path converted = dir.resolve("converted.qed");
            Qemu.img("convert", "-O", "qed", "-o", "cluster_size=4096,table_size=2", file.toString(),
                    converted.toString()).assertSuccess();
            assertThat(after).as("compacted vs qemu-img convert -O qed").isLessThanOrEqualTo(Files.size(converted));
            assertThat(ChainFixtures.qemuIdentical(file, "qed", converted, "qed")).isTrue();
            Qemu.Result check = Qemu.img("check", "-f", "qed", file.toString());
            assertThat(check.exitCode()).as("qemu-img check: %s", check.stdout()).isZero();
        }
    }

    /**
     * Compacts {@code file} and asserts what compaction promises whatever the layout before: the guest content
     * unchanged, the file exactly header + tables + data long, no leak, and each table's data in guest order
     * (nothing fragmented); QEMU judges it against {@code qemu-img convert -O qed} when it is there. Meanwhile the
     * file grows by one 16 MiB window (and the tables straddling it) at most.
     */
    private void assertCompactsCompletely(Path file, int tables, int dataClusters) throws IOException {
        Path original = Files.copy(file, dir.resolve(file.getFileName() + ".before"));
        long start = Files.size(file);
        long[] largest = {start};
        byte[] before;
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            before = ChainFixtures.readAll(img);
            img.compact((done, total) -> largest[0] = Math.max(largest[0], file.toFile().length()));
            assertThat(ChainFixtures.readAll(img)).as("content after compaction").isEqualTo(before);
            assertThat(largest[0] - start).as("growth while compacting")
                    .isLessThanOrEqualTo((16L << 20) + 3L * img.geometry().tableBytes());
        }
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            assertThat(ChainFixtures.readAll(img)).as("content after reopening").isEqualTo(before);
            CheckResult check = img.check(Repair.NONE);
            assertThat(check.isClean()).as("%s", check).isTrue();
            assertThat(check.fragmentedClusters()).as("%s", check).isZero();
            long ts = img.geometry().tableSize();
            assertThat(Files.size(file)).as("header, L1, %d L2 tables and %d data clusters", tables, dataClusters)
                    .isEqualTo((img.geometry().headerSize() + ts * (1 + tables) + dataClusters) * CS);
        }
        if (Qemu.crossChecks()) {
            ConvertBaseline.assertNoWorseThanConvert(file, original, "qed");
        }
    }

    /** A new image with {@code clusters} clusters written from 0 in order, then {@code late} at {@code lateAt}. */
    private static Path written(Path file, int clusters, int late, long lateAt) throws IOException {
        try (QedImage img = QedImage.create(file, SMALL)) {
            for (int k = 0; k < clusters; k++) {
                img.write(ByteBuffer.wrap(ChainFixtures.pattern(CS, k)), (long) k * CS);
            }
            img.write(ByteBuffer.wrap(ChainFixtures.pattern(late * CS, 500)), lateAt);
        }
        return file;
    }

    @Test
    void anL1TableAtTheEndOfTheFileMovesAndTheClustersBeforeItAreReclaimed() throws IOException {
        Path file = written(dir.resolve("l1-at-end.qed"), 120, 2, 30L << 20); // an L2 table at the end
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            img.discard(40L * CS, 10L * CS);
        }
        ImageFiles.moveL1ToEnd(file); // the old L1 leaked right after the header, the new one last
        assertCompactsCompletely(file, 2, 112);
    }

    @Test
    void anImageRepairedAfterACrashLeavesNoLeakInTheMiddle() throws IOException {
        Path file = written(dir.resolve("repaired.qed"), 100, 3, 40L << 20);
        // A crash lost the L2 update of cluster 10 (its data cluster leaked in the middle of the file), with
        // NEED_CHECK set: the open repairs, the leak stays for compaction.
        long l2 = ImageFiles.getU64(file, ImageFiles.getU64(file, 40));
        ImageFiles.putU64(file, l2 + 10 * 8, 0);
        ImageFiles.putU64(file, 16, 2);
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            assertThat(img.needsCheck()).isFalse();
            assertThat(img.check(Repair.NONE).leaks()).isEqualTo(1);
        }
        assertCompactsCompletely(file, 2, 102);
    }

    @Test
    void dataWrittenBackwardsOverManyWindowsEndsInGuestOrder() throws IOException {
        Path file = dir.resolve("backwards.qed");
        int clusters = 6000; // more than one 16 MiB window of 4 KiB clusters
        try (QedImage img = QedImage.create(file, SMALL)) {
            for (int k = clusters - 1; k >= 0; k--) {
                img.write(ByteBuffer.wrap(ChainFixtures.pattern(CS, k)), (long) k * CS);
            }
            img.discard(0, 2L * CS);
        }
        ImageFiles.moveL1ToEnd(file);
        assertCompactsCompletely(file, 6, clusters - 2);
    }

    @Test
    void anOverlayKeepsItsZeroClustersMaskingTheBackingFile() throws IOException {
        ChainFixtures.writeFile(dir.resolve("base.raw"), ChainFixtures.pattern(8 << 20, 5));
        Path file = dir.resolve("o.qed");
        byte[] before;
        try (QedImage img = QedImage.create(file, SMALL.withSize(8L << 20)
                .withBackingFile("base.raw", ImageFormat.RAW))) {
            for (int k = 0; k < 64; k++) {
                img.write(ByteBuffer.wrap(ChainFixtures.pattern(CS, k)), (long) k * CS);
            }
            img.discard(0, 40L * CS);
            img.write(ByteBuffer.allocate(CS), 50L * CS); // zeros over backing data: must keep masking it
            before = ChainFixtures.readAll(img);
            img.compact(Progress.NONE);
            assertThat(ChainFixtures.readAll(img)).isEqualTo(before);
            assertThat(img.map(50L * CS, CS).get(0).type()).isEqualTo(MappedExtent.Type.ZERO);
        }
        assertThat(Files.size(file)).isEqualTo((1 + 2 + 2 + 23) * (long) CS);
        if (Qemu.crossChecks()) {
            assertThat(ChainFixtures.qemuRead(file)).isEqualTo(before);
            assertThat(Qemu.img("check", "-f", "qed", file.toString()).exitCode()).isZero();
        }
    }

    @Test
    void anInconsistentImageIsRefusedAndLeftAlone() throws IOException {
        Path file = dir.resolve("bad.qed");
        try (QedImage img = QedImage.create(file, SMALL)) {
            img.write(ByteBuffer.wrap(ChainFixtures.pattern(2 * CS, 1)), 0);
        }
        // Both L2 entries name the same cluster.
        long l2 = ImageFiles.getU64(file, CS); // L1[0], the L1 table following the one header cluster
        ImageFiles.putU64(file, l2 + 8, ImageFiles.getU64(file, l2));
        byte[] bytes = ImageFiles.bytes(file);
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            assertThatThrownBy(() -> img.compact(Progress.NONE)).isInstanceOf(CorruptImageException.class)
                    .hasMessageContaining("check");
        }
        assertThat(ImageFiles.bytes(file)).isEqualTo(bytes);
    }
}
