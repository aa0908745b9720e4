package io.github.qednio.internal.qed;

import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.internal.chain.ChainFixtures;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The paged bitmap of used clusters: counts, the highest set bit in any word and page, and its memory cap. */
class ClusterBitmapTest {
    @TempDir
    Path dir;

    @Test
    void testAndSetCountsEachBitOnce() throws Exception {
        ClusterBitmap b = new ClusterBitmap();
        assertThat(b.highest()).isEqualTo(-1);
        assertThat(b.testAndSet(5)).isFalse();
        assertThat(b.testAndSet(5)).isTrue();
        assertThat(b.highest()).as("a bit in the first word").isEqualTo(5);
        assertThat(b.testAndSet(64)).isFalse();
        assertThat(b.count()).isEqualTo(2);
    }

    @Test
    void highestFindsTheTopBitInAnyWordAndPage() throws Exception {
        ClusterBitmap b = new ClusterBitmap();
        b.testAndSet(3);
        b.testAndSet(64 * 5 + 17);
        assertThat(b.highest()).isEqualTo(64 * 5 + 17);
        b.testAndSet(64 * 5 + 2);
        assertThat(b.highest()).isEqualTo(64 * 5 + 17);
        long far = (3L << ClusterBitmap.PAGE_BITS) + 64 * 7 + 63;
        b.testAndSet(far);
        b.testAndSet(1L << ClusterBitmap.PAGE_BITS);
        assertThat(b.highest()).isEqualTo(far);
        assertThat(b.count()).isEqualTo(5);
    }

    @Test
    void aNewPagePastTheCapIsRefused() throws Exception {
        ClusterBitmap b = new ClusterBitmap(2 << (ClusterBitmap.PAGE_BITS - 3)); // two pages
        b.testAndSet(0);
        b.testAndSet(1L << ClusterBitmap.PAGE_BITS);
        b.testAndSet(1);                                // an existing page costs nothing
        assertThatThrownBy(() -> b.testAndSet(2L << ClusterBitmap.PAGE_BITS))
                .isInstanceOf(ClusterBitmap.TooLargeException.class)
                .satisfies(e -> assertThat(((ClusterBitmap.TooLargeException) e).maxBytes)
                        .isEqualTo(2 << (ClusterBitmap.PAGE_BITS - 3)));
        assertThat(new ClusterBitmap(1).testAndSet(0)).isFalse();
    }

    @Test
    void theDefaultCapIsAQuarterOfTheHeapWithinOneAnd256MiB() {
        assertThat(ClusterBitmap.defaultMaxBytes(64L << 20)).isEqualTo(16L << 20);
        assertThat(ClusterBitmap.defaultMaxBytes(1L << 20)).isEqualTo(1L << 20);
        assertThat(ClusterBitmap.defaultMaxBytes(8L << 30)).isEqualTo(256L << 20);
    }

    @Test
    void leakRepairKeepsEveryUsedClusterAboveIndex64() throws IOException {
        Path file = dir.resolve("leaky.qed");
        int cs = 4096;
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(8L << 20).withClusterSize(cs)
                .withTableSize(2))) {
            for (int k = 0; k < 150; k++) {
                img.write(ByteBuffer.wrap(ChainFixtures.pattern(cs, k)), (long) k * cs);
            }
        }
        long used = Files.size(file);
        assertThat(used / cs).as("last used cluster index").isGreaterThan(128);
        ImageFiles.append(file, 5 * cs);
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            CheckResult r = img.check(Repair.ERRORS_AND_LEAKS);
            assertThat(r.leaksFixed()).isEqualTo(5);
            for (int k = 0; k < 150; k++) {
                ByteBuffer got = ByteBuffer.allocate(cs);
                img.readFully(got, (long) k * cs);
                assertThat(got.array()).as("cluster %d", k).isEqualTo(ChainFixtures.pattern(cs, k));
            }
        }
        assertThat(Files.size(file)).isEqualTo(used);
    }
}
