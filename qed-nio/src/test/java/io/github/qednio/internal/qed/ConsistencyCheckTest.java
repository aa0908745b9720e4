package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.CorruptImageException;
import io.github.qednio.format.QedHeader;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link QedImage#check(Repair)} against {@code qemu-img check} on the experiment matrix of notes §11.3: a 1 GiB
 * default-geometry image written by {@code qemu-io} at 0, 64K and 10M (L1 at 0x10000, data 0x50000, L2 table
 * 0x60000-0x9FFFF, data 0xA0000 and 0xB0000, file 0xC0000), corrupted in twin copies, one for QEMU and one for us.
 */
class ConsistencyCheckTest {
    private static final long L1 = 0x10000;
    private static final long L2 = 0x60000;
    private static final long CS = 0x10000;
    /** Guest offsets written in the base image and the byte pattern of each. */
    private static final long[] WRITTEN = {0, 64 << 10, 10 << 20};
    private static final int[] PATTERN = {0x11, 0x22, 0x33};

    @TempDir
    static Path shared;
    static Path base;

    @TempDir
    Path dir;

    /** The corruptions of notes §11.3 (c13-c15 are extra: table overlapping L1, self-reference, huge offset). */
    enum Case {
        C1(2, f -> ImageFiles.putU64(f, L2 + 160 * 8, 0x1000000)),
        C2(2, f -> ImageFiles.putU64(f, L2 + 160 * 8, 0xB0800)),
        C3(2, f -> ImageFiles.putU64(f, L1 + 8, 0x2000000)),
        C4(2, f -> ImageFiles.putU64(f, L2 + 160 * 8, 0x50000)),
        C5(2, f -> ImageFiles.putU64(f, L2 + 160 * 8, 0x20000)),
        C6(2, f -> ImageFiles.putU64(f, L2 + 160 * 8, 0x70000)),
        C7(3, f -> ImageFiles.append(f, 2 * (int) CS)),
        C8(2, f -> ImageFiles.truncate(f, 0x90000)),
        C9(0, f -> ImageFiles.append(f, 100)),
        C10(2, f -> ImageFiles.putU64(f, L1 + 8, 1)),
        C11(2, f -> ImageFiles.putU64(f, L1, 0x60008)),
        C12(0, f -> ImageFiles.putU64(f, L2 + 5 * 8, 1)),
        C13(2, f -> ImageFiles.putU64(f, L1 + 8, 0x30000)),
        C14(2, f -> ImageFiles.putU64(f, L2 + 161 * 8, L2)),
        C15(2, f -> ImageFiles.putU64(f, L2 + 160 * 8, 0xFFFFFFFFFFFF0000L)),
        C16(2, f -> ImageFiles.truncate(f, 0xB8000)),
        D1(2, f -> ImageFiles.putU64(f, L1 + 8, L2)),
        NC(0, ConsistencyCheckTest::setNeedCheck),
        /** The notes' j: c1 again, whose {@code -r all --output=json} output the notes record. */
        J(2, C1.corrupt),
        /** c1 plus NEED_CHECK: what a crash after a bad write leaves; a read-write open repairs it. */
        C1_NEED_CHECK(2, C1.corrupt.andThen(ConsistencyCheckTest::setNeedCheck)),
        /** A leak in the middle of the file: the data cluster at 0xA0000 unreferenced, 0xB0000 still in use. */
        M1(3, f -> ImageFiles.putU64(f, L2 + 8, 0));

        final int qemuExitCode;
        final Consumer<Path> corrupt;

        Case(int qemuExitCode, Consumer<Path> corrupt) {
            this.qemuExitCode = qemuExitCode;
            this.corrupt = corrupt;
        }
    }

    @BeforeAll
    static void makeBase() {
        Qemu.assumeAvailable();
        base = shared.resolve("base1.qed");
        Qemu.img("create", "-f", "qed", base.toString(), "1G").assertSuccess();
        String[] args = {"-f", "qed", "-c", "", "-c", "", "-c", "", base.toString()};
        for (int i = 0; i < WRITTEN.length; i++) {
            args[3 + 2 * i] = String.format("write -P 0x%x %d 64k", PATTERN[i], WRITTEN[i]);
        }
        Qemu.io(args).assertSuccess();
        assertThat(ImageFiles.getU64(base, L1)).isEqualTo(L2);
        assertThat(ImageFiles.getU64(base, L2 + 160 * 8)).isEqualTo(0xB0000);
    }

    private Path corrupted(Case c, String name) {
        Path p = ImageFiles.copy(base, dir.resolve(name + ".qed"));
        c.corrupt.accept(p);
        return p;
    }

    private static void setNeedCheck(Path f) {
        ImageFiles.putU64(f, 16, ImageFiles.getU64(f, 16) | QedHeader.QED_F_NEED_CHECK);
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void checkWithoutRepairReportsWhatQemuImgCheckReportsAndWritesNothing(Case c) throws IOException {
        Path ours = corrupted(c, "ours");
        Path theirs = corrupted(c, "theirs");
        byte[] before = ImageFiles.bytes(ours);
        Qemu.Result q = Qemu.img("check", "-f", "qed", "--output=json", theirs.toString());
        assertThat(q.exitCode()).as("qemu-img check rc (notes §11.3) %s", q.stdout()).isEqualTo(c.qemuExitCode);

        CheckResult r;
        try (QedImage img = QedImage.open(ours, OpenOptions.readOnlyDefaults())) {
            r = img.check(Repair.NONE);
            assertReadsMatchQemu(img, theirs);
        }
        assertSameCounts(r, q.stdout(), theirs);
        assertThat(r.exitCode()).isEqualTo(q.exitCode());
        assertThat(r.corruptionsFixed()).isZero();
        assertThat(ImageFiles.bytes(ours)).as("a read-only open and check change nothing").isEqualTo(before);
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void repairOfErrorsMatchesQemuImgCheckRepairAll(Case c) throws IOException {
        Path ours = corrupted(c, "ours");
        Path theirs = corrupted(c, "theirs");
        Qemu.Result q = Qemu.img("check", "-f", "qed", "-r", "all", "--output=json", theirs.toString());

        CheckResult r;
        try (QedImage img = QedImage.open(ours, OpenOptions.defaults())) {
            r = img.check(Repair.ERRORS);
        }
        assertRepairCounts(c, r, q.stdout(), theirs);
        assertThat(r.exitCode()).as("qemu rc after -r all: %s", q.stdout()).isEqualTo(q.exitCode());
        assertThat(r.leaksFixed()).isZero();
        assertThat(ImageFiles.bytes(ours)).as("repaired file bytes equal QEMU's").isEqualTo(ImageFiles.bytes(theirs));
        Qemu.Result again = Qemu.img("check", "-f", "qed", "--output=json", ours.toString());
        assertSameState(r, again.stdout(), ours);
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void repairOfErrorsAndLeaksClearsEveryLeakWhenNoCorruptionRemains(Case c) throws IOException {
        Path ours = corrupted(c, "ours");
        Path theirs = corrupted(c, "theirs");
        Qemu.Result q = Qemu.img("check", "-f", "qed", "-r", "all", "--output=json", theirs.toString());
        long qemuLeaks = Qemu.jsonLong(q.stdout(), "leaks");

        CheckResult r;
        try (QedImage img = QedImage.open(ours, OpenOptions.defaults())) {
            r = img.check(Repair.ERRORS_AND_LEAKS);
        }
        assertThat(r.corruptions()).isEqualTo(Qemu.jsonLong(q.stdout(), "corruptions"));
        assertThat(r.corruptionsFixed()).isEqualTo(repairedByOpen(c) ? 0 : Qemu.jsonLong(q.stdout(),
                "corruptions-fixed"));
        Qemu.Result after = Qemu.img("check", "-f", "qed", "--output=json", ours.toString());
        if (r.corruptions() == 0) {
            // At the end of the file they are cut off; in the middle (M1) the cluster after the leak moves into it.
            assertThat(r.leaksFixed()).isEqualTo(qemuLeaks);
            assertThat(r.leaks()).isZero();
            assertThat(after.exitCode()).as("qemu-img check after: %s", after.stdout()).isZero();
        } else {
            // Tables skipped as duplicates may reference the "leaked" clusters: nothing is cut.
            assertThat(r.leaksFixed()).isZero();
            assertThat(r.leaks()).isEqualTo(qemuLeaks);
        }
        assertSameState(r, after.stdout(), ours);
        Qemu.Result cmp = Qemu.img("compare", "-f", "qed", "-F", "qed", ours.toString(), theirs.toString());
        assertThat(cmp.exitCode()).as("guest content equals QEMU's repair: %s %s", cmp.stdout(), cmp.stderr())
                .isZero();
    }

    /**
     * {@code -r leaks}: a corrupted image keeps its corruptions (QEMU's {@code -r leaks} clears invalid entries; we
     * do not) and, since a table skipped as a duplicate may reference them, its leaks; a consistent image loses
     * every leak. The result is what a fresh {@code qemu-img check} of the file finds.
     */
    @ParameterizedTest
    @EnumSource(Case.class)
    void repairOfLeaksOnlyKeepsCorruptionsAndClearsTheLeaksOfAConsistentImage(Case c) throws IOException {
        Path ours = corrupted(c, "ours");
        Path twin = corrupted(c, "twin");
        Qemu.Result before = Qemu.img("check", "-f", "qed", "--output=json", twin.toString());
        long corruptions = Qemu.jsonLong(before.stdout(), "corruptions");
        byte[] bytes = ImageFiles.bytes(ours);

        CheckResult r;
        try (QedImage img = QedImage.openForCheck(ours, OpenOptions.defaults())) {
            r = img.check(Repair.LEAKS);
        }
        Qemu.Result after = Qemu.img("check", "-f", "qed", "--output=json", ours.toString());
        assertSameState(r, after.stdout(), ours);
        assertThat(r.exitCode()).as("qemu-img check after: %s", after.stdout()).isEqualTo(after.exitCode());
        assertThat(r.corruptionsFixed()).isZero();
        assertThat(r.corruptions()).isEqualTo(corruptions);
        if (corruptions > 0) {
            assertThat(r.leaksFixed()).isZero();
            assertThat(r.leaks()).isEqualTo(Qemu.jsonLong(before.stdout(), "leaks"));
            // Nothing written, but for NEED_CHECK, which a clean close clears (as QEMU's close does).
            byte[] now = ImageFiles.bytes(ours);
            now[16] &= (byte) ~QedHeader.QED_F_NEED_CHECK;
            bytes[16] &= (byte) ~QedHeader.QED_F_NEED_CHECK;
            assertThat(now).as("the corrupted file, but for NEED_CHECK").isEqualTo(bytes);
        } else {
            assertThat(r.leaksFixed()).isEqualTo(Qemu.jsonLong(before.stdout(), "leaks"));
            assertThat(r.leaks()).isZero();
            assertThat(after.exitCode()).isZero();
            Qemu.Result cmp = Qemu.img("compare", "-f", "qed", "-F", "qed", ours.toString(), twin.toString());
            assertThat(cmp.exitCode()).as("guest content unchanged: %s %s", cmp.stdout(), cmp.stderr()).isZero();
        }
    }

    @Test
    void repairOfJReportsWhatTheNotesRecordForQemu() throws IOException {
        Path ours = corrupted(Case.J, "ours");
        Path theirs = corrupted(Case.J, "theirs");
        Qemu.Result q = Qemu.img("check", "-f", "qed", "-r", "all", "--output=json", theirs.toString());
        // notes §11.3 row j: {"corruptions-fixed":1,"leaks":1,"allocated-clusters":2,...}, rc 3
        assertThat(q.exitCode()).isEqualTo(3);
        assertThat(Qemu.jsonLong(q.stdout(), "corruptions-fixed")).isEqualTo(1);
        assertThat(Qemu.jsonLong(q.stdout(), "leaks")).isEqualTo(1);
        assertThat(Qemu.jsonLong(q.stdout(), "allocated-clusters")).isEqualTo(2);
        try (QedImage img = QedImage.open(ours, OpenOptions.defaults())) {
            CheckResult r = img.check(Repair.ERRORS);
            assertSameCounts(r, q.stdout(), theirs);
            assertThat(r.exitCode()).isEqualTo(3);
        }
    }

    @Test
    void readWriteOpenWithNeedCheckRepairsAsQemuIoDoes() throws IOException {
        Path ours = corrupted(Case.C1_NEED_CHECK, "ours");
        Path theirs = corrupted(Case.C1_NEED_CHECK, "theirs");
        Qemu.Result q = Qemu.io("-f", "qed", "-c", "read -P 0 10M 64k", theirs.toString());
        assertThat(q.stdout()).doesNotContain("failed");

        try (QedImage img = QedImage.open(ours, OpenOptions.defaults())) {
            assertThat(img.needsCheck()).isFalse();
            assertThat(ImageFiles.getU64(ours, 16) & QedHeader.QED_F_NEED_CHECK)
                    .as("bit cleared on disk by the open itself").isZero();
            assertThat(ImageFiles.getU64(ours, L2 + 160 * 8)).as("invalid entry cleared").isZero();
            ByteBuffer b = ByteBuffer.allocate(64 << 10);
            img.readFully(b, 10 << 20);
            assertThat(b.array()).containsOnly(0);
        }
        assertThat(ImageFiles.bytes(ours)).isEqualTo(ImageFiles.bytes(theirs));
        Qemu.Result after = Qemu.img("check", "-f", "qed", "--output=json", ours.toString());
        assertThat(Qemu.jsonLong(after.stdout(), "corruptions")).as(after.stdout()).isZero();
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void readWriteOpenWithNeedCheckLeavesTheBytesQemuIoLeaves(Case c) throws IOException {
        Path ours = corrupted(c, "ours");
        Path theirs = corrupted(c, "theirs");
        setNeedCheck(ours);
        setNeedCheck(theirs);
        // qemu-io opens read-write, runs its automatic check-and-repair, reads, and closes cleanly.
        Qemu.Result q = Qemu.io("-f", "qed", "-c", "read 0 512", theirs.toString());
        assertThat(q.exitCode()).as(q.stdout() + q.stderr()).isZero();
        try (QedImage img = QedImage.open(ours, OpenOptions.defaults())) {
            img.readFully(ByteBuffer.allocate(512), 0);
        }
        assertThat(ImageFiles.bytes(ours)).as("after a read-write open and close").isEqualTo(ImageFiles.bytes(theirs));
    }

    @Test
    void readOnlyOpenWithNeedCheckWritesNothingAndStillServesReads() throws IOException {
        Path ours = corrupted(Case.C1_NEED_CHECK, "ours");
        Path theirs = corrupted(Case.C1_NEED_CHECK, "theirs");
        byte[] before = ImageFiles.bytes(ours);
        try (QedImage img = QedImage.open(ours, OpenOptions.readOnlyDefaults())) {
            assertThat(img.needsCheck()).isTrue();
            CheckResult r = img.check(Repair.NONE);
            assertThat(r.corruptions()).isEqualTo(1);
            assertReadsMatchQemu(img, theirs);
            assertThatThrownBy(() -> img.check(Repair.ERRORS)).isInstanceOf(java.nio.file.AccessDeniedException.class);
            assertThatThrownBy(() -> img.readFully(ByteBuffer.allocate(1), 10 << 20))
                    .isInstanceOf(CorruptImageException.class).hasMessageContaining("L2");
        }
        assertThat(ImageFiles.bytes(ours)).isEqualTo(before);
    }

    @Test
    void imageLargerThanClusterSizeMinusOneClustersHasNoPhantomLeaks() throws IOException {
        Path img = dir.resolve("big.qed");
        Qemu.img("create", "-f", "qed", "-o", "cluster_size=4096", img.toString(), "64M").assertSuccess();
        Qemu.io("-f", "qed", "-c", "write -P 0x5a 0 17M", img.toString()).assertSuccess();
        long phantom = Qemu.phantomLeaks(img);
        assertThat(phantom).as("file of %d clusters", Files.size(img) / 4096).isPositive();
        Qemu.Result q = Qemu.img("check", "-f", "qed", "--output=json", img.toString());
        assertThat(Qemu.jsonLong(q.stdout(), "leaks")).isEqualTo(phantom);
        assertThat(q.exitCode()).isEqualTo(3);

        try (QedImage image = QedImage.open(img, OpenOptions.readOnlyDefaults())) {
            CheckResult r = image.check(Repair.NONE);
            assertThat(r.isClean()).as("%s", r).isTrue();
            assertThat(r.exitCode()).isZero();
            assertSameCounts(r, q.stdout(), img);
        }
    }

    /**
     * Our repair's counts equal those of {@code qemu-img check -r all}, except that with NEED_CHECK set our
     * read-write open has already repaired the image (qemu-img check opens without the automatic check).
     */
    private static void assertRepairCounts(Case c, CheckResult r, String json, Path image) {
        if (repairedByOpen(c)) {
            assertSameState(r, json, image);
            assertThat(r.corruptionsFixed()).as("fixed by the open already").isZero();
        } else {
            assertSameCounts(r, json, image);
        }
    }

    private static boolean repairedByOpen(Case c) {
        return c == Case.NC || c == Case.C1_NEED_CHECK;
    }

    /** Our counts equal qemu-img's JSON ones, its leaks minus the phantom ones of notes §11.4. */
    private static void assertSameCounts(CheckResult r, String json, Path image) {
        assertSameState(r, json, image);
        assertThat(r.corruptionsFixed()).as("corruptions-fixed; qemu: %s", json)
                .isEqualTo(Qemu.jsonLong(json, "corruptions-fixed"));
    }

    /** As {@link #assertSameCounts} but for a plain check after our repair: only the state of the image. */
    private static void assertSameState(CheckResult r, String json, Path image) {
        assertThat(r.corruptions()).as("corruptions; qemu: %s; ours: %s", json, r)
                .isEqualTo(Qemu.jsonLong(json, "corruptions"));
        assertThat(r.checkErrors()).as("check-errors; qemu: %s", json).isEqualTo(Qemu.jsonLong(json, "check-errors"));
        assertThat(r.leaks()).as("leaks; qemu: %s; ours: %s", json, r)
                .isEqualTo(Qemu.jsonLong(json, "leaks") - Qemu.phantomLeaks(image));
        assertThat(r.allocatedClusters()).as("allocated; qemu: %s", json)
                .isEqualTo(Qemu.jsonLong(json, "allocated-clusters"));
        assertThat(r.fragmentedClusters()).as("fragmented; qemu: %s", json)
                .isEqualTo(Qemu.jsonLong(json, "fragmented-clusters"));
        assertThat(r.totalClusters()).isEqualTo(Qemu.jsonLong(json, "total-clusters"));
    }

    /** Each written cluster reads as QEMU reads it: the same bytes, or an error where QEMU fails with EINVAL. */
    private static void assertReadsMatchQemu(QedImage img, Path qemuTwin) {
        for (long off : WRITTEN) {
            ByteBuffer b = ByteBuffer.allocate(64 << 10);
            Qemu.Result q;
            try {
                img.readFully(b, off);
            } catch (IOException e) {
                assertThat(e).isInstanceOf(CorruptImageException.class);
                q = Qemu.io("-r", "-f", "qed", "-c", "read " + off + " 64k", qemuTwin.toString());
                assertThat(q.stdout()).as("QEMU fails the read at %d too", off).contains("read failed");
                continue;
            }
            byte first = b.get(0);
            assertThat(b.array()).as("uniform cluster at %d", off).containsOnly(first);
            q = Qemu.io("-r", "-f", "qed", "-c", String.format("read -P 0x%x %d 64k", first & 0xff, off),
                    qemuTwin.toString());
            assertThat(q.stdout()).as("QEMU reads 0x%x at %d", first, off).doesNotContain("failed");
        }
    }
}
