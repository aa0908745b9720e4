package io.github.qednio.cli;

import static io.github.qednio.cli.QedCliTest.cli;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.cli.QedCliTest.Run;
import io.github.qednio.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qed check} of qcow2 images prints what {@code qemu-img check} prints for the same file, and writes nothing
 * (leaked and corrupted images are compared field by field in the library's {@code Qcow2CheckTest}).
 */
class Qcow2CheckCommandTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    private static Path qcow2(String name, String... options) {
        Path p = dir.resolve(name);
        List<String> args = new java.util.ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
        args.addAll(List.of(options));
        args.addAll(List.of(p.toString(), "64M"));
        assertThat(Qemu.img(args.toArray(String[]::new)).exitCode()).isZero();
        assertThat(Qemu.ioCommands(p, "qcow2", "write -P 0x5a 0 1M", "write -z 4M 64k", "write -P 7 9M 4k")
                .exitCode()).isZero();
        return p;
    }

    private static void assertSameAsQemu(Path image) throws IOException {
        byte[] before = Files.readAllBytes(image);
        for (String output : List.of("human", "json")) {
            Qemu.Result theirs = Qemu.img("check", "--output=" + output, image.toString());
            Run ours = cli("check", "--output=" + output, image.toString());
            assertThat(ours.out()).as("%s %s", image, output).isEqualTo(theirs.stdout());
            assertThat(ours.code()).as("exit code of %s", image).isEqualTo(theirs.exitCode());
        }
        assertThat(Files.readAllBytes(image)).as("check writes nothing").isEqualTo(before);
    }

    @Test
    void cleanImagesOfBothVersionsAndSeveralClusterSizesReportAsQemuImgDoes() throws IOException {
        assertSameAsQemu(qcow2("v3.qcow2"));
        assertSameAsQemu(qcow2("v2-4k.qcow2", "-o", "compat=0.10,cluster_size=4096"));
        assertSameAsQemu(qcow2("v3-2m.qcow2", "-o", "cluster_size=2M"));
    }

    @Test
    void compressedClustersAreCountedAsQemuImgCountsThem() throws IOException {
        Path src = qcow2("src.qcow2");
        Path compressed = dir.resolve("compressed.qcow2");
        assertThat(Qemu.img("convert", "-c", "-O", "qcow2", src.toString(), compressed.toString()).exitCode())
                .isZero();
        assertSameAsQemu(compressed);
    }

    @Test
    void repairIsRefusedWithoutTouchingTheFile() throws IOException {
        Path image = qcow2("norepair.qcow2");
        byte[] before = Files.readAllBytes(image);
        Run r = cli("check", "-r", "leaks", image.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip()).doesNotContain("\n").contains("qemu-img check -r leaks");
        assertThat(Files.readAllBytes(image)).isEqualTo(before);
    }
}
