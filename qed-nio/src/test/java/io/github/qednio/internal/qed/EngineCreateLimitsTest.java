package io.github.qednio.internal.qed;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Create options at exactly their limits are accepted, one step past them refused (boundaries of ImageCreator). */
class EngineCreateLimitsTest {
    @TempDir
    Path dir;

    @Test
    void anImageOfExactlyTheMaximumSizeIsCreatedAndOpens() throws IOException {
        Path file = dir.resolve("max.qed");
        long max = 64L << 40; // 65536-byte clusters, table_size 4
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(max))) {
            assertThat(img.size()).isEqualTo(max);
            img.write(ByteBuffer.wrap(new byte[] {7}), max - 1);
        }
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            ByteBuffer b = ByteBuffer.allocate(1);
            img.readFully(b, max - 1);
            assertThat(b.get(0)).isEqualTo((byte) 7);
        }
        if (Qemu.crossChecks()) {
            Qemu.assertCheckClean(file);
        }
    }

    @Test
    void aBackingNameFillingTheHeaderClusterIsStoredAndOneByteMoreIsRefused() throws IOException {
        // 4 KiB clusters: the name may use the 4096 - 64 bytes after the header fields. "./" keeps it resolvable.
        Files.write(dir.resolve("base.raw"), new byte[] {1, 2, 3, 4});
        String name = "./".repeat((4032 - 8) / 2) + "base.raw";
        assertThat(name).hasSize(4032);
        Path file = dir.resolve("o.qed");
        try (QedImage img = QedImage.create(file, CreateOptions.overlay(name, ImageFormat.RAW).withSize(4096)
                .withClusterSize(4096))) {
            assertThat(img.backingFileName()).isEqualTo(name);
            ByteBuffer b = ByteBuffer.allocate(4);
            img.readFully(b, 0);
            assertThat(b.array()).containsExactly(1, 2, 3, 4);
        }
        Path refused = dir.resolve("r.qed");
        assertThatThrownBy(() -> QedImage.create(refused, CreateOptions.overlay("." + name, ImageFormat.RAW)
                .withSize(4096).withClusterSize(4096)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("backingFile");
        assertThat(refused).doesNotExist();
    }

    @Test
    void theLargestClusterSizeIsAcceptedAndTwiceItRefused() throws IOException {
        Path file = dir.resolve("big.qed");
        CreateOptions o = CreateOptions.ofSize(1L << 30).withClusterSize(64L << 20).withTableSize(1)
                .withAllowQemuIncompatible(true);
        try (QedImage img = QedImage.create(file, o)) {
            assertThat(img.geometry().clusterSize()).isEqualTo(64 << 20);
        }
        // Header cluster plus a one-cluster L1 table, sparse.
        assertThat(Files.size(file)).isEqualTo(2L * (64 << 20));
        assertThatThrownBy(() -> QedImage.create(dir.resolve("x.qed"), o.withClusterSize(128L << 20)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("clusterSize");
    }
}
