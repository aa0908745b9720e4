package io.github.qednio.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.Progress;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convert, compare, commit and rebase tell their {@link Progress} listener how far they are, ending at 100%. */
class ProgressReportingTest {
    @TempDir
    Path dir;

    /** Records updates and checks they never go back. */
    private static final class Recorder implements Progress {
        final List<long[]> updates = new ArrayList<>();

        @Override
        public void update(long done, long total) {
            if (!updates.isEmpty()) {
                assertThat(done).isGreaterThanOrEqualTo(updates.get(updates.size() - 1)[0]);
            }
            assertThat(done).isBetween(0L, total);
            updates.add(new long[] {done, total});
        }

        void assertCompleted(long total) {
            assertThat(updates.size()).isGreaterThan(1);
            assertThat(updates.get(updates.size() - 1)).containsExactly(total, total);
        }
    }

    private Path overlay() throws IOException {
        Path base = dir.resolve("base.raw");
        byte[] data = new byte[3 << 20];
        data[5] = 1;
        data[2 << 20] = 2;
        Files.write(base, data);
        Path ov = dir.resolve("ov.qed");
        QedImage.create(ov, CreateOptions.overlay("base.raw", ImageFormat.RAW)).close();
        try (QedImage img = QedImage.open(ov, OpenOptions.defaults())) {
            img.write(ByteBuffer.wrap(new byte[] {9, 9}), 1 << 20);
        }
        return ov;
    }

    @Test
    void convertReportsEveryChunkUpToTheVirtualSize() throws IOException {
        Recorder r = new Recorder();
        ImageConverter.convert(overlay(), dir.resolve("out.qed"),
                ConvertOptions.to(ImageFormat.QED).withProgress(r));
        r.assertCompleted(3 << 20);
    }

    @Test
    void compareReportsUpToTheLargerSize() throws IOException {
        Recorder r = new Recorder();
        Path ov = overlay();
        assertThat(ImageComparator.compare(ov, null, ov, null, false, r).identical()).isTrue();
        r.assertCompleted(3 << 20);
    }

    @Test
    void commitAndRebaseReportTheirPasses() throws IOException {
        Path ov = overlay();
        Recorder commit = new Recorder();
        BackingOperations.commit(ov, null, OpenOptions.defaults(), commit);
        commit.assertCompleted(3 << 20);

        Recorder rebase = new Recorder();
        BackingOperations.rebase(ov, null, null, OpenOptions.defaults(), rebase);
        rebase.assertCompleted(3 << 20);
    }
}
