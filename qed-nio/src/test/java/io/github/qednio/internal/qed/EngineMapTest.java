package io.github.qednio.internal.qed;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.MappedExtent;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The format-neutral mapping query ({@link BlockMapping#map}) reports what {@code qemu-img map --output=json}
 * reports, entry for entry, on chains made by qemu-img.
 */
class EngineMapTest {
    @TempDir
    Path dir;

    private Path p(String name) {
        return dir.resolve(name);
    }

    private void io(String image, String... commands) {
        String[] args = new String[commands.length * 2 + 1];
        for (int i = 0; i < commands.length; i++) {
            args[2 * i] = "-c";
            args[2 * i + 1] = commands[i];
        }
        args[args.length - 1] = p(image).toString();
        assertThat(Qemu.io(args).exitCode()).isZero();
    }

    private void img(String... args) {
        assertThat(Qemu.img(args).exitCode()).as("qemu-img %s", List.of(args)).isZero();
    }

    /** Renders extents exactly as qemu-img 7.2 prints {@code map --output=json}. */
    static String asQemuJson(List<MappedExtent> extents) {
        return extents.stream().map(e -> String.format(
                "{ \"start\": %d, \"length\": %d, \"depth\": %d, \"present\": %b, \"zero\": %b, \"data\": %b%s}",
                e.start(), e.length(), e.depth(), e.type() != MappedExtent.Type.UNALLOCATED,
                e.type() != MappedExtent.Type.DATA, e.type() == MappedExtent.Type.DATA,
                e.type() == MappedExtent.Type.DATA ? ", \"offset\": " + e.hostOffset() : ""))
                .collect(Collectors.joining(",\n", "[", "]\n"));
    }

    private void assertMapsAsQemu(String image) throws IOException {
        String qemu = Qemu.img("map", "--output=json", p(image).toString()).stdout();
        try (QedImage img = QedImage.open(p(image), OpenOptions.readOnlyDefaults())) {
            assertThat(asQemuJson(img.map(0, img.size()))).isEqualTo(qemu);
        }
    }

    private void randomRaw(String name, int bytes) throws IOException {
        byte[] b = new byte[bytes];
        new Random(42).nextBytes(b);
        Files.write(p(name), b);
    }

    @Test
    void qedOverQedOverRawWithZeroAndPartialClustersAndShortBasesMapsAsQemuImgMap() throws IOException {
        Qemu.assumeAvailable();
        randomRaw("base.raw", 3 << 20);
        img("create", "-q", "-f", "qed", "-b", "base.raw", "-F", "raw", p("mid.qed").toString(), "4M");
        io("mid.qed", "write -P 1 100k 10k", "write -z 1M 128k", "write -P 2 3584k 300k");
        img("create", "-q", "-f", "qed", "-b", "mid.qed", "-F", "qed", p("top.qed").toString(), "6M");
        io("top.qed", "write -P 3 0 4k", "write -z 2M 64k", "write -P 4 5M 100k");

        assertMapsAsQemu("top.qed");
        assertMapsAsQemu("mid.qed");
        try (QedImage img = QedImage.open(p("top.qed"), OpenOptions.readOnlyDefaults())) {
            List<MappedExtent> m = img.map(0, img.size());
            assertThat(m.get(0).file()).isEqualTo(p("top.qed"));
            assertThat(m.get(1).file()).isEqualTo(p("mid.qed"));
            assertThat(m.get(2).file()).isEqualTo(p("base.raw"));
            assertThat(m.get(2).hostOffset()).as("raw maps at the guest offset").isEqualTo(m.get(2).start());
            assertThat(img.allocatedBytes()).as("this image's own data clusters").isEqualTo(3 * 65536); // 0-64k, and 5M + 100k spanning two clusters
        }
    }

    @Test
    void standaloneImageAndOverlayOfAShorterQedBaseWithoutBackingMapAsQemuImgMap() throws IOException {
        Qemu.assumeAvailable();
        img("create", "-q", "-f", "qed", "-o", "cluster_size=4096", p("base.qed").toString(), "1M");
        io("base.qed", "write -P 5 8k 20k", "write -z 64k 16k", "write -P 6 1020k 4k");
        assertMapsAsQemu("base.qed");
        img("create", "-q", "-f", "qed", "-b", "base.qed", "-F", "qed", p("ov.qed").toString(), "3M");
        io("ov.qed", "write -P 7 10k 1k", "write -P 8 2M 64k");
        assertMapsAsQemu("ov.qed");
    }

    @Test
    void mapOfASubrangeIsClippedToItAndToTheSize() throws IOException {
        try (QedImage img = QedImage.create(p("a.qed"), CreateOptions.ofSize(1L << 20))) {
            img.write(ByteBuffer.wrap(new byte[100]), 70000);
            List<MappedExtent> m = img.map(65536 + 10, 200);
            assertThat(m).hasSize(1);
            assertThat(m.get(0).start()).isEqualTo(65546);
            assertThat(m.get(0).length()).isEqualTo(200);
            assertThat(m.get(0).type()).isEqualTo(MappedExtent.Type.DATA);
            assertThat(m.get(0).hostOffset()).isEqualTo(img.extentAt(65546).hostOffset());
            List<MappedExtent> tail = img.map((1L << 20) - 10, 1000);
            assertThat(tail).containsExactly(new MappedExtent((1L << 20) - 10, 10, MappedExtent.Type.UNALLOCATED,
                    0, null, -1));
            assertThat(img.map(1L << 20, 10)).isEmpty();
            assertThatThrownBy(() -> img.map(-1, 10)).isInstanceOf(IllegalArgumentException.class);
        }
    }
}
