package io.github.qednio.internal.storage;

import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading this process's POSIX locks out of {@code /proc/locks}, on texts in the kernel's format. */
class ProcLocksTest {
    private static final String TEXT = String.join("\n",
            "1: POSIX  ADVISORY  READ 4242 fe:00:2285622 100 101",
            "2: POSIX  ADVISORY  READ 4242 fe:00:2285622 103 103",
            "3: POSIX  ADVISORY  READ 4242 fe:00:2285622 201 201",
            "3: -> POSIX  ADVISORY  WRITE 777 fe:00:2285622 101 101",
            "4: POSIX  ADVISORY  READ 4242 fe:00:2285622 203 EOF",
            "5: OFDLCK ADVISORY  READ -1 fe:00:2285622 100 100",
            "6: FLOCK  ADVISORY  WRITE 4242 fe:00:2285622 0 EOF",
            "7: POSIX  ADVISORY  READ 999 fe:00:2285622 0 EOF",
            "8: POSIX  ADVISORY  READ 4242 103:05:2285622 101 101",
            "9: POSIX  ADVISORY  READ 4242 fe:00:77 101 101",
            "10: POSIX  ADVISORY  READ 4242 fe:00:2285622 x 101",
            "");

    @Test
    void onlyThisProcessesPosixLinesOnTheFileCount() {
        List<long[]> r = ProcLocks.rangesIn(TEXT, "4242", "fe:00:2285622");
        assertThat(r).extracting(a -> a[0] + "-" + a[1])
                .containsExactly("100-101", "103-103", "201-201", "203-" + Long.MAX_VALUE);
        assertThat(ProcLocks.covers(r, 100)).isTrue();
        assertThat(ProcLocks.covers(r, 101)).as("merged range").isTrue();
        assertThat(ProcLocks.covers(r, 102)).isFalse();
        assertThat(ProcLocks.covers(r, 99)).isFalse();
        assertThat(ProcLocks.covers(r, 202)).isFalse();
        assertThat(ProcLocks.covers(r, 1L << 40)).as("EOF").isTrue();
        assertThat(ProcLocks.rangesIn(TEXT, "999", "fe:00:2285622")).hasSize(1);
        assertThat(ProcLocks.rangesIn(TEXT, "4242", "fe:00:77")).hasSize(1);
        assertThat(ProcLocks.rangesIn(TEXT, "1", "fe:00:2285622")).isEmpty();
        assertThat(ProcLocks.parse(TEXT)).as("waiters, OFD, flock and bad lines left out").hasSize(7);
        assertThat(ProcLocks.parse("")).isEmpty();
    }

    @Test
    void othersAreOtherProcessesPosixLinesAndOpenFileDescriptionLocksOnTheFile() {
        assertThat(ProcLocks.othersHoldIn(TEXT, "4242", "fe:00:2285622", 100)).as("QEMU's OFD lock").isTrue();
        assertThat(ProcLocks.othersHoldIn(TEXT, "4242", "fe:00:2285622", 5)).as("process 999").isTrue();
        assertThat(ProcLocks.othersHoldIn(TEXT, "999", "fe:00:2285622", 5)).as("its own lock").isFalse();
        assertThat(ProcLocks.othersHoldIn(TEXT, "999", "fe:00:2285622", 201)).as("4242's").isTrue();
        assertThat(ProcLocks.othersHoldIn(TEXT, "999", "fe:00:77", 101)).isTrue();
        assertThat(ProcLocks.othersHoldIn(TEXT, "4242", "fe:00:77", 101)).isFalse();
        String without999 = TEXT.replace("7: POSIX  ADVISORY  READ 999", "7: FLOCK  ADVISORY  READ 999");
        assertThat(ProcLocks.othersHoldIn(without999, "4242", "fe:00:2285622", 101))
                .as("flock lines and a waiter (777 on 101) are not held byte locks").isFalse();
        assertThat(ProcLocks.othersHoldIn(without999, "4242", "fe:00:2285622", 100)).isTrue();
    }

    @Test
    void theTokenIsTheOneCoveringTheHeldBytePreferringTheStatDevice() {
        assertThat(ProcLocks.tokenIn(TEXT, "4242", "2285622", "fe:00:2285622", 101)).isEqualTo("fe:00:2285622");
        // When stat's device differs from the kernel's (overlay file systems), the inode's line still names it.
        assertThat(ProcLocks.tokenIn(TEXT, "4242", "2285622", "aa:01:2285622", 101)).isEqualTo("103:05:2285622");
        assertThat(ProcLocks.tokenIn(TEXT, "4242", "2285622", "fe:00:2285622", 102)).isNull();
        assertThat(ProcLocks.tokenIn(TEXT, "4242", "85622", "fe:00:85622", 101)).as("inode suffix only").isNull();
        assertThat(ProcLocks.tokenIn(TEXT, "4243", "2285622", "fe:00:2285622", 101)).isNull();
        assertThat(ProcLocks.tokenIn(TEXT, "4242", "2285622", "fe:00:2285622", 99)).isNull();
        assertThat(ProcLocks.tokenIn(TEXT, "4242", "2285622", "fe:00:2285622", 300)).as("EOF range")
                .isEqualTo("fe:00:2285622");
    }

    @Test
    void devicesAreDecodedAsTheKernelPrintsThem() {
        assertThat(ProcLocks.token(0xfe00L, 5)).isEqualTo("fe:00:5");
        assertThat(ProcLocks.token(0x0803L, 12)).isEqualTo("08:03:12");
        // makedev(259, 65537): major above 0xfff and minor above 0xff use the high bits of dev_t.
        long dev = (259L & 0xfff) << 8 | (259L & ~0xfffL) << 32 | (65537L & 0xff) | (65537L & ~0xffL) << 12;
        assertThat(ProcLocks.token(dev, 1)).isEqualTo("103:10001:1");
        long big = (0x1234L & 0xfff) << 8 | (0x1234L & ~0xfffL) << 32 | (0x56L & 0xff);
        assertThat(ProcLocks.token(big, 1)).isEqualTo("1234:56:1");
    }

    @Test
    void aLockJustTakenIsFoundUnderTheStatDevicesToken(@TempDir Path dir) throws IOException {
        assumeTrue(Files.isReadable(Path.of("/proc/locks")), "no /proc/locks");
        Path image = dir.resolve("t.qed");
        QedImage.create(image, CreateOptions.ofSize(1 << 20)).close();
        try (QedImage w = QedImage.open(image, OpenOptions.defaults())) {
            w.write(ByteBuffer.wrap(new byte[] {1}), 0);
            String expected = ProcLocks.token((Long) Files.getAttribute(image, "unix:dev"),
                    (Long) Files.getAttribute(image, "unix:ino"));
            assertThat(ProcLocks.tokenOf(image, 101)).isEqualTo(expected);
            assertThat(ProcLocks.tokenOf(image, 102)).isNull();
            List<long[]> held = ProcLocks.ranges(expected);
            for (int b : new int[] {100, 101, 103, 201, 203}) {
                assertThat(ProcLocks.covers(held, b)).as("byte %d", b).isTrue();
            }
            assertThat(ProcLocks.covers(held, 102)).isFalse();
        }
    }

    @Test
    void aReaderWithItsInterruptSetStillSeesTheLocksAndKeepsTheInterrupt(@TempDir Path dir) throws IOException {
        assumeTrue(Files.isReadable(Path.of("/proc/locks")), "no /proc/locks");
        Path image = dir.resolve("t.qed");
        QedImage.create(image, CreateOptions.ofSize(1 << 20)).close();
        try (QedImage w = QedImage.open(image, OpenOptions.defaults())) {
            w.write(ByteBuffer.wrap(new byte[] {1}), 0);
            String token = ProcLocks.tokenOf(image, 101);
            for (int i = 0; i < 3; i++) {
                // The kept-open /proc/locks channel would be closed by the JDK if the read ran interrupted.
                Thread.currentThread().interrupt();
                try {
                    assertThat(ProcLocks.covers(ProcLocks.ranges(token), 101)).isTrue();
                    assertThat(Thread.currentThread().isInterrupted()).as("interrupt kept").isTrue();
                } finally {
                    Thread.interrupted();
                }
            }
        }
    }

    @Test
    void linesWithTabsLeadingBlanksOrExtraFieldsAreParsedOrLeftOut() {
        List<String[]> lines = ProcLocks.parse("\t 1:\tPOSIX ADVISORY WRITE 7 fe:00:9 0 EOF \n"
                + "2: POSIX ADVISORY WRITE 7 fe:00:9 0 EOF extra\n2: POSIX ADVISORY WRITE 7 fe:00:9 1234567890123456789 1");
        assertThat(lines).hasSize(1);
        assertThat(lines.get(0)).containsExactly("1:", "POSIX", "ADVISORY", "WRITE", "7", "fe:00:9", "0", "EOF");
    }
}
