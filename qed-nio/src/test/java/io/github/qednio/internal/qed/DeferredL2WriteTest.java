package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.chain.ChainFixtures;
import io.github.qednio.internal.storage.MemoryStorage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.Geometry;
import io.github.qednio.format.QedHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Updates of existing L2 tables are kept in the cache and written back at flush, check and close: readers and
 * check see them at once, a failed write-back keeps them (and NEED_CHECK) until a later flush succeeds, and a
 * repair that rewrites a cached table is seen by later reads of the same open image.
 */
class DeferredL2WriteTest {
    private static final int CS = 4096;
    /** Two clusters per table: 1024 entries, each table covering 4 MiB of the guest. */
    private static final long SIZE = 16L << 20;

    @TempDir
    Path dir;
    private Path file;
    private MemoryStorage disk;

    @BeforeEach
    void create() throws IOException {
        file = dir.resolve("d.qed");
        QedImage.create(file, CreateOptions.ofSize(SIZE).withClusterSize(CS).withTableSize(2)).close();
        disk = new MemoryStorage(Files.readAllBytes(file));
    }

    private OpenOptions options() {
        return OpenOptions.defaults().withStorageFactory((f, ro) -> disk);
    }

    private static ByteBuffer block(int seed) {
        byte[] b = ChainFixtures.pattern(CS, seed);
        return ByteBuffer.wrap(b);
    }

    private static byte[] read(QedImage img, long pos) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(CS);
        img.readFully(b, pos);
        return b.array();
    }

    /** The on-disk L2 entry for guest offset {@code pos} (table at the L1 entry). */
    private long entryOnDisk(QedImage img, long pos) {
        Geometry g = img.geometry();
        long l2 = disk.getLong(img.header().l1TableOffset() + 8L * g.l1Index(pos));
        return l2 == 0 ? 0 : disk.getLong(l2 + 8L * g.l2Index(pos));
    }

    @Test
    void allocationsIntoAnExistingTableAreWrittenBackAtFlushAndReadAtOnce() throws IOException {
        try (QedImage img = QedImage.open(file, options())) {
            img.write(block(1), 0);                 // new table: written whole, linked at once
            img.write(block(2), 5 * CS);            // existing table: deferred
            assertThat(entryOnDisk(img, 5 * CS)).as("not yet on disk").isZero();
            assertThat(read(img, 5 * CS)).isEqualTo(block(2).array());
            assertThat(img.extentAt(5 * CS).kind()).isEqualTo(Extent.Kind.DATA);
            img.flush();
            assertThat(entryOnDisk(img, 5 * CS)).isEqualTo(img.extentAt(5 * CS).hostOffset());
            assertThat(img.needsCheck()).isFalse();
        }
    }

    @Test
    void checkSeesDeferredEntriesAndReportsNoLeaks() throws IOException {
        try (QedImage img = QedImage.open(file, options())) {
            img.write(block(1), 0);
            img.write(block(2), 7 * CS);
            CheckResult r = img.check(Repair.NONE);
            assertThat(r.leaks()).isZero();
            assertThat(r.allocatedClusters()).isEqualTo(2);
            assertThat(entryOnDisk(img, 7 * CS)).isNotZero();
        }
    }

    @Test
    void closeWritesDeferredEntriesBack() throws IOException {
        try (QedImage img = QedImage.open(file, options())) {
            img.write(block(1), 0);
            img.write(block(2), 9 * CS);
        }
        try (QedImage img = QedImage.open(file, options().withReadOnly(true))) {
            assertThat(img.needsCheck()).isFalse();
            assertThat(read(img, 9 * CS)).isEqualTo(block(2).array());
        }
    }

    @Test
    void aFailedWriteBackFailsTheFlushKeepsNeedCheckAndALaterFlushSucceeds() throws IOException {
        try (QedImage img = QedImage.open(file, options())) {
            img.write(block(1), 0);
            img.write(block(2), 3 * CS);
            disk.failWrites(true);
            assertThatThrownBy(img::flush).isInstanceOf(IOException.class).hasMessageContaining("simulated");
            assertThat(img.needsCheck()).isTrue();
            assertThat(read(img, 3 * CS)).as("the entry is still served").isEqualTo(block(2).array());
            disk.failWrites(false);
            img.flush();
            assertThat(img.needsCheck()).isFalse();
            assertThat(entryOnDisk(img, 3 * CS)).isNotZero();
        }
        try (QedImage img = QedImage.open(file, options().withReadOnly(true))) {
            assertThat(read(img, 3 * CS)).isEqualTo(block(2).array());
        }
    }

    @Test
    void aCrashBeforeWriteBackLeavesLeaksThatTheNextOpenRepairs() throws IOException {
        byte[] crashed;
        QedImage img = QedImage.open(file, options());
        img.write(block(1), 0);
        img.flush();
        img.write(block(2), 11 * CS);               // deferred, never written back
        crashed = disk.bytes();                     // power cut: what the file holds now
        disk = new MemoryStorage(crashed);
        assertThat(ImageFilesView.needCheck(crashed)).isTrue();
        try (QedImage reopened = QedImage.open(file, options())) {
            assertThat(reopened.needsCheck()).isFalse();
            assertThat(reopened.extentAt(11 * CS).kind()).isEqualTo(Extent.Kind.UNALLOCATED);
            assertThat(read(reopened, 0)).isEqualTo(block(1).array());
            CheckResult r = reopened.check(Repair.NONE);
            assertThat(r.isConsistent()).isTrue();
            assertThat(r.leaks()).as("the unlinked data cluster").isEqualTo(1);
        }
        img.close();
    }

    @Test
    void aRepairThatRewritesACachedTableIsSeenByLaterReadsOfTheSameImage() throws IOException {
        try (QedImage img = QedImage.open(file, options())) {
            img.write(block(1), 0);
            img.write(block(2), CS);
            img.flush();
            assertThat(read(img, CS)).isEqualTo(block(2).array()); // the table is cached
            // Corrupt the entry on disk: it now points far past the end of the file.
            long l2 = disk.getLong(img.header().l1TableOffset());
            disk.putLong(l2 + 8, 1L << 40);
            CheckResult r = img.check(Repair.ERRORS);
            assertThat(r.corruptionsFixed()).isEqualTo(1);
            assertThat(img.extentAt(CS).kind()).as("the repaired entry, not the cached one")
                    .isEqualTo(Extent.Kind.UNALLOCATED);
            assertThat(read(img, CS)).isEqualTo(new byte[CS]);
        }
    }

    /** Reads header bits from raw bytes. */
    static final class ImageFilesView {
        private ImageFilesView() {
        }

        static boolean needCheck(byte[] image) {
            long features = ByteBuffer.wrap(image, 16, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            return (features & QedHeader.QED_F_NEED_CHECK) != 0;
        }
    }
}
