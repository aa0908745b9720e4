package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.format.QedHeader;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every command run as a user runs it: {@code QedCli.main} in its own JVM, exit code from {@code System.exit}. */
class QedMainTest {
    @TempDir
    Path dir;

    private String p(String name) {
        return dir.resolve(name).toString();
    }

    private static Run ok(String... args) throws Exception {
        Run r = MainRunner.run(args);
        assertThat(r.code()).as("%s: %s%s", String.join(" ", args), r.out(), r.err()).isZero();
        return r;
    }

    /**
     * An image not closed cleanly whose L2 table has one entry past the end of the file: a read-write open repairs
     * exactly one corruption.
     */
    private Path notClosedCleanlyWithOneInvalidEntry(String name) throws IOException {
        Path img = dir.resolve(name);
        try (QedImage image = QedImage.create(img, CreateOptions.ofSize(16L << 20))) {
            image.write(ByteBuffer.wrap(new byte[4096]), 0);
        }
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, 40); // l1_table_offset
            ch.read(b.clear(), b.getLong(0)); // L1[0]: the first L2 table
            long l2 = b.getLong(0);
            ch.write(b.clear().putLong(0, ch.size() + (1L << 20)), l2 + 160 * 8);
            ch.read(b.clear(), 16); // features
            ch.write(b.clear().putLong(0, b.getLong(0) | QedHeader.QED_F_NEED_CHECK), 16);
        }
        return img;
    }

    @Test
    void aRepairAtOpenIsOnePlainLineOnStderrAndTheLibrarysLogLinesOnlyAppearWithDebug() throws Exception {
        for (String[] command : List.of(new String[] {"io", "-c", "read 0 4k"}, new String[] {"compact"},
                new String[] {"resize", "IMG", "32M"}, new String[] {"convert-in-place", "-O", "qcow2"},
                new String[] {"rebase", "-u", "-b", ""})) {
            Path img = notClosedCleanlyWithOneInvalidEntry(command[0] + ".qed");
            List<String> args = new ArrayList<>(List.of(command));
            args.remove("IMG");
            args.add(command[0].equals("resize") ? 1 : args.size(), img.toString());

            Run r = MainRunner.run(args.toArray(String[]::new));

            assertThat(r.code()).as("%s: %s", args, r.err()).isZero();
            assertThat(r.err()).as("%s", args).isEqualTo("qed: " + img + " was not closed cleanly; checked it:"
                    + " 1 corruption fixed, 0 remain, 0 leaked clusters\n");
            if (!command[0].equals("convert-in-place")) {
                assertThat(needCheck(img)).as("%s", args).isFalse();
            }
        }
        if (Qemu.crossChecks()) { // the figure is the one qemu-img's repair reports
            Path img = notClosedCleanlyWithOneInvalidEntry("qemu.qed");
            Qemu.Result q = Qemu.img("check", "-r", "all", "--output=json", img.toString());
            assertThat(Qemu.jsonLong(q.stdout(), "corruptions-fixed")).as(q.stdout()).isEqualTo(1);
            assertThat(Qemu.jsonLong(q.stdout(), "leaks")).as(q.stdout()).isZero();
        }

        Path img = notClosedCleanlyWithOneInvalidEntry("debug.qed");
        Run debug = MainRunner.run("io", "--debug", "-c", "read 0 4k", img.toString());
        assertThat(debug.code()).as(debug.err()).isZero();
        assertThat(debug.err()).contains("qed: " + img + " was not closed cleanly; checked it: 1 corruption fixed")
                .contains("INFO io.github.qednio.image.QedImage - " + img + ": was not closed cleanly");
    }

    private static boolean needCheck(Path img) throws IOException {
        return (Files.readAllBytes(img)[16] & QedHeader.QED_F_NEED_CHECK) != 0;
    }

    @Test
    void aSessionWithEveryCommandThroughMain() throws Exception {
        Qemu.assumeAvailable();
        assertThat(ok("create", p("base.qed"), "4M").out()).startsWith("Formatting '" + p("base.qed") + "'");
        Qemu.io("-c", "write -P 5 0 64k", p("base.qed")).assertSuccess();
        ok("create", "-b", "base.qed", "-F", "qed", p("top.qed"));
        Qemu.io("-c", "write -P 6 1M 64k", p("top.qed")).assertSuccess();
        assertThat(ok("resize", p("top.qed"), "+1M").out()).isEqualTo("Image resized.\n");
        assertThat(ok("info", "--output=json", p("top.qed")).out()).contains("\"virtual-size\": 5242880");
        assertThat(ok("check", p("top.qed")).out()).contains("No errors were found on the image.");
        assertThat(ok("map", "--output=json", p("top.qed")).out())
                .isEqualTo(Qemu.img("map", "--output=json", p("top.qed")).stdout());
        ok("convert", "-O", "qed", p("top.qed"), p("flat.qed"));
        assertThat(ok("compare", p("top.qed"), p("flat.qed")).out()).isEqualTo("Images are identical.\n");
        assertThat(ok("measure", "-O", "qed", p("top.qed")).out()).startsWith("required size: ");
        ok("amend", "-o", "backing_fmt=qed", p("top.qed"));
        ok("rebase", "-b", "flat.qed", "-F", "qed", p("top.qed"));
        assertThat(ok("commit", p("top.qed")).out()).isEqualTo("Image committed.\n");
        Qemu.assertCheckClean(dir.resolve("flat.qed"));
        ok("demo", "--writes", "20");
        ok("--help");

        Run failure = MainRunner.run("info", p("missing.qed"));
        assertThat(failure.code()).isEqualTo(1);
        assertThat(failure.err()).isEqualTo("qed: " + p("missing.qed") + ": no such file\n");
        assertThat(MainRunner.run("compare", p("top.qed"), p("missing.qed")).code()).isEqualTo(2);
        assertThat(MainRunner.run("convert", "--help").code()).isZero();
    }
}
