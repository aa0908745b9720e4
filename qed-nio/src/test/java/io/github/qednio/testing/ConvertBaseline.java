package io.github.qednio.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * QEMU's judgement of a compacted image: measured against {@code qemu-img convert -O qed} of the same content, with
 * the same cluster and table size. Callers check {@link Qemu#crossChecks()} first.
 */
public final class ConvertBaseline {
    private ConvertBaseline() {
    }

    /**
     * Asserts that {@code compacted} is no larger and no more fragmented (by {@code qemu-img check}) than
     * {@code qemu-img convert -O qed} of {@code original} makes it, that {@code qemu-img check} finds neither
     * corruption nor leak in it, and that {@code qemu-img compare} finds its content equal to the original's.
     *
     * @param originalFormat the original's format for qemu-img ({@code qed}, {@code qcow2}, {@code raw})
     */
    public static void assertNoWorseThanConvert(Path compacted, Path original, String originalFormat) {
        Path converted = compacted.resolveSibling(compacted.getFileName() + ".converted.qed");
        try {
            Files.deleteIfExists(converted);
            Qemu.img("convert", "-f", originalFormat, "-O", "qed", "-o", "cluster_size=" + u32(compacted, 4)
                    + ",table_size=" + u32(compacted, 8), original.toString(), converted.toString()).assertSuccess();
            Qemu.Result ours = Qemu.img("check", "-f", "qed", "--output=json", compacted.toString());
            Qemu.Result theirs = Qemu.img("check", "-f", "qed", "--output=json", converted.toString());
            assertThat(Qemu.jsonLong(ours.stdout(), "corruptions")).as("qemu-img check: %s", ours.stdout()).isZero();
            assertThat(Qemu.jsonLong(ours.stdout(), "check-errors")).as("qemu-img check: %s", ours.stdout()).isZero();
            assertThat(Qemu.jsonLong(ours.stdout(), "leaks")).as("qemu-img check: %s", ours.stdout())
                    .isEqualTo(Qemu.phantomLeaks(compacted));
            assertThat(Files.size(compacted)).as("compacted file vs qemu-img convert -O qed")
                    .isLessThanOrEqualTo(Files.size(converted));
            assertThat(Qemu.jsonLong(ours.stdout(), "fragmented-clusters"))
                    .as("fragmented clusters, compacted (%s) vs converted (%s)", ours.stdout(), theirs.stdout())
                    .isLessThanOrEqualTo(Qemu.jsonLong(theirs.stdout(), "fragmented-clusters"));
            Qemu.Result compare = Qemu.img("compare", "-f", "qed", "-F", originalFormat, compacted.toString(),
                    original.toString());
            assertThat(compare.exitCode()).as("qemu-img compare: %s %s", compare.stdout(), compare.stderr()).isZero();
            Files.delete(converted);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static long u32(Path file, long offset) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, offset);
            return Integer.toUnsignedLong(b.flip().getInt());
        }
    }
}
