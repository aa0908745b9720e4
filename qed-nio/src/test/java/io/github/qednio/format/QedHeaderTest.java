package io.github.qednio.format;

import static io.github.qednio.format.QedHeader.QED_F_BACKING_FILE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class QedHeaderTest {
    /** {@code qemu-img create -f qed def.qed 1G}, first 64 bytes (notes §2.2, observed with QEMU 7.2). */
    private static final String DEFAULT_1G = "5145440000000100040000000100000000000000000000000000000000000000"
            + "0000000000000000000001000000000000000040000000000000000000000000";
    /** {@code qemu-img create -f qed -b base.raw -F raw ov.qed 4M}, first 64 bytes (notes §2.3). */
    private static final String OVERLAY_4M = "5145440000000100040000000100000005000000000000000000000000000000"
            + "0000000000000000000001000000000000004000000000004000000008000000";

    @Test
    void decodesTheHeaderQemuImgCreates() throws QedFormatException {
        QedHeader h = QedHeader.decode(bytes(DEFAULT_1G), "def.qed");
        assertThat(h).isEqualTo(new QedHeader(65536, 4, 1, 0, 0, 0, 0x10000, 1L << 30, 0, 0));
        Geometry g = h.validate(327680, "def.qed");
        assertThat(g.clusterSize()).isEqualTo(65536);
        assertThat(g.tableSize()).isEqualTo(4);
        assertThat(g.headerSize()).isEqualTo(1);
    }

    @Test
    void decodesAnOverlayHeaderWithRawBackingFile() throws QedFormatException {
        QedHeader h = QedHeader.decode(bytes(OVERLAY_4M), "ov.qed");
        assertThat(h.hasFeature(QedHeader.QED_F_BACKING_FILE)).isTrue();
        assertThat(h.hasFeature(QedHeader.QED_F_BACKING_FORMAT_NO_PROBE)).isTrue();
        assertThat(h.hasFeature(QedHeader.QED_F_NEED_CHECK)).isFalse();
        assertThat(h.imageSize()).isEqualTo(4L << 20);
        assertThat(h.backingFilenameOffset()).isEqualTo(64);
        assertThat(h.backingFilenameSize()).isEqualTo("base.raw".length());
        h.validate(327680, "ov.qed");
    }

    @Test
    void headerSizeIsAcceptedUpToTheLargestThatFitsIn32BitsAndRefusedOneAbove() throws QedFormatException {
        long cs = 4096;
        long max = 0xFFFFFFFFL / cs; // 1048575 clusters: the header area ends just below 4 GiB
        long l1 = max * cs;
        QedHeader atMax = new QedHeader(cs, 4, max, 0, 0, 0, l1, 0, 0, 0);
        assertThat(atMax.validate(l1 + 4 * cs, "big-header.qed").headerBytes()).isEqualTo(l1);
        QedHeader above = new QedHeader(cs, 4, max + 1, 0, 0, 0, l1 + cs, 0, 0, 0);
        assertThatThrownBy(() -> above.validate(l1 + 5 * cs, "big-header.qed"))
                .isInstanceOf(QedFormatException.class)
                .hasMessage("big-header.qed: header_size 1048576 is not in [1, 1048575] (header_size * cluster_size"
                        + " must fit in 32 bits)");
    }

    @Test
    void imageSizeIsAcceptedUpToExactlyTheMaximumOfTheGeometry() throws QedFormatException {
        long max = 64L << 40; // cluster_size 64 KiB, table_size 4: N^2 * cluster_size = 64 TiB
        QedHeader atMax = new QedHeader(65536, 4, 1, 0, 0, 0, 65536, max, 0, 0);
        assertThat(atMax.validate(5 * 65536, "max.qed").maxImageSize()).isEqualTo(max);
        assertThatThrownBy(() -> atMax.withImageSize(max + 512).validate(5 * 65536, "max.qed"))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("image_size 70368744178176 ");
    }

    @Test
    void backingFileNameMustEndInsideTheHeaderArea() throws QedFormatException {
        // offset + size is compared with the 64 KiB header area; the name may end exactly at its end.
        QedHeader fits = new QedHeader(65536, 4, 1, QED_F_BACKING_FILE, 0, 0, 65536, 1 << 20, 65526, 10);
        fits.validate(5 * 65536, "ov.qed");
        QedHeader past = fits.withBackingFilename(65530, 10);
        assertThatThrownBy(() -> past.validate(5 * 65536, "ov.qed"))
                .isInstanceOf(QedFormatException.class)
                .hasMessage("ov.qed: backing file name at offset 65530 with size 10 does not fit in the 65536-byte"
                        + " header area");
    }

    @Test
    void magicNeedsOnlyItsFourBytes() {
        assertThat(QedHeader.hasMagic(ByteBuffer.wrap(new byte[] {'Q', 'E', 'D', 0}))).isTrue();
    }

    @Test
    void encodeGivesBackTheBytesQemuWrote() throws QedFormatException {
        for (String hex : new String[] {DEFAULT_1G, OVERLAY_4M}) {
            ByteBuffer encoded = QedHeader.decode(bytes(hex), "x").encode();
            assertThat(encoded.position()).isZero();
            assertThat(encoded.remaining()).isEqualTo(QedHeader.HEADER_LENGTH);
            assertThat(HexFormat.of().formatHex(encoded.array())).isEqualTo(hex);
        }
    }

    @Test
    void roundTripKeepsEveryFieldIncludingUnsignedExtremes() throws QedFormatException {
        long u32Max = 0xffffffffL;
        QedHeader extreme = new QedHeader(u32Max, u32Max, u32Max, -1, Long.MIN_VALUE, -1, -1, -1, u32Max, u32Max);
        assertThat(QedHeader.decode(extreme.encode(), "x")).isEqualTo(extreme);
        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < 1000; i++) {
            QedHeader h = new QedHeader(u32(random), u32(random), u32(random), random.nextLong(),
                    random.nextLong(), random.nextLong(), random.nextLong(), random.nextLong(), u32(random),
                    u32(random));
            ByteBuffer b = h.encode();
            assertThat(QedHeader.decode(b, "x")).isEqualTo(h);
            assertThat(QedHeader.decode(b, "x").encode()).isEqualTo(b);
        }
    }

    @Test
    void decodeReadsAtTheBufferPositionAndLeavesItAlone() throws QedFormatException {
        ByteBuffer b = ByteBuffer.allocate(100);
        b.position(10).put(bytes(DEFAULT_1G)).position(10);
        QedHeader h = QedHeader.decode(b, "x");
        assertThat(h.imageSize()).isEqualTo(1L << 30);
        assertThat(b.position()).isEqualTo(10);
        assertThat(QedHeader.hasMagic(b)).isTrue();
        assertThat(b.position()).isEqualTo(10);
    }

    @Test
    void decodeRefusesShortBuffersAndBadMagic() {
        assertThatThrownBy(() -> QedHeader.decode(ByteBuffer.wrap(new byte[63]), "short.qed"))
                .isInstanceOfSatisfying(QedFormatException.class, e -> assertThat(e.field()).isEqualTo("header"))
                .hasMessageContainingAll("short.qed", "63 bytes");
        ByteBuffer qcow2 = bytes(DEFAULT_1G);
        qcow2.put(0, new byte[] {'Q', 'F', 'I', (byte) 0xfb});
        assertThat(QedHeader.hasMagic(qcow2)).isFalse();
        assertThatThrownBy(() -> QedHeader.decode(qcow2, "q.qcow2"))
                .isInstanceOfSatisfying(QedFormatException.class, e -> assertThat(e.field()).isEqualTo("magic"))
                .hasMessageContainingAll("q.qcow2", "0xfb494651", "0x00444551");
        assertThat(QedHeader.hasMagic(ByteBuffer.wrap(new byte[] {'Q', 'E', 'D'}))).isFalse();
    }

    @Test
    void validateRoundsTheFileLengthDownToAWholeCluster() throws QedFormatException {
        QedHeader h = QedHeader.decode(bytes(DEFAULT_1G), "def.qed");
        h.validate(327680 + 100, "def.qed");
        assertThatThrownBy(() -> h.validate(327680 - 1, "def.qed"))
                .isInstanceOfSatisfying(QedFormatException.class,
                        e -> assertThat(e.field()).isEqualTo("l1_table_offset"));
    }

    @Test
    void validateChecksTheBackingNameOnlyWhenTheFeatureIsSet() throws QedFormatException {
        QedHeader noBacking = QedHeader.decode(bytes(DEFAULT_1G), "x").withBackingFilename(65000, 5000);
        noBacking.validate(327680, "x");
        QedHeader backing = noBacking.withFeatures(QedHeader.QED_F_BACKING_FILE);
        assertThatThrownBy(() -> backing.validate(327680, "x")).isInstanceOf(QedFormatException.class);
        backing.withBackingFilename(65536 - 4095, 4095).validate(327680, "x");
    }

    @Test
    void withersReplaceOnlyTheirField() throws QedFormatException {
        QedHeader h = QedHeader.decode(bytes(OVERLAY_4M), "x");
        assertThat(h.withFeatures(7)).isEqualTo(new QedHeader(65536, 4, 1, 7, 0, 0, 0x10000, 4L << 20, 64, 8));
        assertThat(h.withAutoclearFeatures(9)).isEqualTo(new QedHeader(65536, 4, 1, 5, 0, 9, 0x10000, 4L << 20, 64,
                8));
        assertThat(h.withImageSize(512)).isEqualTo(new QedHeader(65536, 4, 1, 5, 0, 0, 0x10000, 512, 64, 8));
        assertThat(h.withBackingFilename(100, 3)).isEqualTo(new QedHeader(65536, 4, 1, 5, 0, 0, 0x10000, 4L << 20,
                100, 3));
    }

    private static long u32(SplittableRandom random) {
        return Integer.toUnsignedLong(random.nextInt());
    }

    private static ByteBuffer bytes(String hex) {
        return ByteBuffer.wrap(HexFormat.of().parseHex(hex));
    }
}
