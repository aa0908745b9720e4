package io.github.qednio.internal.chain;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.storage.ProcLocks;
import io.github.qednio.ops.BackingOperations;
import static io.github.qednio.internal.chain.ChainFixtures.pattern;
import static io.github.qednio.internal.chain.ChainFixtures.qemuIdentical;
import static io.github.qednio.internal.chain.ChainFixtures.qemuRead;
import static io.github.qednio.internal.chain.ChainFixtures.readAll;
import static io.github.qednio.internal.chain.ChainFixtures.writeFile;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.QedFormatException;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 13: QED overlays over qcow2 base images made by QEMU (plain, compressed, mixed, with a backing file of
 * their own) read, map, copy on write and copy on read as QEMU does, and a qcow2 base is never written.
 */
class Qcow2BackingInteropTest {
    private static final int K = 1024;
    private static final int M = 1024 * K;
    /** Odd on purpose: the base ends inside a qcow2 cluster and a QED cluster. */
    private static final long SIZE = 4 * M + 7 * 512;
    /** Writes into a base made by qemu-io: data, partial clusters, zero clusters and the last sector. */
    private static final String[] BASE_WRITES = {"write -P 0x11 0 64k", "write -P 0x22 100k 30k",
        "write -z 256k 128k", "write -P 0x33 1M 200k", "write -P 0x44 4M 3584"};
    /** Partial-cluster writes into the overlay: over data, compressed data, zero and unallocated base clusters. */
    private static final long[][] OVERLAY_WRITES = {{5, 100}, {110 * K, 3 * K}, {300 * K, 1}, {1100 * K, 70 * K},
        {3 * M + 17, 10}, {SIZE - 3, 3}};

    @TempDir
    Path dir;

    @BeforeEach
    void qemu() {
        Qemu.assumeAvailable();
    }

    /** The qcow2 bases: each is named base.qcow2 in its own directory. */
    enum Base {
        /** Uncompressed, 64 KiB clusters, zero clusters. */
        PLAIN,
        /** 4 KiB clusters: one QED cluster of the overlay spans 16 qcow2 clusters. */
        SMALL_CLUSTERS,
        /** Every cluster compressed by {@code qemu-img convert -c}. */
        COMPRESSED,
        /** Compressed, then partly overwritten: compressed and plain clusters side by side. */
        MIXED,
        /** A qcow2 image over a raw file: its unallocated clusters read the raw file. */
        OVER_RAW,
        /** A qcow2 image over a QED image. */
        OVER_QED,
        /** A qcow2 image over a compressed qcow2 image. */
        OVER_QCOW2
    }

    private Path makeBase(Base kind) throws IOException {
        Path d = Files.createDirectories(dir.resolve(kind.name().toLowerCase()));
        Path base = d.resolve("base.qcow2");
        String size = Long.toString(SIZE);
        switch (kind) {
            case PLAIN, SMALL_CLUSTERS -> {
                Qemu.img("create", "-q", "-f", "qcow2", "-o", "cluster_size="
                        + (kind == Base.PLAIN ? 65536 : 4096), base.toString(), size).assertSuccess();
                qemuIo(base, "qcow2", BASE_WRITES);
            }
            case COMPRESSED, MIXED -> {
                Path plain = d.resolve("plain.qcow2");
                Qemu.img("create", "-q", "-f", "qcow2", plain.toString(), size).assertSuccess();
                qemuIo(plain, "qcow2", BASE_WRITES);
                Qemu.img("convert", "-c", "-O", "qcow2", plain.toString(), base.toString()).assertSuccess();
                Files.delete(plain);
                if (kind == Base.MIXED) {
                    qemuIo(base, "qcow2", "write -P 0x55 1088k 64k", "write -z 0 4k");
                }
            }
            case OVER_RAW -> {
                writeFile(d.resolve("low.raw"), pattern(3 * M + 100, 7));
                Qemu.img("create", "-q", "-f", "qcow2", "-b", "low.raw", "-F", "raw", base.toString(), size)
                        .assertSuccess();
                qemuIo(base, "qcow2", BASE_WRITES);
            }
            case OVER_QED -> {
                Path low = d.resolve("low.qed");
                Qemu.img("create", "-q", "-f", "qed", low.toString(), size).assertSuccess();
                qemuIo(low, "qed", "write -P 0x66 0 4M", "write -z 2M 64k");
                Qemu.img("create", "-q", "-f", "qcow2", "-b", "low.qed", "-F", "qed", base.toString(), size)
                        .assertSuccess();
                qemuIo(base, "qcow2", BASE_WRITES);
            }
            case OVER_QCOW2 -> {
                Path plain = d.resolve("plain.qcow2");
                Qemu.img("create", "-q", "-f", "qcow2", plain.toString(), size).assertSuccess();
                qemuIo(plain, "qcow2", "write -P 0x77 0 " + SIZE);
                Qemu.img("convert", "-c", "-O", "qcow2", plain.toString(), d.resolve("low.qcow2").toString())
                        .assertSuccess();
                Files.delete(plain);
                Qemu.img("create", "-q", "-f", "qcow2", "-b", "low.qcow2", "-F", "qcow2", base.toString(), size)
                        .assertSuccess();
                qemuIo(base, "qcow2", BASE_WRITES);
            }
        }
        return base;
    }

    private static void qemuIo(Path image, String format, String... commands) {
        Qemu.ioCommands(image, format, commands);
    }

    /** An overlay made by QEMU with {@code -F qcow2} (QED does not record it: the base is probed on open). */
    private static Path qemuOverlay(Path base, String name) {
        Path ov = base.resolveSibling(name);
        Qemu.img("create", "-q", "-f", "qed", "-b", base.getFileName().toString(), "-F", "qcow2", ov.toString())
                .assertSuccess();
        return ov;
    }

    /** Reads every byte in odd-sized pieces, so that reads start and end inside clusters of both images. */
    private static byte[] readInPieces(QedImage img) throws IOException {
        byte[] all = new byte[(int) img.size()];
        for (int pos = 0; pos < all.length; pos += 12345) {
            img.readFully(ByteBuffer.wrap(all, pos, Math.min(12345, all.length - pos)), pos);
        }
        return all;
    }

    @ParameterizedTest
    @EnumSource(Base.class)
    void anOverlayOverAQcow2BaseReadsEveryByteAsQemuReadsIt(Base kind) throws IOException {
        Path base = makeBase(kind);
        byte[] baseBytes = Files.readAllBytes(base);
        Path byQemu = qemuOverlay(base, "qemu.qed");
        Path recorded = base.resolveSibling("recorded.qed");
        QedImage.create(recorded, CreateOptions.overlay("base.qcow2", ImageFormat.QCOW2)).close();
        Path probed = base.resolveSibling("probed.qed");
        QedImage.create(probed, CreateOptions.overlay("base.qcow2", null)).close();
        byte[] expected = qemuRead(byQemu);
        assertThat(expected).hasSize((int) SIZE);
        for (Path ov : List.of(byQemu, recorded, probed)) {
            try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
                assertThat(img.size()).as("size taken from the qcow2 header").isEqualTo(SIZE);
                assertThat(img.backingFormat()).isEqualTo(ImageFormat.QCOW2);
                assertThat(readAll(img)).as("%s over a %s base", ov.getFileName(), kind).isEqualTo(expected);
                assertThat(readInPieces(img)).isEqualTo(expected);
            }
            assertThat(qemuRead(ov)).as("QEMU reads our overlay the same").isEqualTo(expected);
        }
        assertThat(Files.readAllBytes(base)).as("the base is never written").isEqualTo(baseBytes);
    }

    /** One entry of {@code qemu-img map --output=json}, with the host offset (-1 when QEMU gives none). */
    private record QemuExtent(long start, long length, int depth, boolean data, long offset) {
    }

    private static List<QemuExtent> qemuMapWithOffsets(Path image) {
        String json = Qemu.img("map", "--output=json", image.toString()).assertSuccess().stdout();
        Matcher m = Pattern.compile("\\{\\s*\"start\":\\s*(\\d+),\\s*\"length\":\\s*(\\d+),\\s*\"depth\":\\s*(\\d+),"
                + "[^}]*\"data\":\\s*(true|false)(?:,\\s*\"offset\":\\s*(\\d+))?").matcher(json);
        List<QemuExtent> out = new ArrayList<>();
        while (m.find()) {
            out.add(new QemuExtent(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)),
                    Integer.parseInt(m.group(3)), Boolean.parseBoolean(m.group(4)),
                    m.group(5) == null ? -1 : Long.parseLong(m.group(5))));
        }
        return out;
    }

    @ParameterizedTest
    @EnumSource(Base.class)
    void mapThroughAQcow2BaseAgreesWithQemuImgMap(Base kind) throws IOException {
        Path base = makeBase(kind);
        Path ov = qemuOverlay(base, "ov.qed");
        qemuIo(ov, "qed", "write -P 0x99 2M 64k", "write -z 3M 64k");
        List<MappedExtent> ours;
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            ours = img.map(0, img.size());
        }
        List<QemuExtent> theirs = qemuMapWithOffsets(ov);
        assertThat(ours.get(ours.size() - 1).end()).isEqualTo(SIZE);
        int compared = 0;
        for (MappedExtent e : ours) {
            for (QemuExtent q : theirs) {
                long s = Math.max(e.start(), q.start());
                if (s >= Math.min(e.end(), q.start() + q.length())) {
                    continue;
                }
                compared++;
                String what = e + " vs " + q;
                assertThat(e.depth()).as(what).isEqualTo(q.depth());
                assertThat(e.type() == MappedExtent.Type.DATA).as(what).isEqualTo(q.data());
                if (q.data()) {
                    assertThat(e.hostOffset() < 0 ? -1 : e.hostOffset() + (s - e.start()))
                            .as("host offset (-1: compressed) of %s", what)
                            .isEqualTo(q.offset() < 0 ? -1 : q.offset() + (s - q.start()));
                }
            }
        }
        assertThat(compared).isGreaterThanOrEqualTo(ours.size());
        if (kind == Base.COMPRESSED || kind == Base.MIXED) {
            assertThat(ours).as("compressed clusters: data without a host offset")
                    .anyMatch(e -> e.depth() == 1 && e.type() == MappedExtent.Type.DATA && e.hostOffset() == -1);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Base.class, names = {"PLAIN", "SMALL_CLUSTERS", "MIXED", "OVER_QED"})
    void copyOnWriteIntoTheOverlayEqualsQemusAndNeverCopiesQcow2Metadata(Base kind) throws IOException {
        Path base = makeBase(kind);
        byte[] baseBytes = Files.readAllBytes(base);
        Path ours = qemuOverlay(base, "ours.qed");
        Path theirs = qemuOverlay(base, "theirs.qed");
        byte[] before = qemuRead(ours);
        try (QedImage img = QedImage.open(ours, OpenOptions.defaults())) {
            for (long[] w : OVERLAY_WRITES) {
                byte[] data = new byte[(int) w[1]];
                Arrays.fill(data, (byte) 0xe1);
                img.write(ByteBuffer.wrap(data), w[0]);
            }
        }
        List<String> commands = new ArrayList<>();
        for (long[] w : OVERLAY_WRITES) {
            commands.add("write -P 0xe1 " + w[0] + " " + w[1]);
        }
        qemuIo(theirs, "qed", commands.toArray(String[]::new));
        assertThat(qemuIdentical(ours, "qed", theirs, "qed")).as("qemu-img compare with QEMU's twin").isTrue();
        Qemu.assertCheckClean(ours);
        byte[] after = qemuRead(ours);
        for (int i = 0; i < after.length; i++) {
            if (after[i] != before[i]) {
                assertThat(after[i]).as("changed byte %d", i).isEqualTo((byte) 0xe1);
            }
        }
        // Cluster 0 was copied up from the base: what QEMU reads there, not the qcow2 header that starts the file.
        assertThat(Arrays.copyOfRange(after, 0, 5)).isEqualTo(Arrays.copyOfRange(before, 0, 5));
        assertThat(Arrays.copyOfRange(after, 0, 4)).isNotEqualTo(new byte[] {'Q', 'F', 'I', (byte) 0xfb});
        assertThat(Files.readAllBytes(base)).as("the base is never written").isEqualTo(baseBytes);
    }

    @Test
    void copyOnReadCopiesQcow2BaseClustersIncludingCompressedOnesIntoTheOverlay() throws IOException {
        Path base = makeBase(Base.MIXED);
        Path ov = qemuOverlay(base, "ov.qed");
        byte[] expected = qemuRead(ov);
        try (QedImage img = QedImage.open(ov, OpenOptions.defaults().withCopyOnRead(true))) {
            assertThat(readAll(img)).isEqualTo(expected);
        }
        Qemu.assertCheckClean(ov);
        // Everything the base holds as data now sits in the overlay: it reads the same without its backing file.
        BackingOperations.rebaseUnsafe(ov, null, null);
        assertThat(qemuRead(ov)).isEqualTo(expected);
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(readAll(img)).isEqualTo(expected);
        }
    }

    @Test
    void commitIntoAQcow2BaseIsRefusedAndLeavesBothFilesUnchanged() throws IOException {
        Path base = makeBase(Base.PLAIN);
        Path ov = qemuOverlay(base, "ov.qed");
        qemuIo(ov, "qed", "write -P 0x99 0 64k");
        byte[] baseBytes = Files.readAllBytes(base);
        byte[] ovBytes = Files.readAllBytes(ov);
        assertThatThrownBy(() -> BackingOperations.commit(ov, OpenOptions.defaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining(base.toString())
                .hasMessageContaining("qcow2").hasMessageContaining("cannot be committed");
        assertThat(Files.readAllBytes(base)).isEqualTo(baseBytes);
        assertThat(Files.readAllBytes(ov)).isEqualTo(ovBytes);
    }

    @Test
    void safeRebaseOntoAQcow2BackingKeepsTheContentAsQemuReadsIt() throws IOException {
        Path base = makeBase(Base.COMPRESSED);
        Path d = base.getParent();
        writeFile(d.resolve("old.raw"), pattern((int) SIZE, 3));
        Path ov = d.resolve("ov.qed");
        Qemu.img("create", "-q", "-f", "qed", "-b", "old.raw", "-F", "raw", ov.toString()).assertSuccess();
        qemuIo(ov, "qed", "write -P 0x99 1M 64k");
        byte[] content = qemuRead(ov);
        byte[] baseBytes = Files.readAllBytes(base);
        BackingOperations.rebase(ov, "base.qcow2", ImageFormat.QCOW2, OpenOptions.defaults());
        assertThat(ChainFixtures.qemuChain(ov)).containsExactly("ov.qed:qed", "base.qcow2:qcow2");
        assertThat(qemuRead(ov)).isEqualTo(content);
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.QCOW2);
            assertThat(readAll(img)).isEqualTo(content);
        }
        Qemu.assertCheckClean(ov);
        assertThat(Files.readAllBytes(base)).isEqualTo(baseBytes);
    }

    @Test
    void qcow2BasesNamingEachOtherAreRefusedAsACycleAndTheDepthLimitCountsThem() throws IOException {
        Path d = Files.createDirectories(dir.resolve("cycle"));
        for (String name : List.of("a.qcow2", "b.qcow2")) {
            Qemu.img("create", "-q", "-f", "qcow2", d.resolve(name).toString(), "1M").assertSuccess();
        }
        Qemu.img("rebase", "-u", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", d.resolve("a.qcow2").toString())
                .assertSuccess();
        Qemu.img("rebase", "-u", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", d.resolve("b.qcow2").toString())
                .assertSuccess();
        // Made here: qemu-img itself never returns from creating an overlay over this cycle.
        Path ov = d.resolve("ov.qed");
        QedImage.create(ov, CreateOptions.ofSize(M)).close();
        BackingOperations.rebaseUnsafe(ov, "a.qcow2", null);
        assertThatThrownBy(() -> QedImage.open(ov, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("cycle");
        Qemu.img("rebase", "-u", "-f", "qcow2", "-b", "", d.resolve("b.qcow2").toString()).assertSuccess();
        try (QedImage img = QedImage.open(ov, OpenOptions.readOnlyDefaults())) {
            assertThat(readAll(img)).isEqualTo(new byte[M]);
        }
        assertThatThrownBy(() -> QedImage.open(ov, OpenOptions.readOnlyDefaults().withMaxChainDepth(1)))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("deeper than the limit of 1");
    }

    @Test
    void aQcow2BaseWithAnExternalDataFileIsRefusedNamingTheFeature() throws IOException {
        Path d = Files.createDirectories(dir.resolve("extdata"));
        Path base = d.resolve("base.qcow2");
        Qemu.img("create", "-q", "-f", "qcow2", "-o", "data_file=" + d.resolve("base.data"), base.toString(), "1M")
                .assertSuccess();
        Path ov = qemuOverlay(base, "ov.qed");
        assertThatThrownBy(() -> QedImage.open(ov, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining(base.toString())
                .hasMessageContaining("external data file").hasMessageContaining("cannot be read");
    }

    @Test
    void aQcow2BaseWithZstdCompressionIsRefusedNamingIt() throws IOException {
        Path d = Files.createDirectories(dir.resolve("zstd"));
        Path plain = d.resolve("plain.qcow2");
        Qemu.img("create", "-q", "-f", "qcow2", plain.toString(), "1M").assertSuccess();
        qemuIo(plain, "qcow2", "write -P 0x12 0 64k");
        Path base = d.resolve("base.qcow2");
        Qemu.Result made = Qemu.img("convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", plain.toString(),
                base.toString());
        org.junit.jupiter.api.Assumptions.assumeTrue(made.exitCode() == 0, "QEMU built without zstd");
        Path ov = qemuOverlay(base, "ov.qed");
        assertThatThrownBy(() -> QedImage.open(ov, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("zstd")
                .hasMessageContaining(base.toString());
    }

    @Test
    void theBaseIsOpenedOnceThroughTheLockManagerWithAReadersLockAsAnyBackingFile() throws IOException {
        Path base = makeBase(Base.PLAIN);
        Path ov = qemuOverlay(base, "ov.qed");
        Path real = base.toRealPath();
        try (QedImage a = QedImage.open(ov, OpenOptions.defaults());
             QedImage b = QedImage.open(qemuOverlay(base, "ov2.qed"), OpenOptions.readOnlyDefaults())) {
            assertThat(a.backingFormat()).isEqualTo(ImageFormat.QCOW2);
            assertThat(SharedBackings.jvm().references(real)).as("one shared open for both overlays").isEqualTo(2);
            String token = ProcLocks.tokenOf(base, 100);
            org.junit.jupiter.api.Assumptions.assumeTrue(token != null, "no /proc/locks");
            List<long[]> held = ProcLocks.ranges(token);
            assertThat(ProcLocks.covers(held, 100)).as("QEMU's consistent-read byte").isTrue();
            assertThat(ProcLocks.covers(held, 101)).as("never the write byte").isFalse();
            assertThat(Qemu.io("-r", "-f", "qcow2", "-c", "read -P 0x11 0 64k", base.toString()).exitCode())
                    .as("a QEMU reader shares it").isZero();
        }
        assertThat(SharedBackings.jvm().references(real)).isZero();
        assertThat(ProcLocks.tokenOf(base, 100)).as("the lock goes with the last overlay").isNull();
    }
}
