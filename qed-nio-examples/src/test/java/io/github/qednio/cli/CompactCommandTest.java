package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.internal.qed.ChildJvm;
import io.github.qednio.image.CheckResult;
import io.github.qednio.image.CreateOptions;
import io.github.qednio.image.OpenOptions;
import io.github.qednio.image.QedImage;
import io.github.qednio.image.Repair;
import io.github.qednio.testing.ConvertBaseline;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code qed compact}: a thin command over {@link QedImage#compact}, and safe to kill at any moment. */
class CompactCommandTest {
    private static final int CS = 4096;

    @TempDir
    Path dir;

    /** A 4 KiB-cluster image with 3000 clusters written in random order, two thirds of them discarded again. */
    private static Path fragmented(Path file) throws IOException {
        Random r = new Random(11);
        try (QedImage img = QedImage.create(file, CreateOptions.ofSize(32L << 20).withClusterSize(CS)
                .withTableSize(2))) {
            byte[] b = new byte[CS];
            for (int k = 0; k < 3000; k++) {
                r.nextBytes(b);
                img.write(ByteBuffer.wrap(b), (long) r.nextInt(8192) * CS);
            }
            for (int k = 0; k < 3000; k++) {
                if (r.nextInt(3) > 0) {
                    img.discard((long) r.nextInt(8192) * CS, CS);
                }
            }
        }
        return file;
    }

    private static String[] run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = QedCli.run(args, new PrintWriter(out), new PrintWriter(err));
        return new String[] {Integer.toString(code), out.toString(), err.toString()};
    }

    @Test
    void compactWithProgressShrinksTheFileAndKeepsTheContent() throws IOException {
        Path file = fragmented(dir.resolve("c.qed"));
        Path original = Files.copy(file, dir.resolve("original.qed"));
        long before = Files.size(file);
        String[] r;
        System.setProperty("qed.progress", "always"); // as on a terminal: the test's stderr is not one
        try {
            r = run("compact", "-p", file.toString());
        } finally {
            System.clearProperty("qed.progress");
        }
        assertThat(r[0]).as("exit code; stderr %s", r[2]).isEqualTo("0");
        assertThat(r[2]).as("the bar, on standard error").contains("(100.00/100%)");
        assertThat(r[1]).doesNotContain("/100%)").contains(before + " bytes before, " + Files.size(file)
                + " bytes after");
        assertThat(Files.size(file)).isLessThan(before);
        if (Qemu.crossChecks()) {
            ConvertBaseline.assertNoWorseThanConvert(file, original, "qed");
        }
    }

    @Test
    void anImageConvertedToQcow2AndBackInPlaceCompactsToWhatQemuImgConvertMakes() throws IOException {
        Path file = fragmented(dir.resolve("round.qed"));
        Path original = Files.copy(file, dir.resolve("original.qed"));
        for (String[] args : List.of(new String[] {"convert-in-place", "-O", "qcow2", file.toString()},
                new String[] {"convert-in-place", "-O", "qed", file.toString()},
                new String[] {"compact", file.toString()})) {
            String[] r = run(args);
            assertThat(r[0]).as("%s: %s", String.join(" ", args), r[2]).isEqualTo("0");
        }
        try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults());
             QedImage orig = QedImage.open(original, OpenOptions.readOnlyDefaults())) {
            assertThat(readAll(img)).isEqualTo(readAll(orig));
            CheckResult check = img.check(Repair.NONE);
            assertThat(check.isClean()).as("%s", check).isTrue();
            assertThat(check.fragmentedClusters()).as("%s", check).isZero();
        }
        if (Qemu.crossChecks()) {
            ConvertBaseline.assertNoWorseThanConvert(file, original, "qed");
        }
    }

    @Test
    void progressIsDrawnOnlyOnATerminal() throws IOException {
        Path file = fragmented(dir.resolve("t.qed"));
        String[] r = run("compact", "-p", file.toString());
        assertThat(r[0]).isEqualTo("0");
        assertThat(r[1] + r[2]).as("no terminal here: no bar").doesNotContain("/100%)");
    }

    /**
     * {@code qed compact} killed with SIGKILL after its k-th progress report (somewhere in a copy, a force, a table
     * update or a truncation) leaves the guest content intact, no corruption, and an image that a second compaction
     * finishes.
     */
    @Test
    void compactKilledWithSigkillLeavesTheContentIntact() throws Exception {
        boolean qemu = Qemu.crossChecks();
        Path template = fragmented(dir.resolve("template.qed"));
        byte[] content;
        try (QedImage img = QedImage.open(template, OpenOptions.readOnlyDefaults())) {
            content = readAll(img);
        }
        int reports;
        Path probe = Files.copy(template, dir.resolve("probe.qed"));
        try (QedImage img = QedImage.open(probe, OpenOptions.defaults())) {
            int[] n = new int[1];
            img.compact((done, total) -> n[0]++);
            reports = n[0];
        }
        assertThat(reports).as("progress reports of the compaction").isGreaterThan(6);
        int killed = 0;
        for (int killAfter = 1; killAfter < reports; killAfter += (reports - 1) / 4) {
            Path file = Files.copy(template, dir.resolve("k" + killAfter + ".qed"),
                    StandardCopyOption.REPLACE_EXISTING);
            String context = "killed after progress report " + killAfter;
            // -p draws on standard error only on a terminal; qed.progress=always draws it for this pipe too.
            Process child = ChildJvm.startWithStderr(List.of("-Dqed.progress=always"), QedCli.class, "compact", "-p",
                    file.toString());
            try (InputStream out = child.getErrorStream()) {
                int seen = 0;
                int c;
                while (seen < killAfter && (c = out.read()) >= 0) {
                    seen += c == '\r' ? 1 : 0;
                }
                if (child.isAlive()) {
                    child.toHandle().destroyForcibly();
                }
                assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
                killed += child.exitValue() == 128 + 9 ? 1 : 0;
            } finally {
                child.destroyForcibly();
            }
            try (QedImage img = QedImage.open(file, OpenOptions.defaults())) {
                CheckResult check = img.check(Repair.NONE);
                assertThat(check.isConsistent()).as("%s: %s", context, check).isTrue();
                assertThat(readAll(img)).as(context).isEqualTo(content);
            }
            if (qemu) {
                Qemu.Result q = Qemu.img("check", "-f", "qed", "--output=json", file.toString());
                assertThat(Qemu.jsonLong(q.stdout(), "corruptions")).as("%s: %s", context, q.stdout()).isZero();
                assertThat(Qemu.img("compare", "-f", "qed", "-F", "qed", file.toString(), template.toString())
                        .exitCode()).as(context).isZero();
            }
            assertThat(run("compact", file.toString())[0]).as(context).isEqualTo("0");
            try (QedImage img = QedImage.open(file, OpenOptions.readOnlyDefaults())) {
                assertThat(readAll(img)).as(context + ", compacted again").isEqualTo(content);
                assertThat(img.check(Repair.NONE).isClean()).as(context).isTrue();
            }
        }
        assertThat(killed).as("children killed before they finished").isPositive();
    }

    private static byte[] readAll(QedImage img) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) img.size());
        img.readFully(b, 0);
        return b.array();
    }
}
