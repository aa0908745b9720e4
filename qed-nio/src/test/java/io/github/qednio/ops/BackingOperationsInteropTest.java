package io.github.qednio.ops;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qed.Extent;
import static io.github.qednio.internal.chain.ChainFixtures.copyDir;
import static io.github.qednio.internal.chain.ChainFixtures.pattern;
import static io.github.qednio.internal.chain.ChainFixtures.qemuChain;
import static io.github.qednio.internal.chain.ChainFixtures.qemuIdentical;
import static io.github.qednio.internal.chain.ChainFixtures.qemuRead;
import static io.github.qednio.internal.chain.ChainFixtures.readAll;
import static io.github.qednio.internal.chain.ChainFixtures.writeFile;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Commit, rebase, removing the backing file and snapshots, each compared with what qemu-img does to a copy of
 * the same starting images.
 */
class BackingOperationsInteropTest {
    private static final int K = 1024;
    private static final int M = 1024 * 1024;

    @TempDir
    Path tmp;
    private Path start;

    @BeforeEach
    void setUp() throws IOException {
        Qemu.assumeAvailable();
        start = Files.createDirectories(tmp.resolve("start"));
    }

    /** An overlay with data, partial and zero clusters, over {@code backingName} (in {@link #start}). */
    private Path overlay(String name, String backingName, ImageFormat format, long size) throws IOException {
        Path ov = start.resolve(name);
        try (QedImage img = QedImage.create(ov, CreateOptions.overlay(backingName, format).withSize(size))) {
            img.write(ByteBuffer.wrap(pattern(10 * K, 21)), 100 * K);
            img.write(ByteBuffer.wrap(pattern(200 * K, 22)), 700 * K);
            img.writeZeroes(256 * K, 128 * K);
            img.write(ByteBuffer.wrap(pattern(K, 23)), size - K);
        }
        return ov;
    }

    private Path qedBaseOverRaw() throws IOException {
        writeFile(start.resolve("bottom.raw"), pattern(2 * M, 24));
        Path base = start.resolve("base.qed");
        try (QedImage img = QedImage.create(base, CreateOptions.overlay("bottom.raw", ImageFormat.RAW))) {
            img.write(ByteBuffer.wrap(pattern(300 * K, 25)), 50 * K);
            img.writeZeroes(M, 64 * K);
        }
        return base;
    }

    @Test
    void commitIntoShorterRawBaseEqualsQemuImgCommit() throws IOException {
        writeFile(start.resolve("base.raw"), pattern(M + 1000, 20));
        overlay("ov.qed", "base.raw", ImageFormat.RAW, 2 * M);
        Path ours = copyDir(start, tmp.resolve("ours"));
        Path theirs = copyDir(start, tmp.resolve("theirs"));
        byte[] before = qemuRead(ours.resolve("ov.qed"));

        long written = BackingOperations.commit(ours.resolve("ov.qed"), OpenOptions.defaults());
        Qemu.img("commit", "-q", "-f", "qed", theirs.resolve("ov.qed").toString()).assertSuccess();

        assertThat(written).isPositive();
        assertThat(Files.size(ours.resolve("base.raw"))).isEqualTo(Files.size(theirs.resolve("base.raw")))
                .isEqualTo(2 * M);
        assertThat(Files.readAllBytes(ours.resolve("base.raw"))).isEqualTo(Files.readAllBytes(
                theirs.resolve("base.raw"))).isEqualTo(before);
        assertThat(qemuRead(ours.resolve("ov.qed"))).isEqualTo(before);
        Qemu.assertCheckClean(ours.resolve("ov.qed"));
    }

    @Test
    void commitIntoSmallerQedBaseEqualsQemuImgCommit() throws IOException {
        qedBaseOverRaw();
        overlay("ov.qed", "base.qed", ImageFormat.QED, 3 * M);
        Path ours = copyDir(start, tmp.resolve("ours"));
        Path theirs = copyDir(start, tmp.resolve("theirs"));

        BackingOperations.commit(ours.resolve("ov.qed"), OpenOptions.defaults());
        Qemu.img("commit", "-q", "-f", "qed", theirs.resolve("ov.qed").toString()).assertSuccess();

        try (QedImage base = QedImage.open(ours.resolve("base.qed"), OpenOptions.readOnlyDefaults())) {
            assertThat(base.size()).as("grown to the overlay's size, as qemu-img commit does").isEqualTo(3 * M);
        }
        assertThat(qemuIdentical(ours.resolve("base.qed"), "qed", theirs.resolve("base.qed"), "qed")).isTrue();
        assertThat(qemuIdentical(ours.resolve("base.qed"), "qed", ours.resolve("ov.qed"), "qed")).isTrue();
        assertThat(qemuIdentical(ours.resolve("base.qed"), "qed", start.resolve("base.qed"), "qed"))
                .as("the commit changed the base").isFalse();
        Qemu.assertCheckClean(ours.resolve("base.qed"));
        assertThat(Files.readAllBytes(ours.resolve("bottom.raw"))).as("only the direct backing file is written")
                .isEqualTo(Files.readAllBytes(start.resolve("bottom.raw")));
    }

    @Test
    void commitIsRefusedWhileAnotherOverlayReadsTheBase() throws IOException {
        qedBaseOverRaw();
        Path ov = overlay("ov.qed", "base.qed", ImageFormat.QED, 2 * M);
        QedImage.create(start.resolve("other.qed"), CreateOptions.overlay("base.qed", ImageFormat.QED)).close();
        try (QedImage other = QedImage.open(start.resolve("other.qed"), OpenOptions.readOnlyDefaults())) {
            assertThatThrownBy(() -> BackingOperations.commit(ov, OpenOptions.defaults()))
                    .isInstanceOf(IOException.class).hasMessageContaining("close them first");
        }
        BackingOperations.commit(ov, OpenOptions.defaults());
    }

    @Test
    void safeRebaseOntoTheBaseBelowEqualsQemuImgRebase() throws IOException {
        qedBaseOverRaw();
        overlay("ov.qed", "base.qed", ImageFormat.QED, 2 * M);
        Path ours = copyDir(start, tmp.resolve("ours"));
        Path theirs = copyDir(start, tmp.resolve("theirs"));
        byte[] before = qemuRead(ours.resolve("ov.qed"));

        long copied = BackingOperations.rebase(ours.resolve("ov.qed"), "bottom.raw", ImageFormat.RAW,
                OpenOptions.defaults());
        Qemu.img("rebase", "-f", "qed", "-b", "bottom.raw", "-F", "raw", theirs.resolve("ov.qed").toString())
                .assertSuccess();

        assertThat(copied).isPositive();
        assertThat(qemuChain(ours.resolve("ov.qed"))).containsExactly("ov.qed:qed", "bottom.raw:raw");
        assertThat(qemuRead(ours.resolve("ov.qed"))).isEqualTo(before);
        assertThat(qemuIdentical(ours.resolve("ov.qed"), "qed", theirs.resolve("ov.qed"), "qed")).isTrue();
        Qemu.assertCheckClean(ours.resolve("ov.qed"));
    }

    @Test
    void safeRebaseOntoAnUnrelatedShorterFileEqualsQemuImgRebase() throws IOException {
        writeFile(start.resolve("old.raw"), pattern(2 * M, 26));
        byte[] other = pattern(M + 512, 27);
        System.arraycopy(pattern(2 * M, 26), 0, other, 0, 512 * K); // the first half MiB is the same
        writeFile(start.resolve("new.raw"), other);
        overlay("ov.qed", "old.raw", ImageFormat.RAW, 2 * M);
        Path ours = copyDir(start, tmp.resolve("ours"));
        Path theirs = copyDir(start, tmp.resolve("theirs"));
        byte[] before = qemuRead(ours.resolve("ov.qed"));

        BackingOperations.rebase(ours.resolve("ov.qed"), "new.raw", ImageFormat.RAW, OpenOptions.defaults());
        Qemu.img("rebase", "-f", "qed", "-b", "new.raw", "-F", "raw", theirs.resolve("ov.qed").toString())
                .assertSuccess();

        assertThat(qemuRead(ours.resolve("ov.qed"))).isEqualTo(before);
        assertThat(qemuIdentical(ours.resolve("ov.qed"), "qed", theirs.resolve("ov.qed"), "qed")).isTrue();
        try (QedImage img = QedImage.open(ours.resolve("ov.qed"), OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFileName()).isEqualTo("new.raw");
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.RAW);
            // Clusters both bases agree on were not copied.
            assertThat(img.extentAt(0).kind()).isEqualTo(Extent.Kind.UNALLOCATED);
            assertThat(img.extentAt(M).kind()).isEqualTo(Extent.Kind.DATA);
        }
        Qemu.assertCheckClean(ours.resolve("ov.qed"));
    }

    @Test
    void removingTheBackingFileEqualsQemuImgRebaseOntoNothing() throws IOException {
        qedBaseOverRaw();
        overlay("ov.qed", "base.qed", ImageFormat.QED, 2 * M);
        Path ours = copyDir(start, tmp.resolve("ours"));
        Path theirs = copyDir(start, tmp.resolve("theirs"));
        byte[] before = qemuRead(ours.resolve("ov.qed"));

        BackingOperations.removeBackingFile(ours.resolve("ov.qed"), OpenOptions.defaults());
        Qemu.img("rebase", "-f", "qed", "-b", "", theirs.resolve("ov.qed").toString()).assertSuccess();
        Files.delete(ours.resolve("base.qed"));
        Files.delete(ours.resolve("bottom.raw"));

        assertThat(qemuChain(ours.resolve("ov.qed"))).containsExactly("ov.qed:qed");
        assertThat(qemuRead(ours.resolve("ov.qed"))).isEqualTo(before);
        assertThat(qemuIdentical(ours.resolve("ov.qed"), "qed", theirs.resolve("ov.qed"), "qed")).isTrue();
        try (QedImage img = QedImage.open(ours.resolve("ov.qed"), OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFileName()).isNull();
            assertThat(readAll(img)).isEqualTo(before);
        }
        Qemu.assertCheckClean(ours.resolve("ov.qed"));
    }

    @Test
    void unsafeRebaseWritesTheSameHeaderAsQemuImgRebaseU() throws IOException {
        writeFile(start.resolve("old.raw"), pattern(M, 28));
        writeFile(start.resolve("new.raw"), pattern(M, 29));
        overlay("ov.qed", "old.raw", ImageFormat.RAW, M);
        Files.delete(start.resolve("old.raw")); // the usual reason for -u: the old file is gone
        Path ours = copyDir(start, tmp.resolve("ours"));
        Path theirs = copyDir(start, tmp.resolve("theirs"));

        BackingOperations.rebaseUnsafe(ours.resolve("ov.qed"), "new.raw", ImageFormat.RAW);
        Qemu.img("rebase", "-u", "-f", "qed", "-b", "new.raw", "-F", "raw", theirs.resolve("ov.qed").toString())
                .assertSuccess();

        assertThat(Files.readAllBytes(ours.resolve("ov.qed"))).isEqualTo(Files.readAllBytes(
                theirs.resolve("ov.qed")));
        assertThat(qemuChain(ours.resolve("ov.qed"))).containsExactly("ov.qed:qed", "new.raw:raw");
    }

    @Test
    void snapshotFreezesTheImageUnderANewOverlay() throws IOException {
        Path base = start.resolve("disk.qed");
        try (QedImage img = QedImage.create(base, CreateOptions.ofSize(3 * M).withClusterSize(16 * K))) {
            img.write(ByteBuffer.wrap(pattern(M, 30)), 0);
        }
        byte[] frozen = qemuRead(base);
        Path snap = start.resolve("snap.qed");
        assertThat(BackingOperations.snapshot(base, snap)).isEqualTo("disk.qed");
        Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere")).resolve("snap2.qed");
        assertThat(BackingOperations.snapshot(base, elsewhere)).isEqualTo(base.toAbsolutePath().toString());

        try (QedImage img = QedImage.open(snap, OpenOptions.defaults())) {
            assertThat(img.size()).isEqualTo(3 * M);
            assertThat(img.geometry().clusterSize()).isEqualTo(16 * K);
            img.write(ByteBuffer.wrap(pattern(5, 31)), 10);
        }
        assertThat(qemuRead(base)).isEqualTo(frozen);
        assertThat(qemuChain(snap)).containsExactly("snap.qed:qed", "disk.qed:qed");
        assertThat(qemuChain(elsewhere)).containsExactly("snap2.qed:qed", "disk.qed:qed");
        byte[] expected = frozen.clone();
        System.arraycopy(pattern(5, 31), 0, expected, 10, 5);
        assertThat(qemuRead(snap)).isEqualTo(expected);
        Qemu.assertCheckClean(snap);

        Path raw = writeFile(start.resolve("disk.raw"), pattern(M, 32));
        BackingOperations.snapshot(raw, start.resolve("rawsnap.qed"));
        String info = Qemu.img("info", "--output=json", start.resolve("rawsnap.qed").toString()).assertSuccess()
                .stdout();
        assertThat(info).contains("\"backing-filename-format\": \"raw\"");
    }
}
