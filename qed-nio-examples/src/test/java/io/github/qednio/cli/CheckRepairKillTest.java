package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.image.CheckResult;
import io.github.qednio.internal.qed.ChildJvm;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qed check -r all} killed with SIGKILL while its leak repair moves clusters: the image still opens, has no
 * corruption, and holds the guest data it held before; a second {@code qed check -r all} finishes the repair.
 */
class CheckRepairKillTest {
    private static final int CS = 4096;
    private static final long SIZE = 64L << 20;
    private static final int CLUSTERS = 12000;

    @TempDir
    Path dir;

    /**
     * About 47 MiB of 4 KiB clusters, two of every six in the first two thirds discarded: leaks all along the file,
     * each long enough to take a moved L2 table.
     */
    private static Path leaky(Path file) throws IOException {
        Random r = new Random(5);
        byte[] b = new byte[CS];
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(SIZE).withClusterSize(CS).withTableSize(2))) {
            for (int k = 0; k < CLUSTERS; k++) {
                r.nextBytes(b);
                img.write(ByteBuffer.wrap(b), (long) k * CS);
            }
            for (int k = 0; k < CLUSTERS * 2 / 3; k += 6) {
                img.discard((long) k * CS, 2 * CS);
            }
        }
        return file;
    }

    private static boolean needCheck(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            return ch.read(b, 16) == 1 && (b.get(0) & 2) != 0;
        }
    }

    /** Both images read the same, compared 1 MiB at a time. */
    private static void assertSameContent(Path image, Path expected, String context) throws IOException {
        try (QedImage a = QedImage.open(image, OpenOptions.readOnlyDefaults());
             QedImage b = QedImage.open(expected, OpenOptions.readOnlyDefaults())) {
            ByteBuffer x = ByteBuffer.allocate(1 << 20);
            ByteBuffer y = ByteBuffer.allocate(1 << 20);
            for (long pos = 0; pos < SIZE; pos += 1 << 20) {
                a.readFully(x.clear(), pos);
                b.readFully(y.clear(), pos);
                assertThat(x.flip()).as("%s: guest bytes at %d", context, pos).isEqualTo(y.flip());
            }
        }
    }

    @Test
    void checkRepairKilledWithSigkillWhileMovingClustersLeavesTheDataIntact() throws Exception {
        boolean qemu = Qemu.crossChecks();
        Path template = leaky(dir.resolve("template.qed"));
        assertThat(needCheck(template)).isFalse();
        int midRepair = 0;
        for (int round = 0; round < 4; round++) {
            Path file = Files.copy(template, dir.resolve("k" + round + ".qed"), StandardCopyOption.REPLACE_EXISTING);
            String context = "round " + round;
            Process child = ChildJvm.start(QedCli.class, "check", "-r", "all", file.toString());
            try {
                // The repair sets NEED_CHECK before its first move and clears it when the image checks clean.
                while (child.isAlive() && !needCheck(file)) {
                    Thread.onSpinWait();
                }
                Thread.sleep(round * 40L);
                boolean moving = child.isAlive() && needCheck(file);
                child.toHandle().destroyForcibly();
                assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
                if (moving && child.exitValue() == 128 + 9) {
                    midRepair++;
                    context += " (killed while moving)";
                }
            } finally {
                child.destroyForcibly();
            }
            try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
                CheckResult check = img.check(Repair.NONE);
                assertThat(check.isConsistent()).as("%s: %s", context, check).isTrue();
            }
            assertSameContent(file, template, context);
            if (qemu) {
                Qemu.Result q = Qemu.img("check", "-f", "qed", "--output=json", file.toString());
                assertThat(Qemu.jsonLong(q.stdout(), "corruptions")).as("%s: %s", context, q.stdout()).isZero();
                Qemu.img("compare", "-f", "qed", "-F", "qed", file.toString(), template.toString()).assertSuccess();
            }
            QedCliTest.Run again = QedCliTest.cli("check", "-r", "all", file.toString());
            assertThat(again.code()).as("%s: the repair run again: %s %s", context, again.out(), again.err())
                    .isZero();
            if (qemu) {
                Qemu.assertCheckClean(file); // no leak but QEMU's false ones (notes §11.4): the file is large
            }
            assertSameContent(file, template, context + ", repaired again");
        }
        assertThat(midRepair).as("children killed while the repair was moving clusters").isPositive();
    }
}
