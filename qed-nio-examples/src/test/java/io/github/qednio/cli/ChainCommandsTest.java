package io.github.qednio.cli;

import static io.github.qednio.cli.QedCliTest.cli;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * commit, rebase (safe and unsafe), resize, convert -B and amend, each done by qemu-img on one twin and by qed on
 * the other: {@code qemu-img compare} finds the results identical and {@code qemu-img check} finds ours clean.
 */
class ChainCommandsTest {
    @TempDir
    Path dir;
    private Path q;
    private Path o;

    @BeforeEach
    void twins() throws IOException {
        q = Files.createDirectory(dir.resolve("qemu"));
        o = Files.createDirectory(dir.resolve("ours"));
    }

    /** base.raw (4 MiB, 0x11 at 1M) &lt;- mid.qed (0x22 at 0, zeros at 1M) &lt;- top.qed (0x33 at 64K, 0x44 at 3M). */
    private static void chain(Path d) {
        Qemu.img("create", "-f", "raw", d.resolve("base.raw").toString(), "4M").assertSuccess();
        Qemu.io("-f", "raw", "-c", "write -P 0x11 1M 128k", d.resolve("base.raw").toString()).assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "base.raw", "-F", "raw", d.resolve("mid.qed").toString())
                .assertSuccess();
        Qemu.io("-c", "write -P 0x22 0 128k", "-c", "write -z 1M 64k", d.resolve("mid.qed").toString())
                .assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "mid.qed", "-F", "qed", d.resolve("top.qed").toString())
                .assertSuccess();
        Qemu.io("-c", "write -P 0x33 64k 64k", "-c", "write -P 0x44 3M 4k", d.resolve("top.qed").toString())
                .assertSuccess();
    }

    private void both() {
        chain(q);
        chain(o);
    }

    private String q(String name) {
        return q.resolve(name).toString();
    }

    private String o(String name) {
        return o.resolve(name).toString();
    }

    private static void ok(Run r) {
        assertThat(r.code()).as(r.out() + r.err()).isZero();
    }

    private void assertIdenticalAndClean(String name, String... formatArgs) {
        String[] args = new String[formatArgs.length + 3];
        args[0] = "compare";
        System.arraycopy(formatArgs, 0, args, 1, formatArgs.length);
        args[formatArgs.length + 1] = q(name);
        args[formatArgs.length + 2] = o(name);
        Qemu.Result c = Qemu.img(args);
        assertThat(c.stdout()).as(name + ": " + c.stderr()).isEqualTo("Images are identical.\n");
        if (name.endsWith(".qed")) {
            Qemu.assertCheckClean(o.resolve(name));
        }
    }

    @Test
    void commitIntoTheBackingFileGivesWhatQemuImgCommitGives() {
        Qemu.assumeAvailable();
        both();
        Qemu.img("commit", q("top.qed")).assertSuccess();

        Run r = cli("commit", o("top.qed"));

        ok(r);
        assertThat(r.out()).isEqualTo("Image committed.\n");
        assertIdenticalAndClean("mid.qed");
        assertIdenticalAndClean("top.qed");
        assertIdenticalAndClean("base.raw", "-f", "raw", "-F", "raw");
    }

    @Test
    void commitIntoADeeperBaseWithBGivesWhatQemuImgCommitBGives() {
        Qemu.assumeAvailable();
        both();
        Qemu.img("commit", "-b", q("base.raw"), q("top.qed")).assertSuccess();

        ok(cli("commit", "-b", o("base.raw"), o("top.qed")));

        assertIdenticalAndClean("base.raw", "-f", "raw", "-F", "raw");
        assertIdenticalAndClean("top.qed");
        Run notInChain = cli("commit", "-b", o("top.qed"), o("top.qed"));
        assertThat(notInChain.code()).isEqualTo(1);
        assertThat(notInChain.err()).contains("Did not find '" + o("top.qed") + "' in the backing chain of '"
                + o("top.qed") + "'");
        Run noBacking = cli("commit", "-b", o("base.raw"), o("base.raw"));
        assertThat(noBacking.code()).isEqualTo(1);
    }

    @Test
    void safeRebaseOntoTheRawBaseGivesWhatQemuImgRebaseGives() {
        Qemu.assumeAvailable();
        both();
        Qemu.img("rebase", "-b", "base.raw", "-F", "raw", q("top.qed")).assertSuccess();

        Run r = cli("rebase", "-b", "base.raw", "-F", "raw", o("top.qed"));

        ok(r);
        assertThat(r.out()).isEmpty();
        assertIdenticalAndClean("top.qed");
        assertThat(QemuJson.object(Qemu.img("info", "--output=json", o("top.qed")).stdout()))
                .containsEntry("backing-filename", "\"base.raw\"").containsEntry("backing-filename-format", "\"raw\"");
    }

    @Test
    void rebaseToNoBackingFileMakesTheImageStandaloneAsQemuImgRebaseBEmpty() {
        Qemu.assumeAvailable();
        both();
        Qemu.img("rebase", "-b", "", q("top.qed")).assertSuccess();

        ok(cli("rebase", "-b", "", o("top.qed")));

        assertIdenticalAndClean("top.qed");
        assertThat(Qemu.img("info", "--output=json", o("top.qed")).stdout()).doesNotContain("backing");
    }

    @Test
    void unsafeRebaseRewritesOnlyTheHeaderAsQemuImgRebaseU() throws IOException {
        Qemu.assumeAvailable();
        both();
        Files.delete(q.resolve("mid.qed"));
        Files.delete(o.resolve("mid.qed"));
        Qemu.img("rebase", "-u", "-b", "base.raw", "-F", "raw", q("top.qed")).assertSuccess();

        ok(cli("rebase", "-u", "-b", "base.raw", "-F", "raw", o("top.qed")));

        assertIdenticalAndClean("top.qed");
        Map<String, String> qemu = QemuJson.object(Qemu.img("info", "--output=json", q("top.qed")).stdout());
        Map<String, String> ours = QemuJson.object(Qemu.img("info", "--output=json", o("top.qed")).stdout());
        for (String key : new String[] {"backing-filename", "backing-filename-format", "virtual-size"}) {
            assertThat(ours.get(key)).as(key).isEqualTo(qemu.get(key)).isNotNull();
        }
    }

    @Test
    void resizeGrowsAsQemuImgResizeAndRelativeSizesWork() {
        Qemu.assumeAvailable();
        both();
        Qemu.img("resize", q("top.qed"), "+1M").assertSuccess();

        Run r = cli("resize", o("top.qed"), "+1M");

        ok(r);
        assertThat(r.out()).isEqualTo("Image resized.\n");
        assertIdenticalAndClean("top.qed");
        assertThat(Qemu.img("info", o("top.qed")).stdout()).contains("virtual size: 5 MiB (5242880 bytes)");
    }

    @Test
    void shrinkNeedsTheOptionAndIsRefusedWhenDataLiesPastTheNewEnd() {
        Qemu.assumeAvailable();
        both();
        Run noOption = cli("resize", o("top.qed"), "-1M");
        assertThat(noOption.code()).isEqualTo(1);
        assertThat(noOption.err()).contains("Use the --shrink option to perform a shrink operation");

        Run dataPast = cli("resize", "--shrink", o("top.qed"), "2M");
        assertThat(dataPast.code()).isEqualTo(1);
        assertThat(dataPast.err()).contains("guest offset " + (3 << 20)).doesNotContain("\tat ");
        assertThat(Qemu.img("info", o("top.qed")).stdout()).contains("(4194304 bytes)");

        // QEMU 7.2 refuses every QED shrink; ours shrinks when nothing lies past the new end.
        assertThat(Qemu.img("resize", "--shrink", q("mid.qed"), "2M").stderr())
                .contains("Shrinking images is currently not supported");
        ok(cli("resize", "--shrink", o("mid.qed"), "2M"));
        Qemu.assertCheckClean(o.resolve("mid.qed"));
        assertThat(Qemu.img("info", o("mid.qed")).stdout()).contains("(2097152 bytes)");
        Qemu.Result c = Qemu.img("compare", q("mid.qed"), o("mid.qed"));
        assertThat(c.stdout()).as(c.stderr()).isEqualTo("Warning: Image size mismatch!\nImages are identical.\n");
    }

    @Test
    void convertWithABackingFileWritesOnlyWhatDiffersAndReadsAsQemuImgConvertBResult() {
        Qemu.assumeAvailable();
        both();
        Qemu.img("convert", "-O", "qed", "-B", "mid.qed", "-F", "qed", q("top.qed"), q("new.qed")).assertSuccess();

        ok(cli("convert", "-O", "qed", "-B", "mid.qed", "-F", "qed", o("top.qed"), o("new.qed")));

        assertIdenticalAndClean("new.qed");
        Qemu.Result same = Qemu.img("compare", o("top.qed"), o("new.qed"));
        assertThat(same.stdout()).isEqualTo("Images are identical.\n");
        // Only the two clusters top.qed holds differ from mid.qed.
        assertThat(QemuJson.object(cli("info", "--output=json", o("new.qed")).out()))
                .containsEntry("allocated-bytes", String.valueOf(2 * 65536))
                .containsEntry("backing-filename", "\"mid.qed\"");
    }

    @Test
    void amendChangesTheBackingFileInTheHeader() {
        Qemu.assumeAvailable();
        both();
        ok(cli("amend", "-o", "backing_file=base.raw,backing_fmt=raw", o("top.qed")));

        Map<String, String> info = QemuJson.object(Qemu.img("info", "--output=json", o("top.qed")).stdout());
        assertThat(info).containsEntry("backing-filename", "\"base.raw\"")
                .containsEntry("backing-filename-format", "\"raw\"");
        Run bad = cli("amend", "-o", "cluster_size=4096", o("top.qed"));
        assertThat(bad.code()).isEqualTo(1);
        assertThat(bad.err()).contains("'cluster_size' cannot be changed");
    }

    /**
     * qemu-img 7.2 cannot measure for QED ("does not support size measurement"), so QEMU's own conversions judge:
     * "required" is the size of the file {@code qemu-img convert -O qed} writes, "fully-allocated" that of
     * {@code qemu-img convert -O qed -S 0}; for raw, {@code qemu-img measure} itself.
     */
    @Test
    void measureGivesTheSizeOfQemuImgConvertsFileAndOfItsFullyAllocatedOne() throws IOException {
        Qemu.assumeAvailable();
        both();
        for (String cs : new String[] {"65536", "4096"}) {
            Qemu.img("convert", "-O", "qed", "-o", "cluster_size=" + cs, q("top.qed"), q("flat" + cs + ".qed"))
                    .assertSuccess();
            Qemu.img("convert", "-O", "qed", "-o", "cluster_size=" + cs, "-S", "0", q("top.qed"),
                    q("full" + cs + ".qed")).assertSuccess();
            Run m = cli("measure", "--output=json", "-O", "qed", "-o", "cluster_size=" + cs, o("top.qed"));
            ok(m);
            assertThat(QemuJson.object(m.out())).as("cluster size %s", cs)
                    .containsEntry("required", String.valueOf(Files.size(q.resolve("flat" + cs + ".qed"))))
                    .containsEntry("fully-allocated", String.valueOf(Files.size(q.resolve("full" + cs + ".qed"))));
        }
        Qemu.img("create", "-f", "qed", q("empty.qed"), "64M").assertSuccess();
        Qemu.img("convert", "-O", "qed", "-S", "0", q("empty.qed"), q("empty-full.qed")).assertSuccess();
        Run m = cli("measure", "--output=json", "-O", "qed", "--size", "64M");
        ok(m);
        assertThat(QemuJson.object(m.out())).containsEntry("required", String.valueOf(Files.size(q.resolve("empty.qed"))))
                .containsEntry("fully-allocated", String.valueOf(Files.size(q.resolve("empty-full.qed"))));
        assertThat(cli("measure", "-O", "raw", "--size", "1000").out())
                .isEqualTo(Qemu.img("measure", "-O", "raw", "--size", "1000").stdout());
        assertThat(cli("measure", "-O", "raw", o("top.qed")).out())
                .isEqualTo(Qemu.img("measure", "-O", "raw", q("top.qed")).stdout());
    }
}
