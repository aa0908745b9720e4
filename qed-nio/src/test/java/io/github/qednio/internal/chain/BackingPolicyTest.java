package io.github.qednio.internal.chain;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.BackingPolicy;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.ops.BackingOperations;
import static io.github.qednio.internal.chain.ChainFixtures.pattern;
import static io.github.qednio.internal.chain.ChainFixtures.qemuRead;
import static io.github.qednio.internal.chain.ChainFixtures.readAll;
import static io.github.qednio.internal.chain.ChainFixtures.writeFile;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which backing files an image may reach, and how they are opened: policy, cycles, depth, probing, sharing. */
class BackingPolicyTest {
    private static final int M = 1024 * 1024;
    private static final byte[] SECRET = "TOP SECRET host data".getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path tmp;

    private static OpenOptions policy(BackingPolicy p) {
        return OpenOptions.readOnlyDefaults().withBackingPolicy(p);
    }

    /** {@code image} (standalone, 1 MiB) naming {@code backing} without opening it. */
    private static Path imageNaming(Path image, String backing, ImageFormat format) throws IOException {
        QedImage.create(image, CreateOptions.ofSize(M).withClusterSize(4096)).close();
        BackingOperations.rebaseUnsafe(image, backing, format);
        return image;
    }

    @Test
    void followOpensABackingFileAnywhere() throws IOException {
        Path outside = writeFile(tmp.resolve("base.raw"), pattern(M, 1));
        Path top = imageNaming(Files.createDirectories(tmp.resolve("vm")).resolve("top.qed"), "../base.raw",
                ImageFormat.RAW);
        try (QedImage img = QedImage.open(top, policy(BackingPolicy.FOLLOW))) {
            assertThat(img.backingFile()).isEqualTo(top.getParent().resolve("../base.raw"));
            assertThat(readAll(img)).isEqualTo(Files.readAllBytes(outside));
        }
    }

    @Test
    void confineAcceptsBackingFilesInsideTheTopDirectoryTree() throws IOException {
        Path vm = Files.createDirectories(tmp.resolve("vm/bases"));
        writeFile(vm.resolve("base.raw"), pattern(M, 2));
        Path mid = imageNaming(vm.resolve("mid.qed"), "base.raw", ImageFormat.RAW);
        Path top = imageNaming(tmp.resolve("vm/top.qed"), "bases/../bases/mid.qed", ImageFormat.QED);
        try (QedImage img = QedImage.open(top, policy(BackingPolicy.CONFINE))) {
            assertThat(img.backingImage().backingFile().normalize()).isEqualTo(mid.resolveSibling("base.raw"));
        }
    }

    @Test
    void confineRefusesDotDotEscapes() throws IOException {
        writeFile(tmp.resolve("secret.raw"), SECRET);
        Path top = imageNaming(Files.createDirectories(tmp.resolve("vm")).resolve("top.qed"), "../secret.raw",
                ImageFormat.RAW);
        assertThatThrownBy(() -> QedImage.open(top, policy(BackingPolicy.CONFINE)))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("confine")
                .hasMessageContaining(tmp.toRealPath().resolve("secret.raw").toString());
    }

    @Test
    void confineRefusesSymlinksThatLeadOutsideAtAnyDepth() throws IOException {
        writeFile(tmp.resolve("secret.raw"), SECRET);
        Path vm = Files.createDirectories(tmp.resolve("vm"));
        Files.createSymbolicLink(vm.resolve("link.raw"), tmp.resolve("secret.raw"));
        Path direct = imageNaming(vm.resolve("direct.qed"), "link.raw", ImageFormat.RAW);
        assertThatThrownBy(() -> QedImage.open(direct, policy(BackingPolicy.CONFINE)))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("confine");
        // The escape one level down is caught too; FOLLOW still reads it.
        Path top = imageNaming(vm.resolve("top.qed"), "direct.qed", ImageFormat.QED);
        assertThatThrownBy(() -> QedImage.open(top, policy(BackingPolicy.CONFINE)))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("link.raw");
        try (QedImage img = QedImage.open(top, policy(BackingPolicy.FOLLOW))) {
            ByteBuffer b = ByteBuffer.allocate(SECRET.length);
            img.readFully(b, 0);
            assertThat(b.array()).isEqualTo(SECRET);
        }
    }

    @Test
    void confineIsReappliedToASharedChainOpenedUnderFollow() throws IOException {
        writeFile(tmp.resolve("secret.raw"), SECRET);
        Path vm = Files.createDirectories(tmp.resolve("vm"));
        imageNaming(vm.resolve("base.qed"), tmp.resolve("secret.raw").toString(), ImageFormat.RAW);
        Path first = imageNaming(vm.resolve("first.qed"), "base.qed", ImageFormat.QED);
        Path second = imageNaming(vm.resolve("second.qed"), "base.qed", ImageFormat.QED);
        try (QedImage open = QedImage.open(first, policy(BackingPolicy.FOLLOW))) {
            assertThat(SharedBackings.jvm().references(vm.resolve("base.qed").toRealPath())).isEqualTo(1);
            assertThatThrownBy(() -> QedImage.open(second, policy(BackingPolicy.CONFINE)))
                    .isInstanceOf(QedFormatException.class).hasMessageContaining("confine");
            assertThat(SharedBackings.jvm().references(vm.resolve("base.qed").toRealPath())).isEqualTo(1);
            assertThatThrownBy(() -> QedImage.open(second, policy(BackingPolicy.FOLLOW).withMaxChainDepth(1)))
                    .isInstanceOf(QedFormatException.class).hasMessageContaining("deeper than the limit of 1");
        }
    }

    @Test
    void denyRefusesImagesWithABackingFileOnly() throws IOException {
        writeFile(tmp.resolve("base.raw"), pattern(M, 3));
        Path top = imageNaming(tmp.resolve("top.qed"), "base.raw", ImageFormat.RAW);
        assertThatThrownBy(() -> QedImage.open(top, policy(BackingPolicy.DENY)))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("deny");
        Path alone = tmp.resolve("alone.qed");
        QedImage.create(alone, CreateOptions.ofSize(M)).close();
        QedImage.open(alone, policy(BackingPolicy.DENY)).close();
        assertThatThrownBy(() -> QedImage.create(tmp.resolve("new.qed"), CreateOptions.overlay("base.raw",
                ImageFormat.RAW), OpenOptions.defaults().withBackingPolicy(BackingPolicy.DENY)))
                .isInstanceOf(QedFormatException.class);
        assertThat(tmp.resolve("new.qed")).as("a refused create leaves no file").doesNotExist();
    }

    @Test
    void cyclesAreRefused() throws IOException {
        Path a = imageNaming(tmp.resolve("a.qed"), "b.qed", ImageFormat.QED);
        imageNaming(tmp.resolve("b.qed"), "a.qed", ImageFormat.QED);
        assertThatThrownBy(() -> QedImage.open(a, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("cycle");
        Path self = imageNaming(tmp.resolve("self.qed"), "./self.qed", ImageFormat.QED);
        assertThatThrownBy(() -> QedImage.open(self, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("cycle");
    }

    @Test
    void chainsDeeperThanTheLimitAreRefused() throws IOException {
        int depth = OpenOptions.DEFAULT_MAX_CHAIN_DEPTH;
        writeFile(tmp.resolve("img" + depth + ".raw"), pattern(4096, 4));
        for (int i = depth - 1; i >= 0; i--) {
            String below = "img" + (i + 1) + (i + 1 == depth ? ".raw" : ".qed");
            imageNaming(tmp.resolve("img" + i + ".qed"), below, i + 1 == depth ? ImageFormat.RAW
                    : ImageFormat.QED);
        }
        // img0 has exactly 64 backing files below it: allowed by default, refused with a limit of 63.
        try (QedImage img = QedImage.open(tmp.resolve("img0.qed"), OpenOptions.readOnlyDefaults())) {
            ByteBuffer b = ByteBuffer.allocate(4096);
            img.readFully(b, 0);
            assertThat(b.array()).isEqualTo(pattern(4096, 4));
        }
        assertThatThrownBy(() -> QedImage.open(tmp.resolve("img0.qed"), OpenOptions.readOnlyDefaults()
                .withMaxChainDepth(depth - 1))).isInstanceOf(QedFormatException.class)
                .hasMessageContaining("deeper than the limit of " + (depth - 1));
        Path deeper = imageNaming(tmp.resolve("deeper.qed"), "img0.qed", ImageFormat.QED);
        assertThatThrownBy(() -> QedImage.open(deeper, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("deeper than the limit of " + depth);
    }

    @Test
    void aMissingBackingFileIsNamedWithTheImageThatNamesIt() throws IOException {
        Path mid = imageNaming(tmp.resolve("mid.qed"), "gone.raw", ImageFormat.RAW);
        Path top = imageNaming(tmp.resolve("top.qed"), "mid.qed", ImageFormat.QED);
        assertThatThrownBy(() -> QedImage.open(top, OpenOptions.readOnlyDefaults()))
                .isInstanceOfSatisfying(NoSuchFileException.class, e -> {
                    assertThat(e.getFile()).isEqualTo(tmp.resolve("gone.raw").toString());
                    assertThat(e.getOtherFile()).isEqualTo(mid.toString());
                });
        assertThatThrownBy(() -> QedImage.create(tmp.resolve("new.qed"), CreateOptions.overlay("nothere.qed",
                null))).isInstanceOfSatisfying(NoSuchFileException.class,
                    e -> assertThat(e.getFile()).isEqualTo(tmp.resolve("nothere.qed").toString()));
    }

    @Test
    void backingNamesOver4KiBAreRefusedAtCreateAtOpenAndAtRebase() throws IOException {
        String longName = "d/".repeat(2048) + "base.raw"; // 4104 bytes
        assertThatThrownBy(() -> QedImage.create(tmp.resolve("c.qed"), CreateOptions.overlay(longName,
                ImageFormat.RAW))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4104 bytes").hasMessageContaining("at most 4095");
        assertThat(tmp.resolve("c.qed")).doesNotExist();

        Path img = imageNaming(tmp.resolve("o.qed"), "base.raw", ImageFormat.RAW);
        assertThatThrownBy(() -> BackingOperations.rebaseUnsafe(img, longName, ImageFormat.RAW))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at most 4095");
        // Forge what another writer could leave: a name length of 4096 (QEMU needs it below 4096). The length
        // alone must be refused, before anything is read or resolved.
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ByteBuffer size = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(4096).flip();
            ch.write(size, 60); // backing_filename_size
        }
        assertThatThrownBy(() -> QedImage.open(img, OpenOptions.readOnlyDefaults()))
                .isInstanceOfSatisfying(QedFormatException.class,
                    e -> assertThat(e.field()).isEqualTo("backing_filename_size"))
                .hasMessageContaining("4096").hasMessageContaining(String.valueOf(
                        QedHeader.MAX_BACKING_FILENAME_SIZE));
    }

    @Test
    void aRawBackingFileHoldingAQedHeaderIsReadAsRawWhenNoProbeIsSet() throws IOException {
        Path secret = writeFile(tmp.resolve("secret.txt"), SECRET);
        // What a guest could write into its raw disk: a QED header whose backing file is a host secret.
        Path evil = imageNaming(tmp.resolve("evil.raw"), secret.toString(), ImageFormat.RAW);
        byte[] evilBytes = Files.readAllBytes(evil);
        Path safe = imageNaming(tmp.resolve("safe.qed"), "evil.raw", ImageFormat.RAW);
        Path probed = imageNaming(tmp.resolve("probed.qed"), "evil.raw", null);

        try (QedImage img = QedImage.open(safe, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.RAW);
            byte[] seen = readAll(img);
            assertThat(Arrays.copyOf(seen, evilBytes.length)).isEqualTo(evilBytes);
            assertThat(new String(seen, StandardCharsets.ISO_8859_1)).doesNotContain("TOP SECRET");
        }
        // Without the bit the file is probed, as QEMU does, and the secret shows: what NO_PROBE prevents.
        try (QedImage img = QedImage.open(probed, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.QED);
            assertThat(Arrays.copyOf(readAll(img), SECRET.length)).isEqualTo(SECRET);
        }
        assertThatThrownBy(() -> QedImage.open(probed, OpenOptions.readOnlyDefaults().withProbeBacking(false)))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("probing is disabled");
    }

    /**
     * Notes §9.5: the attack QEMU falls for. With NO_PROBE the file is raw bytes and its qcow2 header never leads
     * to the file it names; without it the file is probed and read as the qcow2 image it is, as QEMU reads it
     * (issue 13), backing file included: exactly what NO_PROBE exists to prevent.
     */
    @Test
    void aRawBackingFileHoldingAQcow2HeaderNeverLeadsToItsBackingFile() throws IOException {
        Qemu.assumeAvailable();
        Path secret = writeFile(tmp.resolve("secret.txt"), SECRET);
        Path evil = tmp.resolve("evil.raw");
        Qemu.img("create", "-q", "-f", "qcow2", "-b", secret.toString(), "-F", "raw", evil.toString(), "1M")
                .assertSuccess();
        byte[] evilBytes = Files.readAllBytes(evil);
        Path safe = imageNaming(tmp.resolve("safe.qed"), "evil.raw", ImageFormat.RAW);
        Path probed = imageNaming(tmp.resolve("probed.qed"), "evil.raw", null);

        try (QedImage img = QedImage.open(safe, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.RAW);
            byte[] seen = readAll(img);
            assertThat(Arrays.copyOf(seen, 4)).containsExactly('Q', 'F', 'I', 0xfb);
            assertThat(Arrays.copyOf(seen, evilBytes.length)).isEqualTo(evilBytes);
        }
        try (QedImage img = QedImage.open(probed, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.QCOW2);
            assertThat(readAll(img)).as("probed, read as QEMU reads it").isEqualTo(qemuRead(probed));
        }
        // The confine policy still keeps the qcow2 image's own backing file inside the top image's directory.
        Path jail = Files.createDirectories(tmp.resolve("jail"));
        Files.copy(evil, jail.resolve("evil.raw"));
        Path confined = imageNaming(jail.resolve("probed.qed"), "evil.raw", null);
        assertThatThrownBy(() -> QedImage.open(confined, OpenOptions.readOnlyDefaults()
                .withBackingPolicy(BackingPolicy.CONFINE))).isInstanceOf(QedFormatException.class)
                .hasMessageContaining("secret.txt").hasMessageContaining("confine");
        assertThat(Arrays.copyOf(qemuRead(safe), 4)).as("QEMU with NO_PROBE").containsExactly('Q', 'F', 'I', 0xfb);
        assertThat(Arrays.copyOf(qemuRead(probed), SECRET.length)).as("QEMU probes qcow2 and follows it")
                .isEqualTo(SECRET);
    }

    @Test
    void createWithoutAFormatProbesOnceAndRecordsARawBaseAsRaw() throws IOException {
        // Probed at create: raw, so recorded as raw (NO_PROBE), and never probed again on open.
        byte[] raw = pattern(M, 6);
        writeFile(tmp.resolve("base.raw"), raw);
        try (QedImage img = QedImage.create(tmp.resolve("ov.qed"), CreateOptions.overlay("base.raw", null))) {
            assertThat(img.header().hasFeature(QedHeader.QED_F_BACKING_FORMAT_NO_PROBE)).isTrue();
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.RAW);
        }
        QedImage.create(tmp.resolve("base.qed"), CreateOptions.ofSize(M)).close();
        try (QedImage img = QedImage.create(tmp.resolve("ov2.qed"), CreateOptions.overlay("base.qed", null))) {
            assertThat(img.header().hasFeature(QedHeader.QED_F_BACKING_FORMAT_NO_PROBE)).isFalse();
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.QED);
        }
        assertThatThrownBy(() -> QedImage.create(tmp.resolve("ov3.qed"), CreateOptions.overlay("base.raw", null),
                OpenOptions.defaults().withProbeBacking(false))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("must be given");
        assertThat(tmp.resolve("ov3.qed")).doesNotExist();
    }

    @Test
    void safeRebaseOntoAChainThatContainsTheOverlayIsRefused() throws IOException {
        writeFile(tmp.resolve("base.raw"), pattern(M, 7));
        Path a = imageNaming(tmp.resolve("a.qed"), "base.raw", ImageFormat.RAW);
        imageNaming(tmp.resolve("b.qed"), "a.qed", ImageFormat.QED);
        byte[] before = Files.readAllBytes(a);
        assertThatThrownBy(() -> BackingOperations.rebase(a, "b.qed", ImageFormat.QED, OpenOptions.defaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("cycle");
        assertThat(Files.readAllBytes(a)).isEqualTo(before);
    }

    /** QEMU 7.2 reads a header with BACKING_FILE set and an empty name as "no backing file"; so do we. */
    @Test
    void anEmptyBackingNameReadsAsNoBackingFileAsInQemu() throws IOException {
        Path img = tmp.resolve("e.qed");
        try (QedImage i = QedImage.create(img, CreateOptions.ofSize(M))) {
            i.write(ByteBuffer.wrap(new byte[] {7}), 0);
        }
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ByteBuffer h = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(QedHeader.QED_F_BACKING_FILE);
            ch.write(h.flip(), 16); // features
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(64).putInt(0).flip(), 56);
        }
        try (QedImage i = QedImage.open(img, OpenOptions.readOnlyDefaults())) {
            assertThat(i.backingFile()).isNull();
            assertThat(i.backingFileName()).isNull();
            assertThat(Arrays.copyOf(readAll(i), 2)).containsExactly(7, 0);
        }
        assertThatThrownBy(() -> BackingOperations.commit(img, OpenOptions.defaults()))
                .isInstanceOf(IOException.class).hasMessageContaining("has no backing file");
    }

    @Test
    void aBackingNameEndsAtItsFirstNulAndADirectoryIsAFormatError() throws IOException {
        // QEMU reads the stored name as a C string, so "a\0b" names "a".
        Path img = imageNaming(tmp.resolve("n.qed"), "a\0b", ImageFormat.RAW);
        assertThatThrownBy(() -> QedImage.open(img, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(java.nio.file.NoSuchFileException.class)
                .hasMessageContaining(tmp.resolve("a").toString());
        Files.createDirectories(tmp.resolve("dir.raw"));
        Path dir = imageNaming(tmp.resolve("d.qed"), "dir.raw", ImageFormat.RAW);
        assertThatThrownBy(() -> QedImage.open(dir, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("a directory");
    }

    @Test
    void sharedBackingFilesSurviveConcurrentOpensAndCloses() throws Exception {
        byte[] base = pattern(M, 8);
        writeFile(tmp.resolve("base.raw"), base);
        Path mid = imageNaming(tmp.resolve("mid.qed"), "base.raw", ImageFormat.RAW);
        Path[] tops = new Path[4];
        for (int i = 0; i < tops.length; i++) {
            tops[i] = imageNaming(tmp.resolve("top" + i + ".qed"), "mid.qed", ImageFormat.QED);
        }
        var pool = java.util.concurrent.Executors.newFixedThreadPool(8);
        try {
            var futures = new java.util.ArrayList<java.util.concurrent.Future<?>>();
            for (int t = 0; t < 8; t++) {
                int seed = t;
                futures.add(pool.submit(() -> {
                    for (int k = 0; k < 25; k++) {
                        int pos = (seed * 7919 + k * 4099) % (M - 64);
                        try (QedImage img = QedImage.open(tops[(seed + k) % tops.length],
                                OpenOptions.readOnlyDefaults())) {
                            ByteBuffer b = ByteBuffer.allocate(64);
                            img.readFully(b, pos);
                            assertThat(b.array()).isEqualTo(Arrays.copyOfRange(base, pos, pos + 64));
                        }
                    }
                    return null;
                }));
            }
            for (var f : futures) {
                f.get(60, java.util.concurrent.TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(SharedBackings.jvm().references(mid.toRealPath())).isZero();
        assertThat(SharedBackings.jvm().references(tmp.resolve("base.raw").toRealPath())).isZero();
    }

    @Test
    void backingImagesAreSharedReadOnlyAndClosedWithTheirLastOverlay() throws IOException {
        writeFile(tmp.resolve("base.raw"), pattern(M, 5));
        Path mid = imageNaming(tmp.resolve("mid.qed"), "base.raw", ImageFormat.RAW);
        Path a = imageNaming(tmp.resolve("a.qed"), "mid.qed", ImageFormat.QED);
        Path b = imageNaming(tmp.resolve("b.qed"), "./mid.qed", ImageFormat.QED);
        Path midReal = mid.toRealPath();
        Path rawReal = tmp.resolve("base.raw").toRealPath();

        QedImage first = QedImage.open(a, OpenOptions.defaults());
        QedImage second = QedImage.open(b, OpenOptions.readOnlyDefaults());
        io.github.qednio.internal.qed.QedEngine shared = first.backing().image();
        assertThat(second.backing().image()).isSameAs(shared);
        assertThat(first.backingFile()).isEqualTo(tmp.resolve("mid.qed"));
        assertThat(second.backingFile()).as("as b names it").isEqualTo(tmp.resolve("./mid.qed"));
        assertThat(shared.isReadOnly()).isTrue();
        assertThatThrownBy(() -> shared.write(ByteBuffer.allocate(1), 0)).isInstanceOf(AccessDeniedException.class);
        assertThat(SharedBackings.jvm().references(midReal)).isEqualTo(2);
        assertThat(SharedBackings.jvm().references(rawReal)).as("opened once, by the shared mid").isEqualTo(1);

        shared.close(); // owned by the overlays: does nothing
        first.close();
        assertThat(shared.isOpen()).isTrue();
        assertThat(Arrays.copyOf(readAll(second), 16)).isEqualTo(Arrays.copyOf(pattern(M, 5), 16));
        second.close();
        assertThat(shared.isOpen()).isFalse();
        assertThat(SharedBackings.jvm().references(midReal)).isZero();
        assertThat(SharedBackings.jvm().references(rawReal)).isZero();
    }
}
