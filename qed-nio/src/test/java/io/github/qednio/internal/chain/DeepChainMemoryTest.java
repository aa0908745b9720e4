package io.github.qednio.internal.chain;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CacheBudget;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.qed.ChildJvm;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Memory stays bounded across a deep backing chain of images with large (1 MiB) L2 tables: every image's L2 cache
 * draws from one {@link CacheBudget}, so a small heap reads the whole chain at scattered offsets without an
 * OutOfMemoryError. With per-image caches (50 tables each) the same reads need 80 MiB of tables.
 */
class DeepChainMemoryTest {
    static final int CLUSTER = 65536;
    /** 16 clusters per table: 1 MiB tables (and L1), each covering 8 GiB of the guest. */
    static final int TABLE_SIZE = 16;
    static final long TABLE_SPAN = (long) CLUSTER * TABLE_SIZE * CLUSTER / 8;
    static final int DEPTH = 20;
    static final int TABLES_PER_IMAGE = 4;
    static final int TABLES = DEPTH * TABLES_PER_IMAGE;
    static final int BLOCK = 4096;
    static final long TABLE_BYTES = (long) CLUSTER * TABLE_SIZE;

    @TempDir
    static Path dir;
    static Path top;

    /** Guest offset of the block written into L2 table range {@code j} (by image {@code j / TABLES_PER_IMAGE}). */
    static long offsetOf(int j) {
        return j * TABLE_SPAN + (j % 13) * (long) CLUSTER + (j % 5) * 512L;
    }

    static byte[] block(int j) {
        return ChainFixtures.pattern(BLOCK, 1000 + j);
    }

    @BeforeAll
    static void createChain() throws IOException {
        CreateOptions base = CreateOptions.ofSize(TABLES * TABLE_SPAN).withClusterSize(CLUSTER)
                .withTableSize(TABLE_SIZE);
        String below = null;
        for (int i = 0; i < DEPTH; i++) {
            Path p = dir.resolve("layer" + i + ".qed");
            CreateOptions opts = below == null ? base : base.withBackingFile(below, ImageFormat.QED);
            try (QedImage img = QedImage.create(p, opts, OpenOptions.defaults()
                    .withCacheBudget(CacheBudget.ofBytes(64L << 20)))) {
                for (int m = 0; m < TABLES_PER_IMAGE; m++) {
                    int j = i * TABLES_PER_IMAGE + m;
                    img.write(ByteBuffer.wrap(block(j)), offsetOf(j));
                }
            }
            below = p.getFileName().toString();
            top = p;
        }
    }

    @Test
    void aDeepChainWithLargeTablesReadsCorrectlyOnA64MiBHeap() throws Exception {
        Process child = ChildJvm.start(List.of("-Xmx64m"), DeepChainChild.class, top.toString(),
                Integer.toString(TABLES));
        String out;
        try (BufferedReader r = ChildJvm.stdout(child)) {
            out = r.lines().collect(Collectors.joining("\n"));
        }
        assertThat(child.waitFor(5, TimeUnit.MINUTES)).as("child finished").isTrue();
        assertThat(out).as("child output (exit %d)", child.exitValue()).isEqualTo("OK " + 2 * TABLES);
        assertThat(child.exitValue()).isZero();
    }

    @Test
    void allImagesOfAChainShareOneBudgetWhichNeverOverflowsAndIsReleasedOnClose() throws IOException {
        CacheBudget budget = CacheBudget.ofBytes(3 * TABLE_BYTES);
        try (QedImage img = QedImage.open(top, OpenOptions.readOnlyDefaults().withCacheBudget(budget))) {
            for (int pass = 0; pass < 2; pass++) {
                for (int j = 0; j < TABLES; j++) {
                    ByteBuffer got = ByteBuffer.allocate(BLOCK);
                    img.readFully(got, offsetOf(j));
                    assertThat(got.array()).as("block %d, pass %d", j, pass).isEqualTo(block(j));
                    assertThat(budget.used()).as("after reading table %d", j).isPositive()
                            .isLessThanOrEqualTo(budget.limit());
                }
            }
        }
        assertThat(budget.used()).as("released when the chain closed").isZero();
    }

    @Test
    void aTableLargerThanTheBudgetFailsWithAnIoExceptionNamingTheBudget() throws IOException {
        CacheBudget budget = CacheBudget.ofBytes(TABLE_BYTES - 1);
        try (QedImage img = QedImage.open(top, OpenOptions.readOnlyDefaults().withCacheBudget(budget))) {
            assertThatThrownBy(() -> img.readFully(ByteBuffer.allocate(BLOCK), offsetOf(5)))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("layer1.qed")
                    .hasMessageContaining("an L2 cache budget of " + (TABLE_BYTES - 1) + " bytes")
                    .hasMessageContaining("is exhausted");
            assertThat(budget.used()).isZero();
        }
    }
}
