package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.chain.ChainFixtures;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Repair#LEAKS}: leaks in the middle of the file are cleared by moving the clusters after them, and every
 * figure of the result is what a fresh open of the file (and {@code qemu-img check}) finds afterwards, not what the
 * repairing image knows.
 */
class LeakRepairTest {
    private static final int CS = 64 * 1024;

    @TempDir
    Path dir;

    /** The result of a repair equals a check of the file by a fresh read-only open, and by qemu-img. */
    private static void assertFiguresAreTheFiles(CheckResult r, Path file) throws IOException {
        try (QedImage fresh = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            CheckResult c = fresh.check(Repair.NONE);
            assertThat(new CheckResult(r.totalClusters(), r.allocatedClusters(), r.fragmentedClusters(),
                    r.corruptions(), r.leaks(), r.checkErrors(), 0, 0)).as("the repair's result").isEqualTo(c);
        }
        if (Qemu.crossChecks()) {
            Qemu.Result q = Qemu.img("check", "-U", "-f", "qed", "--output=json", file.toString());
            assertThat(r.leaks()).as(q.stdout()).isEqualTo(Qemu.jsonLong(q.stdout(), "leaks"));
            assertThat(r.corruptions()).as(q.stdout()).isEqualTo(Qemu.jsonLong(q.stdout(), "corruptions"));
            assertThat(r.allocatedClusters()).as(q.stdout())
                    .isEqualTo(Qemu.jsonLong(q.stdout(), "allocated-clusters"));
            assertThat(r.exitCode()).as(q.stdout()).isEqualTo(q.exitCode());
        }
    }

    @Test
    void aLeakInTheMiddleOfTheFileIsClearedByMovingTheLastClusterIntoIt() throws IOException {
        Path file = dir.resolve("leak.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20))) {
            img.write(ByteBuffer.wrap(ChainFixtures.pattern(3 * CS, 1)), 0);
            // after the L2 table, at the end of the file
            img.write(ByteBuffer.wrap(ChainFixtures.pattern(CS, 2)), 3 * CS);
        }
        long l2 = ImageFiles.getU64(file, CS); // L1[0]
        ImageFiles.putU64(file, l2 + 8, 0); // the second data cluster is leaked now, in the middle of the file
        Path before = ImageFiles.copy(file, dir.resolve("before.qed"));
        long size = Files.size(file);
        byte[] content;
        CheckResult r;
        try (QedImage img = QedImage.openForCheck(file, OpenOptions.defaults())) {
            content = ChainFixtures.readAll(img);
            r = img.check(Repair.LEAKS);
            assertThat(ChainFixtures.readAll(img)).as("guest content after the repair").isEqualTo(content);
        }
        assertThat(r.leaksFixed()).isEqualTo(1);
        assertThat(r.leaks()).isZero();
        assertThat(Files.size(file)).as("file length").isEqualTo(size - CS);
        assertFiguresAreTheFiles(r, file);
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            assertThat(ChainFixtures.readAll(img)).as("guest content after a reopen").isEqualTo(content);
        }
        if (Qemu.crossChecks()) {
            Qemu.img("compare", "-f", "qed", "-F", "qed", file.toString(), before.toString()).assertSuccess();
        }
    }

    /**
     * Clusters discarded by this open image are known to be free to it, so its own plain check does not count them;
     * on disk they are leaks, and the repair's figures count what is on disk.
     */
    @Test
    void theRepairCountsTheLeaksOnDiskThatTheOpenImageKnowsToBeFree() throws IOException {
        Path file = dir.resolve("discarded.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20))) {
            img.write(ByteBuffer.wrap(ChainFixtures.pattern(6 * CS, 1)), 0);
            img.write(ByteBuffer.wrap(ChainFixtures.pattern(2 * CS, 2)), 6 * CS); // after the L2 table
            byte[] content = ChainFixtures.readAll(img);
            long size = Files.size(file);
            img.discard(CS, 2 * CS);
            img.flush();
            java.util.Arrays.fill(content, CS, 3 * CS, (byte) 0);
            assertThat(img.check(Repair.NONE).leaks()).as("known to be free: not leaks to this image").isZero();

            CheckResult r = img.check(Repair.LEAKS);

            assertThat(r.leaksFixed()).as("the discarded clusters, leaked on disk").isEqualTo(2);
            assertThat(r.leaks()).isZero();
            assertThat(Files.size(file)).isEqualTo(size - 2 * CS);
            assertThat(ChainFixtures.readAll(img)).isEqualTo(content);
            assertFiguresAreTheFiles(r, file);
        }
    }

    /**
     * Whatever the repair can clear (a table needs a free run of its own length to move into), the leaks it reports
     * as remaining are those the file still has.
     */
    @Test
    void theLeaksReportedAfterARepairAreThoseTheFileStillHas() throws IOException {
        Path file = dir.resolve("table-after.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(64L << 20))) {
            // data at 0x50000-0x7ffff, then the L2 table
            img.write(ByteBuffer.wrap(ChainFixtures.pattern(3 * CS, 1)), 0);
        }
        long l2 = ImageFiles.getU64(file, CS);
        ImageFiles.putU64(file, l2 + 8, 0);
        CheckResult r;
        try (QedImage img = QedImage.openForCheck(file, OpenOptions.defaults())) {
            r = img.check(Repair.LEAKS);
        }
        assertThat(r.leaks() + r.leaksFixed()).as("leaks before the repair").isEqualTo(1);
        assertFiguresAreTheFiles(r, file);
    }
}
