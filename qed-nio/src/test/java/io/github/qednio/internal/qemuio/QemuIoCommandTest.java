package io.github.qednio.internal.qemuio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The qemu-io syntax and output, without QEMU (qed io's tests compare them with the real qemu-io). */
class QemuIoCommandTest {
    @TempDir
    Path dir;

    @Test
    void sizesTakeQemuIoSuffixesInEitherCaseAndNeedNoAlignment() {
        QemuIoCommand c = QemuIoCommand.parse("write -P 0xab 1000 100");
        assertThat(c.kind()).isEqualTo(QemuIoCommand.Kind.WRITE);
        assertThat(c.offset()).isEqualTo(1000);
        assertThat(c.length()).isEqualTo(100);
        assertThat(c.pattern()).hasValue(0xab);
        assertThat(QemuIoCommand.parse("w 1k 2M").offset()).isEqualTo(1024);
        assertThat(QemuIoCommand.parse("w 1K 2m").length()).isEqualTo(2 << 20);
        assertThat(QemuIoCommand.parse("w 1g 1b").offset()).isEqualTo(1L << 30);
        assertThat(QemuIoCommand.parse("w 1T 1").offset()).isEqualTo(1L << 40);
        assertThat(QemuIoCommand.parse("w 1p 1").offset()).isEqualTo(1L << 50);
        assertThat(QemuIoCommand.parse("w 1e 1").offset()).isEqualTo(1L << 60);
        assertThat(QemuIoCommand.parse("w 1.5k 0x200").offset()).isEqualTo(1536);
        assertThat(QemuIoCommand.parse("w 1.5k 0x200").length()).isEqualTo(512);
        assertThat(QemuIoCommand.parse("w 010 1").offset()).isEqualTo(10); // decimal, unlike a pattern
    }

    @Test
    void patternsAreDecimalHexOrOctalBytesAndWriteDefaultsToCd() {
        assertThat(QemuIoCommand.parse("write -P 171 0 1").pattern()).hasValue(171);
        assertThat(QemuIoCommand.parse("write -P0x0A 0 1").pattern()).hasValue(10);
        assertThat(QemuIoCommand.parse("write -P 010 0 1").pattern()).hasValue(8);
        assertThat(QemuIoCommand.parse("write -P 0 0 1").pattern()).hasValue(0);
        assertThat(QemuIoCommand.parse("write 0 1").pattern()).hasValue(0xcd);
        assertThat(QemuIoCommand.parse("write -z 0 1").pattern()).isEmpty();
        assertThat(QemuIoCommand.parse("read 0 1").pattern()).isEmpty();
        for (String bad : new String[] {"256", "0x1ab", "-1", "abc", "08", "0x"}) {
            assertThatThrownBy(() -> QemuIoCommand.parse("write -P " + bad + " 0 1"))
                    .isInstanceOf(QemuIoSyntaxException.class)
                    .hasMessage(bad + " is not a valid pattern byte");
        }
    }

    @Test
    void optionsMayFollowTheOperandsAsWithGlibcGetopt() {
        QemuIoCommand c = QemuIoCommand.parse("read 4k 512 -qv -P 7 -s 10 -l 20");
        assertThat(c.quiet()).isTrue();
        assertThat(c.verbose()).isTrue();
        assertThat(c.pattern()).hasValue(7);
        assertThat(c.patternOffset()).isEqualTo(10);
        assertThat(c.patternLength()).isEqualTo(20);
        assertThat(QemuIoCommand.parse("read -P 7 0 512").patternLength()).isEqualTo(512);
        QemuIoSyntaxException e = (QemuIoSyntaxException) org.assertj.core.api.Assertions.catchThrowable(
                () -> QemuIoCommand.parse("write 0 -5"));
        assertThat(e.standardError()).containsExactly("write: invalid option -- '5'");
        assertThat(e.standardOutput()).containsExactly(CommandParser.WRITE_USAGE);
    }

    @Test
    void unsupportedCommandsAndOptionsAreRefusedSayingSo() {
        assertThatThrownBy(() -> QemuIoCommand.parse("discard -C 0 64k"))
                .hasMessage("discard -C is not supported by qed-nio");
        assertThatThrownBy(() -> QemuIoCommand.parse("write -c 0 64k"))
                .hasMessage("write -c is not supported by qed-nio");
        assertThatThrownBy(() -> QemuIoCommand.parse("aio_write 0 1")).hasMessage("command \"aio_write\" not found");
    }

    @Test
    void discardTakesAnOffsetALengthAndQuiet() {
        QemuIoCommand c = QemuIoCommand.parse("discard -q 64k 1M");
        assertThat(c.kind()).isEqualTo(QemuIoCommand.Kind.DISCARD);
        assertThat(c.offset()).isEqualTo(64 << 10);
        assertThat(c.length()).isEqualTo(1 << 20);
        assertThat(c.quiet()).isTrue();
        assertThat(QemuIoCommand.parse("d 0 512").kind()).isEqualTo(QemuIoCommand.Kind.DISCARD);
        QemuIoSyntaxException e = (QemuIoSyntaxException) org.assertj.core.api.Assertions.catchThrowable(
                () -> QemuIoCommand.parse("discard 0"));
        assertThat(e).hasMessage("bad argument count 1 to discard, expected at least 2 arguments");
    }

    private String run(QedImage img, String... commands) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        QemuIo io = new QemuIo(img, new PrintWriter(out), new PrintWriter(err));
        for (String c : commands) {
            io.execute(c);
        }
        return out + "|" + err;
    }

    @Test
    void mapMergesRunsOfOneStatusAndReadVDumpsAsQemuIo() throws IOException {
        try (QedImage img = QedImage.create(dir.resolve("m.qed"), CreateOptions.ofSize(1 << 20))) {
            String s = run(img, "write -q -P 0x61 10 3", "write -q -z 64k 64k", "map", "read -q -v 8 9",
                    "read -v 8 9");
            assertThat(s).startsWith("128 KiB (0x20000) bytes     allocated at offset 0 bytes (0x0)\n"
                    + "896 KiB (0xe0000) bytes not allocated at offset 128 KiB (0x20000)\n"
                    + "00000008:  00 00 61 61 61 00 00 00 00  ..aaa....\n"
                    + "read 9/9 bytes at offset 8\n");
        }
    }

    @Test
    void aMismatchSaysWhereTheFirstDifferingByteIsEvenWhenQuiet() throws IOException {
        try (QedImage img = QedImage.create(dir.resolve("p.qed"), CreateOptions.ofSize(1 << 20))) {
            QemuIo io = new QemuIo(img, new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()));
            assertThat(io.execute("write -P 5 0 4k")).isTrue();
            assertThat(io.execute("write -P 6 3000 1")).isTrue();
            assertThat(run(img, "read -q -P 5 2048 2048")).isEqualTo(
                    "Pattern verification failed at offset 2048, 2048 bytes\n"
                            + "|first mismatch at offset 3000: expected 0x05, found 0x06\n");
            assertThat(run(img, "read -q -P 5 -s 1001 -l 1047 2000 2048")).isEqualTo("|");
        }
    }

    @Test
    void reportLinesUseQemuIosUnitsAndRounding() {
        assertThat(IoReport.size(100)).isEqualTo("100 bytes");
        assertThat(IoReport.size(262.299416)).isEqualTo("262.299416 bytes");
        assertThat(IoReport.size(1536)).isEqualTo("1.500 KiB");
        assertThat(IoReport.size(0x110000)).isEqualTo("1.062 MiB"); // glibc rounds ties to even
        assertThat(IoReport.size(1L << 30)).isEqualTo("1 GiB");
        assertThat(IoReport.size(0)).isEqualTo("0 bytes");
        assertThat(IoReport.time(10_000_000L)).isEqualTo("00.01 sec");
        assertThat(IoReport.time(3_723_500_000_000L)).isEqualTo("1:02:03.50");
    }
}
