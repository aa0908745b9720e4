package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.CorruptImageException;
import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Malformed and malicious images (notes §5, §11.3; the header cases of notes §3, including backing names of 4 KiB
 * and more, NUL bytes and empty names, are in {@link MalformedHeaderTest}): every read returns what the tables say (checked against
 * {@link ReferenceImage}) or throws a documented {@link IOException} subclass naming the file, and a read-only open
 * never changes a byte.
 */
class HostileImageTest {
    private static final int CS = 4096;
    /** Entries per table with 4 KiB clusters and table_size 4: one L2 maps 8 MiB. */
    private static final int N = 4 * CS / 8;

    @TempDir
    Path dir;
    Path image;
    long l1;
    long l2a;
    long l2b;
    long data0;

    /** 32 MiB, 4 KiB clusters: clusters 0 and 1 written (first L2 table), cluster N written (second L2 table). */
    @BeforeEach
    void makeImage() throws IOException {
        image = dir.resolve("h.qed");
        try (QedImage img = QedImage.create(image, CreateOptions.ofSize(32 << 20).withClusterSize(CS))) {
            img.write(ByteBuffer.wrap(filled(CS, 0x11)), 0);
            img.write(ByteBuffer.wrap(filled(CS, 0x22)), CS);
            img.write(ByteBuffer.wrap(filled(CS, 0x33)), (long) N * CS);
        }
        l1 = ImageFiles.getU64(image, 40);
        l2a = ImageFiles.getU64(image, l1);
        l2b = ImageFiles.getU64(image, l1 + 8);
        data0 = ImageFiles.getU64(image, l2a);
        assertThat(l2a).isNotZero();
        assertThat(l2b).isNotZero();
    }

    private static byte[] filled(int n, int value) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) value);
        return b;
    }

    @Test
    void l2EntryPastEndOfFileFailsReadsAndWritesOfThatClusterOnly() throws IOException {
        ImageFiles.putU64(image, l2a + 8, Files.size(image) + 16 * CS);
        assertReadsMatchReference();
        byte[] before = ImageFiles.bytes(image);
        try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
            assertThatThrownBy(() -> img.write(ByteBuffer.wrap(filled(10, 1)), CS + 5))
                    .isInstanceOf(CorruptImageException.class)
                    .hasMessageContaining(image.toString()).hasMessageContaining("entry 1 of the L2 table");
            img.write(ByteBuffer.wrap(filled(10, 1)), 5);
        }
        assertThat(ImageFiles.bytes(image).length).isEqualTo(before.length);
    }

    @Test
    void l1EntryPastEndOfFileFailsReadsOfItsRange() throws IOException {
        ImageFiles.putU64(image, l1 + 8, 1L << 40);
        assertReadsMatchReference();
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            assertThatThrownBy(() -> img.readFully(ByteBuffer.allocate(1), (long) N * CS + 77))
                    .isInstanceOf(CorruptImageException.class).hasMessageContaining("L1 entry 1");
        }
    }

    @Test
    void entriesPointingIntoTheHeaderAreInvalid() throws IOException {
        ImageFiles.putU64(image, l2a + 8, QedHeader.HEADER_LENGTH);
        ImageFiles.putU64(image, l1 + 2 * 8, 0x800);
        assertReadsMatchReference();
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            assertThat(img.check(Repair.NONE).corruptions()).isEqualTo(2);
        }
    }

    @Test
    void l2EntryPointingIntoTheL1TableReadsTheTableAsQemuDoesAndIsReportedAsDuplicate() throws IOException {
        ImageFiles.putU64(image, l2a + 8, l1);
        ReferenceImage ref = assertReadsMatchReference();
        assertThat(ref.cluster(1)).isEqualTo(Arrays.copyOfRange(ImageFiles.bytes(image), (int) l1, (int) l1 + CS));
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            CheckResult r = img.check(Repair.NONE);
            assertThat(r.corruptions()).isEqualTo(1);
            assertThat(r.leaks()).as("the old data cluster of entry 1").isEqualTo(1);
        }
    }

    @Test
    void l2EntryPointingIntoAnotherL2TableIsReportedAsDuplicate() throws IOException {
        ImageFiles.putU64(image, l2a + 8, l2b + CS);
        assertReadsMatchReference();
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            assertThat(img.check(Repair.NONE).corruptions()).isEqualTo(1);
        }
    }

    @Test
    void twoL1EntriesSharingOneL2TableAliasTheirRanges() throws IOException {
        ImageFiles.putU64(image, l1 + 3 * 8, l2a);
        ReferenceImage ref = assertReadsMatchReference();
        assertThat(ref.cluster(3L * N)).isEqualTo(filled(CS, 0x11));
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            ByteBuffer b = ByteBuffer.allocate(CS);
            img.readFully(b, 3L * N * CS);
            assertThat(b.array()).isEqualTo(filled(CS, 0x11));
            assertThat(img.check(Repair.NONE).corruptions()).as("one per table cluster").isEqualTo(4);
        }
    }

    @Test
    void l1EntryPointingAtTheL1TableItselfIsFollowedAndReportedAsDuplicate() throws IOException {
        ImageFiles.putU64(image, l1 + 2 * 8, l1);
        assertReadsMatchReference();
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            assertThat(img.check(Repair.NONE).corruptions()).isEqualTo(4);
        }
    }

    @Test
    void fileTruncatedInsideTheL1TableIsRefusedOnOpen() {
        ImageFiles.truncate(image, l1 + 2 * CS + 100);
        assertThatThrownBy(() -> QedImage.open(image, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("l1_table_offset")
                .hasMessageContaining(image.toString());
    }

    @Test
    void fileTruncatedInsideTheLastL2TableFailsReadsOfItsRangeOnly() throws IOException {
        assertThat(l2b).as("second L2 is the last thing in the file").isEqualTo(Files.size(image) - 4 * CS);
        ImageFiles.truncate(image, l2b + CS + 10);
        ReferenceImage ref = assertReadsMatchReference();
        assertThat(ref.cluster(N)).isNull();
        assertThat(ref.cluster(0)).isEqualTo(filled(CS, 0x11));
    }

    @Test
    void fileTruncatedInsideTheLastDataClusterFailsReadsOfThatCluster() throws IOException {
        try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(filled(CS, 0x44)), 2L * CS);
        }
        long data2 = ImageFiles.getU64(image, l2a + 16);
        assertThat(data2).isEqualTo(Files.size(image) - CS);
        ImageFiles.truncate(image, data2 + CS / 2);
        ReferenceImage ref = assertReadsMatchReference();
        assertThat(ref.cluster(2)).isNull();
        try (QedImage img = QedImage.open(image, OpenOptions.defaults())) {
            CheckResult r = img.check(Repair.ERRORS);
            assertThat(r.isClean()).as("%s", r).isTrue();
            assertThat(r.corruptionsFixed()).isEqualTo(1);
            ByteBuffer b = ByteBuffer.allocate(CS);
            img.readFully(b, 2L * CS);
            assertThat(b.array()).as("repaired cluster reads as zeros").isEqualTo(new byte[CS]);
        }
    }

    @Test
    void l1TableOfOneGibibyteIsRefusedWithoutAllocatingIt() throws IOException {
        Path small = dir.resolve("gib-small.qed");
        Path sparse = dir.resolve("gib-sparse.qed");
        for (Path p : new Path[] {small, sparse}) {
            long cs = 64L << 20;
            ByteBuffer h = new QedHeader(cs, 16, 1, 0, 0, 0, cs, 1L << 40, 0, 0).encode();
            try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
                f.write(h.array());
                // The sparse one is long enough for the L1 table to fit, so only the memory bound can refuse it.
                f.setLength(p == sparse ? cs + 16 * cs : 4096);
            }
        }
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long id = Thread.currentThread().getId();
        long before = threads.getThreadAllocatedBytes(id);
        assertThatThrownBy(() -> QedImage.open(small, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("l1_table_offset");
        assertThatThrownBy(() -> QedImage.open(sparse, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("withMaxTableBytes")
                .hasMessageContaining("1073741824");
        assertThat(threads.getThreadAllocatedBytes(id) - before).as("bytes allocated by the two opens")
                .isLessThan(16 << 20);
    }

    @Test
    void checkOfEntriesScatteredOverAHugeSparseFileIsRefusedWithinBoundedMemory() throws IOException {
        Path p = dir.resolve("scattered.qed");
        int tables = 40;
        long l1Offset = CS;
        try (var ch = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(new QedHeader(CS, 4, 1, 0, 0, 0, l1Offset, (long) tables * N * CS, 0, 0).encode(), 0);
            ByteBuffer l1t = ByteBuffer.allocate(4 * CS).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < tables; i++) {
                long l2 = 5L * CS + (long) i * 4 * CS;
                l1t.putLong(i * 8, l2);
                ByteBuffer t = ByteBuffer.allocate(4 * CS).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                for (int j = 0; j < N; j++) {
                    // One cluster in every 2^15: each entry needs a page of its own in a sparse bitmap.
                    t.putLong(j * 8, ((long) i * N + j + 1) << (15 + 12));
                }
                ch.write(t, l2);
            }
            ch.write(l1t, l1Offset);
            ch.truncate(15L << 40);
            ch.write(ByteBuffer.allocate(1), (15L << 40) - 1);
        }
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long id = Thread.currentThread().getId();
        try (QedImage img = QedImage.open(p, OpenOptions.readOnlyDefaults())) {
            ByteBuffer b = ByteBuffer.allocate(CS);
            img.readFully(b, (long) 7 * N * CS + 5L * CS);
            assertThat(b.array()).as("a sparse cluster reads as zeros").isEqualTo(new byte[CS]);
            long before = threads.getThreadAllocatedBytes(id);
            assertThatThrownBy(() -> img.check(Repair.NONE)).isInstanceOf(QedFormatException.class)
                    .hasMessageContaining(p.toString()).hasMessageContaining("256 MiB");
            assertThat(threads.getThreadAllocatedBytes(id) - before).as("bytes allocated by the check")
                    .isLessThan(300L << 20);
        }
    }

    @Test
    void backingNameOf4095BytesThatDoesNotExistIsReportedMissing() throws IOException {
        Path big = dir.resolve("big.qed");
        try (QedImage img = QedImage.create(big, CreateOptions.ofSize(1 << 20).withClusterSize(8192))) {
            assertThat(img.size()).isEqualTo(1 << 20);
        }
        byte[] name = ("d/".repeat(2047) + "x").getBytes(StandardCharsets.US_ASCII);
        assertThat(name).hasSize(4095);
        setBackingName(big, name.length, name);
        assertThatThrownBy(() -> QedImage.open(big, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(NoSuchFileException.class);
    }

    @Test
    void backingNameThatIsNotUtf8IsRefused() {
        byte[] name = {'b', (byte) 0xff, (byte) 0xfe, 'x'};
        setBackingName(image, name.length, name);
        assertThatThrownBy(() -> QedImage.open(image, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("not valid UTF-8");
    }

    /** Sets QED_F_BACKING_FILE with a name of {@code size} bytes at offset 64, writing {@code bytes} there. */
    private static void setBackingName(Path image, long size, byte[] bytes) {
        ImageFiles.putU64(image, 16, QedHeader.QED_F_BACKING_FILE);
        ImageFiles.putU32(image, 56, 64);
        ImageFiles.putU32(image, 60, size);
        ImageFiles.put(image, 64, ByteBuffer.wrap(bytes));
    }

    /**
     * Opens the image read-only, reads every cluster its tables mention and a few others, compares each with the
     * reference reader (data, or a CorruptImageException where the reference says the read must fail), runs a
     * check, and asserts that the file did not change.
     */
    private ReferenceImage assertReadsMatchReference() throws IOException {
        byte[] before = ImageFiles.bytes(image);
        ReferenceImage ref = new ReferenceImage(before, null);
        try (QedImage img = QedImage.open(image, OpenOptions.readOnlyDefaults())) {
            var clusters = new java.util.TreeSet<>(ref.interestingClusters(100_000));
            clusters.addAll(java.util.List.of(0L, 1L, 2L, (long) N, ref.clusters() - 1));
            for (long k : clusters) {
                byte[] want = ref.cluster(k);
                ByteBuffer got = ByteBuffer.allocate(CS);
                if (want == null) {
                    assertThatThrownBy(() -> img.readFully(got, k * CS)).as("cluster %d", k)
                            .isInstanceOf(CorruptImageException.class).hasMessageContaining(image.toString());
                } else {
                    img.readFully(got, k * CS);
                    assertThat(got.array()).as("cluster %d", k).isEqualTo(want);
                }
            }
            img.check(Repair.NONE);
        }
        assertThat(ImageFiles.bytes(image)).as("read-only open wrote nothing").isEqualTo(before);
        return ref;
    }
}
