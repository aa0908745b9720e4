package io.github.qednio.internal.chain;

import io.github.qednio.image.ImageFormat;
import io.github.qednio.image.BackingPolicy;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.internal.storage.FormatProbe;
import io.github.qednio.internal.storage.LockSafeFiles;
import io.github.qednio.ops.BackingOperations;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.format.QedFormatException;
import io.github.qednio.format.QedHeader;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Notes §9.5 and issue 9 item 7: a backing file whose format the overlay does not record
 * ({@code QED_F_BACKING_FORMAT_NO_PROBE} clear) is probed as QEMU probes it. QED is opened as QED, a file no format
 * claims is raw, qcow2 is read as qcow2 (issue 13), and a file QEMU would read as qcow, vmdk, vdi, vhdx, vpc, luks,
 * ... is refused, naming the file and the format: reading it as raw would hand its metadata to the guest and copy
 * it into the overlay as data.
 */
class BackingFormatProbeTest {
    private static final int M = 1 << 20;

    @TempDir
    Path tmp;

    private static ByteBuffer head(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static String detect(ByteBuffer b) {
        return FormatProbe.detect(b.position(0), Path.of("file.img"));
    }

    private static ByteBuffer ascii(String s, int size) {
        ByteBuffer b = head(size);
        b.put(s.getBytes(StandardCharsets.ISO_8859_1));
        return b.position(0);
    }

    @Test
    void theMagicOfEachFormatQemuProbesIsRecognised() {
        assertThat(detect(head(64).putInt(0, QedHeader.QED_MAGIC))).isEqualTo("qed");
        assertThat(detect(head(63).putInt(0, QedHeader.QED_MAGIC))).as("shorter than a QED header").isEqualTo("raw");
        ByteBuffer qcow = head(512).order(ByteOrder.BIG_ENDIAN).put(new byte[] {'Q', 'F', 'I', (byte) 0xfb});
        assertThat(detect(qcow.putInt(4, 3))).isEqualTo("qcow2");
        assertThat(detect(qcow.putInt(4, 2))).isEqualTo("qcow2");
        assertThat(detect(qcow.putInt(4, 1))).isEqualTo("qcow");
        assertThat(detect(ascii("KDMV", 512))).isEqualTo("vmdk");
        assertThat(detect(ascii("COWD", 512))).isEqualTo("vmdk");
        assertThat(detect(ascii("# Disk DescriptorFile\nversion=1\nCID=fffffffe\n", 512))).isEqualTo("vmdk");
        assertThat(detect(ascii("# Disk DescriptorFile\r\n  \r\nversion=3\r\n", 512))).isEqualTo("vmdk");
        assertThat(detect(ascii("# comment\nCID=1\nversion=1\n", 512))).as("version must come first")
                .isEqualTo("raw");
        assertThat(detect(head(512).putInt(0x40, 0xbeda107f))).isEqualTo("vdi");
        assertThat(detect(head(100).putInt(0x40, 0xbeda107f))).as("shorter than a VDI header").isEqualTo("raw");
        assertThat(detect(ascii("vhdxfile", 512))).isEqualTo("vhdx");
        assertThat(detect(ascii("conectix", 512))).isEqualTo("vpc");
        ByteBuffer luks = head(512).put(new byte[] {'L', 'U', 'K', 'S', (byte) 0xba, (byte) 0xbe});
        assertThat(detect(luks)).isEqualTo("luks");
        assertThat(detect(ascii("Bochs Virtual HD Image\0", 512))).isEqualTo("bochs");
        assertThat(detect(ascii("#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660"
                + " /dev/cloop $1\n", 512))).isEqualTo("cloop");
        assertThat(detect(ascii("WithoutFreeSpace", 512))).isEqualTo("parallels");
        assertThat(detect(ascii("WithouFreSpacExt", 512))).isEqualTo("parallels");
        assertThat(FormatProbe.detect(head(512), Path.of("disk.dmg"))).as("QEMU probes dmg by name").isEqualTo("dmg");
        assertThat(detect(head(512))).isEqualTo("raw");
        assertThat(detect(ascii("QFI", 3))).isEqualTo("raw");
        assertThat(detect(head(0))).isEqualTo("raw");
    }

    @Test
    void eachProbeNeedsExactlyItsBytesAndNoMore() {
        ByteBuffer qcow = head(8).order(ByteOrder.BIG_ENDIAN).put(new byte[] {'Q', 'F', 'I', (byte) 0xfb}).putInt(3);
        assertThat(detect(qcow)).as("8 bytes hold magic and version").isEqualTo("qcow2");
        assertThat(detect(head(400).putInt(0x40, 0xbeda107f))).isEqualTo("vdi");
        assertThat(detect(head(399).putInt(0x40, 0xbeda107f))).isEqualTo("raw");
        assertThat(detect(ascii("vhdxfile", 8))).isEqualTo("vhdx");
        assertThat(detect(ascii("vhdxfil", 7))).isEqualTo("raw");
        assertThat(FormatProbe.detect(head(16), Path.of(".dmg"))).as("a name that is only the suffix").isEqualTo("raw");
        assertThat(FormatProbe.detect(head(16), Path.of("a.dmg"))).isEqualTo("dmg");
        assertThat(FormatProbe.detect(head(16), Path.of("/"))).as("no file name").isEqualTo("raw");
    }

    @Test
    void theVmdkDescriptorTestFollowsQemusLineRules() {
        assertThat(detect(ascii("version=1\n", 10))).as("the line ends the buffer").isEqualTo("vmdk");
        assertThat(detect(ascii("version=1", 9))).as("no line end").isEqualTo("raw");
        assertThat(detect(ascii("#c\nversion=1", 12))).as("no line end after a comment").isEqualTo("raw");
        assertThat(detect(ascii("version=2\r\n", 11))).isEqualTo("vmdk");
        assertThat(detect(ascii("version=3\r", 10))).isEqualTo("raw");
        assertThat(detect(ascii("version=4\n", 10))).isEqualTo("raw");
        assertThat(detect(ascii("#c\n   \n#d\nversion=2\n", 21))).as("comments and blank lines").isEqualTo("vmdk");
        assertThat(detect(ascii("   \r\nversion=1\n", 16))).as("a Windows blank line").isEqualTo("vmdk");
        assertThat(detect(ascii("  x\nversion=1\n", 14))).as("text before the version line").isEqualTo("raw");
        assertThat(detect(ascii("   ", 3))).as("blanks to the end").isEqualTo("raw");
        assertThat(detect(ascii("# only a comment", 16))).isEqualTo("raw");
        assertThat(detect(ascii("#c\n", 3))).isEqualTo("raw");
    }

    /** An overlay made by QEMU with {@code -F fmt}: for anything but raw QED records no format, so it probes. */
    private Path overlayOver(Path base, String fmt) {
        Path ov = tmp.resolve("over-" + base.getFileName() + "-" + fmt + ".qed");
        Qemu.img("create", "-q", "-f", "qed", "-b", base.getFileName().toString(), "-F", fmt, ov.toString(),
                Integer.toString(M)).assertSuccess();
        return ov;
    }

    @ParameterizedTest
    @ValueSource(strings = {"vmdk", "vdi", "vhdx", "vpc", "qcow"})
    void anUnrecordedNonRawBackingFileIsRefusedNamingItAndItsFormat(String fmt) throws IOException {
        Qemu.assumeAvailable();
        Path base = tmp.resolve("base." + fmt);
        Qemu.img("create", "-q", "-f", fmt, base.toString(), Integer.toString(M)).assertSuccess();
        Path probed = overlayOver(base, fmt);
        try (QedImage img = QedImage.open(probed, OpenOptions.defaults().withBackingPolicy(BackingPolicy.FOLLOW))
                ) {
            throw new AssertionError("opened an overlay over a " + fmt + " file as " + img.backingFormat());
        } catch (QedFormatException e) {
            assertThat(e.getMessage()).contains(probed.toString()).contains(base.toString())
                    .contains("is a " + fmt + " image");
        }
        assertThat(LockSafeFiles.probeFormat(base)).isEqualTo(fmt);

        // Recorded as raw (NO_PROBE), the same file is read as its raw bytes, as QEMU does.
        Path raw = overlayOver(base, "raw");
        try (QedImage img = QedImage.open(raw, OpenOptions.readOnlyDefaults())) {
            assertThat(img.backingFormat()).isEqualTo(ImageFormat.RAW);
            byte[] want = Files.readAllBytes(base);
            byte[] got = new byte[Math.min(want.length, M)];
            img.readFully(ByteBuffer.wrap(got), 0);
            assertThat(got).isEqualTo(Arrays.copyOf(want, got.length));
        }
    }

    @Test
    void aVmdkTextDescriptorIsRecognisedToo() throws IOException {
        Qemu.assumeAvailable();
        Path base = tmp.resolve("flat.vmdk");
        Qemu.img("create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", base.toString(),
                Integer.toString(M)).assertSuccess();
        assertThat(new String(Files.readAllBytes(base), StandardCharsets.US_ASCII)).startsWith("# Disk Descriptor");
        Path probed = overlayOver(base, "vmdk");
        assertThatThrownBy(() -> QedImage.open(probed, OpenOptions.readOnlyDefaults()))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("is a vmdk image")
                .hasMessageContaining(base.toString());
    }

    @Test
    void anUnrecordedQedOrRawBackingFileIsStillProbedAsBefore() throws IOException {
        Path rawBase = ChainFixtures.writeFile(tmp.resolve("base.bin"), ChainFixtures.pattern(M, 3));
        QedImage.create(tmp.resolve("base.qed"), CreateOptions.ofSize(M)).close();
        for (String name : List.of("base.bin", "base.qed")) {
            Path top = tmp.resolve("top-" + name + ".qed");
            QedImage.create(top, CreateOptions.ofSize(M)).close();
            BackingOperations.rebaseUnsafe(top, name, null);
            try (QedImage img = QedImage.open(top, OpenOptions.readOnlyDefaults())) {
                assertThat(img.backingFormat()).isEqualTo(name.endsWith(".qed") ? ImageFormat.QED
                        : ImageFormat.RAW);
                if (name.equals("base.bin")) {
                    assertThat(ChainFixtures.readAll(img)).isEqualTo(Files.readAllBytes(rawBase));
                }
            }
        }
    }

    @Test
    void creatingAnOverlayOverAFileWithQcow2MagicButNoValidHeaderIsRefused() throws IOException {
        // Probed as qcow2 (not raw: its bytes would be read as guest data), then refused by the qcow2 reader.
        Path fake = tmp.resolve("base.img");
        ByteBuffer qcow2 = ByteBuffer.allocate(4096).put(new byte[] {'Q', 'F', 'I', (byte) 0xfb}).putInt(3);
        Files.write(fake, qcow2.array());
        assertThatThrownBy(() -> QedImage.create(tmp.resolve("ov.qed"), CreateOptions.overlay("base.img", null)))
                .isInstanceOf(QedFormatException.class).hasMessageContaining(fake.toString());
        assertThat(tmp.resolve("ov.qed")).doesNotExist();
        assertThatThrownBy(() -> BackingOperations.snapshot(fake, tmp.resolve("snap.qed")))
                .isInstanceOf(QedFormatException.class).hasMessageContaining(fake.toString());
        assertThat(tmp.resolve("snap.qed")).doesNotExist();
    }

    @Test
    void withProbingOffAnUnrecordedFormatIsRefusedWithoutReadingTheFile() throws IOException {
        Path rawBase = ChainFixtures.writeFile(tmp.resolve("base.bin"), ChainFixtures.pattern(M, 4));
        Path top = tmp.resolve("top.qed");
        QedImage.create(top, CreateOptions.ofSize(M)).close();
        BackingOperations.rebaseUnsafe(top, rawBase.getFileName().toString(), null);
        assertThatThrownBy(() -> QedImage.open(top, OpenOptions.readOnlyDefaults().withProbeBacking(false)))
                .isInstanceOf(QedFormatException.class).hasMessageContaining("probing is disabled");
    }
}
