package io.github.qednio.cli;

import static io.github.qednio.cli.QedCliTest.cli;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code qed info} against {@code qemu-img info}: every key and value qemu-img prints, and its text. */
class InfoCommandTest {
    @TempDir
    Path dir;

    private String p(String name) {
        return dir.resolve(name).toString();
    }

    /** Asserts that ours has every key of qemu-img's JSON with the same value (keys listed in {@code except} aside). */
    private static void assertSameKeys(Map<String, String> qemu, Map<String, String> ours, String... except) {
        assertThat(qemu).isNotEmpty();
        for (Map.Entry<String, String> e : qemu.entrySet()) {
            if (!List.of(except).contains(e.getKey())) {
                assertThat(ours).as("key %s in %s", e.getKey(), ours).containsEntry(e.getKey(), e.getValue());
            }
        }
    }

    private Map<String, String> ours(String... args) {
        Run r = cli(args);
        assertThat(r.code()).as(r.err()).isZero();
        return QemuJson.object(r.out());
    }

    private static Map<String, String> qemu(String... args) {
        return QemuJson.object(Qemu.img(args).assertSuccess().stdout());
    }

    @Test
    void jsonOfAStandaloneImageHasQemuImgsKeysAndValuesIncludingActualSize() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("a.qed"), "1G").assertSuccess();
        Qemu.io("-c", "write -P 1 0 64k", "-c", "write -P 2 10M 64k", p("a.qed")).assertSuccess();

        Map<String, String> ours = ours("info", "--output=json", p("a.qed"));

        assertSameKeys(qemu("info", "--output=json", p("a.qed")), ours);
        assertThat(ours).containsEntry("actual-size", "659456").containsEntry("dirty-flag", "false")
                .doesNotContainKey("backing-filename").containsEntry("allocated-bytes", "131072");
    }

    @Test
    void jsonOfAnOverlayOnARawBaseReportsTheRecordedFormatAsQemuImgDoes() throws IOException {
        Qemu.assumeAvailable();
        Files.createDirectory(dir.resolve("sub"));
        Qemu.img("create", "-f", "raw", p("base.raw"), "4M").assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "../base.raw", "-F", "raw", p("sub/ov.qed")).assertSuccess();

        Map<String, String> ours = ours("info", "--output=json", p("sub/ov.qed"));

        assertSameKeys(qemu("info", "--output=json", p("sub/ov.qed")), ours);
        assertThat(ours).containsEntry("backing-filename-format", "\"raw\"")
                .containsEntry("full-backing-filename", "\"" + dir + "/sub/../base.raw\"");
    }

    @Test
    void jsonOfAnOverlayOnAQedBaseHasNoBackingFormatBecauseTheHeaderRecordsNone() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("base.qed"), "8M").assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "base.qed", "-F", "qed", p("ov.qed")).assertSuccess();
        Map<String, String> qemu = qemu("info", "--output=json", p("ov.qed"));

        Map<String, String> ours = ours("info", "--output=json", p("ov.qed"));

        assertSameKeys(qemu, ours);
        assertThat(qemu).doesNotContainKey("backing-filename-format");
        assertThat(ours).doesNotContainKey("backing-filename-format");
    }

    @Test
    void jsonOfABackingChainListsEveryImageAsQemuImgDoes() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "raw", p("base.raw"), "4M").assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "base.raw", "-F", "raw", p("mid.qed")).assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "mid.qed", "-F", "qed", p("top.qed")).assertSuccess();
        Qemu.io("-c", "write -P 3 64k 64k", p("mid.qed")).assertSuccess();
        List<Map<String, String>> qemu = QemuJson.objects(Qemu.img("info", "--backing-chain", "--output=json",
                p("top.qed")).assertSuccess().stdout());

        Run r = cli("info", "--backing-chain", "--output=json", p("top.qed"));

        assertThat(r.code()).as(r.err()).isZero();
        List<Map<String, String>> ours = QemuJson.objects(r.out());
        assertThat(ours).hasSize(3).hasSameSizeAs(qemu);
        assertSameKeys(qemu.get(0), ours.get(0));
        assertSameKeys(qemu.get(1), ours.get(1));
        // A raw file's allocated blocks are out of Java 17's reach: ours is its length (documented).
        assertSameKeys(qemu.get(2), ours.get(2), "actual-size");
        assertThat(ours.get(2)).containsEntry("actual-size", String.valueOf(4 << 20));
    }

    @Test
    void humanOutputIsQemuImgsTextForAnOverlayAndForAChain() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("base.qed"), "8M").assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "base.qed", "-F", "qed", p("ov.qed")).assertSuccess();
        Qemu.io("-c", "write -P 3 0 64k", p("ov.qed")).assertSuccess();

        assertThat(cli("info", p("ov.qed")).out()).isEqualTo(Qemu.img("info", p("ov.qed")).stdout());
        assertThat(cli("info", "--backing-chain", p("ov.qed")).out())
                .isEqualTo(Qemu.img("info", "--backing-chain", p("ov.qed")).stdout());
    }

    @Test
    void dirtyFlagIsTrueExactlyWhenNeedCheckIsSetOnDiskAndInfoChangesNoByte() throws IOException {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("d.qed"), "1G").assertSuccess();
        assertThat(ours("info", "--output=json", p("d.qed"))).containsEntry("dirty-flag", "false");
        setFeatures(dir.resolve("d.qed"), 0x2);
        byte[] before = Files.readAllBytes(dir.resolve("d.qed"));

        Map<String, String> ours = ours("info", "--output=json", p("d.qed"));

        // qemu-img 7.2 reports false here (its read-only open clears the bit in memory: notes §10).
        assertSameKeys(qemu("info", "--output=json", p("d.qed")), ours, "dirty-flag");
        assertThat(ours).containsEntry("dirty-flag", "true");
        assertThat(cli("info", p("d.qed")).out()).contains("cleanly shut down: no\n");
        assertThat(Files.readAllBytes(dir.resolve("d.qed"))).isEqualTo(before);
    }

    @Test
    void infoOfAnOverlayWhoseBackingFileIsMissingStillWorksAsQemuImgInfo() {
        Qemu.assumeAvailable();
        Qemu.img("create", "-f", "qed", p("base.qed"), "8M").assertSuccess();
        Qemu.img("create", "-f", "qed", "-b", "base.qed", "-F", "qed", p("ov.qed")).assertSuccess();
        dir.resolve("base.qed").toFile().delete();

        assertSameKeys(qemu("info", "--output=json", p("ov.qed")), ours("info", "--output=json", p("ov.qed")));
    }

    static void setFeatures(Path img, long features) throws IOException {
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, features), 16);
        }
    }
}
