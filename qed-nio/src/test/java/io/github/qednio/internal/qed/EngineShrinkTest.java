package io.github.qednio.internal.qed;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link QedImage#shrink}: only when the image holds nothing past the new end, so nothing can come back. */
class EngineShrinkTest {
    @TempDir
    Path dir;

    private static CreateOptions small(long size) {
        return CreateOptions.ofSize(size).withClusterSize(4096).withTableSize(2);
    }

    @Test
    void shrinkWithNothingPastTheNewEndChangesOnlyTheSizeAndAGrowReadsZerosThere() throws IOException {
        Path file = dir.resolve("s.qed");
        try (QedImage img = QedImage.create(file, small(1 << 20))) {
            img.write(ByteBuffer.wrap(new byte[] {7}), 4095);
        }
        long length = Files.size(file);
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            img.shrink(4096);
            assertThat(img.size()).isEqualTo(4096);
        }
        assertThat(Files.size(file)).isEqualTo(length);
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            assertThat(img.size()).isEqualTo(4096);
            img.resize(1 << 20);
            ByteBuffer b = ByteBuffer.allocate(2);
            img.readFully(b, 4094);
            assertThat(b.array()).containsExactly(0, 7);
            assertThat(img.check(Repair.NONE).isClean()).isTrue();
        }
    }

    @Test
    void shrinkIsRefusedWhenDataOrAZeroClusterLiesPastTheNewEndAndNothingChanges() throws IOException {
        Path file = dir.resolve("d.qed");
        try (QedImage img = QedImage.create(file, small(1 << 20))) {
            img.write(ByteBuffer.wrap(new byte[] {1}), 8192 + 100);
            img.writeZeroes(65536, 4096);
        }
        byte[] before = Files.readAllBytes(file);
        try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
            assertThatThrownBy(() -> img.shrink(8192 + 512)).isInstanceOf(IOException.class)
                    .hasMessageContaining(file.toString()).hasMessageContaining("guest offset 8704");
            assertThatThrownBy(() -> img.shrink(3 * 4096)).hasMessageContaining("guest offset 65536");
            assertThat(img.size()).isEqualTo(1 << 20);
            assertThatThrownBy(() -> img.shrink(1000)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> img.shrink(2 << 20)).isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(Files.readAllBytes(file)).isEqualTo(before);
    }

    @Test
    void aReadOnlyImageCannotShrink() throws IOException {
        Path file = dir.resolve("r.qed");
        QedImage.create(file, small(1 << 20)).close();
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
            assertThatThrownBy(() -> img.shrink(4096)).isInstanceOf(AccessDeniedException.class);
        }
    }
}
