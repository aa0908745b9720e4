package io.github.qednio.cli;

import static io.github.qednio.cli.QedCliTest.cli;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.archive.Trees;
import io.github.qednio.testing.Qemu;
import io.github.qednio.testing.SystemTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code qed pack} and {@code qed unpack}: the archives they put on a disk are read by GNU tar, bsdtar, unzip and
 * 7-Zip from {@code qemu-img convert -O raw}'s output, to the same bytes, links and modes, and those the tools write
 * are unpacked to the same tree; the images are clean for {@code qemu-img check}; errors are one line on standard
 * error.
 */
class PackCommandTest {
    @TempDir
    Path dir;

    /**
     * The sample tree (setuid, setgid and sticky modes, links leaving the tree, absolute and dangling) packed by
     * {@code qed pack}, read from {@code qemu-img convert}'s raw output by GNU tar and bsdtar ({@code -xpf}), unzip
     * ({@code -K}, which keeps setuid, setgid and sticky bits) or 7-Zip, and by {@code qed unpack}: the same tree.
     * 7-Zip restores no setuid, setgid or sticky bit and roots absolute links in its output directory, so its
     * listing judges the modes and its {@code -so} output the link targets.
     */
    @ParameterizedTest
    @ValueSource(strings = {"tar", "zip", "7z"})
    void packedArchiveIsReadBackBySystemToolsFromQemusRawConversionAndByUnpack(String format) throws Exception {
        Qemu.assumeAvailable();
        Path tree = Trees.sample(dir);
        Path image = dir.resolve("tree.qed");
        QedCliTest.Run r = cli("pack", "--format", format, tree.toString(), image.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("Packed " + format + " archive of ");
        assertThat(r.err().lines()).containsExactly(
                "qed: warning: symbolic link 'tree/absolute' -> '/nonexistent/qed-nio-test-target' leads outside the"
                        + " packed tree (stored as is)",
                "qed: warning: symbolic link 'tree/out' -> '../beside-the-tree' leads outside the packed tree (stored"
                        + " as is)");
        Qemu.assertCheckClean(image);
        Path raw = Qemu.convertToRaw(image, dir.resolve("tree.raw"));

        if (format.equals("tar")) {
            assertThat(run("tar", "-tf", raw.toString())).contains("tree/Grüße-日本語-😀.txt\n", "tree/empty-dir/\n",
                    "tree/a/b/c/data.bin\n");
            Trees.assertSameTree(tree, extract(dir.resolve("by-tar"), "tar", "-xpf", raw.toString(), "-C"));
            Optional<String> bsdtar = SystemTools.optional("bsdtar");
            if (bsdtar.isPresent()) {
                Trees.assertSameTree(tree, extract(dir.resolve("by-bsdtar"), bsdtar.get(), "-xpf", raw.toString(),
                        "-C"));
            }
        } else if (format.equals("zip")) {
            Optional<String> unzip = SystemTools.crossCheck("unzip");
            if (unzip.isPresent()) {
                assertThat(run(unzip.get(), "-l", raw.toString())).contains("tree/Grüße-日本語-😀.txt");
                Trees.assertSameTree(tree, extract(dir.resolve("by-unzip"), unzip.get(), "-q", "-K", raw.toString(),
                        "-d"));
            }
        } else {
            Optional<String> sevenZip = SystemTools.sevenZip();
            if (sevenZip.isPresent()) {
                assertSevenZipReads(sevenZip.get(), raw, tree);
            }
        }

        Path byUs = dir.resolve("by-us");
        QedCliTest.Run u = cli("unpack", image.toString(), byUs.toString());
        assertThat(u.code()).as(u.err()).isZero();
        assertThat(u.out()).startsWith("Unpacked " + format + " archive from ");
        Trees.assertSameTree(tree, byUs.resolve("tree"));
    }

    /**
     * The other way: the sample tree archived by GNU tar ({@code -cpf}) or 7-Zip (zip and 7z, {@code -snl}: links as
     * links), copied onto an image by {@code qed pack} and extracted by {@code qed unpack}, is the tree again, as
     * {@code tar -xpf} extracts it from the same tar.
     */
    @ParameterizedTest
    @ValueSource(strings = {"tar", "zip", "7z"})
    void archivesWrittenBySystemToolsUnpackToTheSameTree(String format) throws Exception {
        Path tree = Trees.sample(dir);
        Path archive = dir.resolve("by-tool." + format);
        if (format.equals("tar")) {
            run("tar", "-cpf", archive.toString(), "-C", dir.toString(), "tree");
            Trees.assertSameTree(tree, extract(dir.resolve("by-tar"), "tar", "-xpf", archive.toString(), "-C"));
        } else {
            Optional<String> sevenZip = SystemTools.sevenZip();
            Assumptions.assumeTrue(sevenZip.isPresent(), "7-Zip is not installed");
            run(sevenZip.get(), "a", "-bd", "-snl", "-t" + format, archive.toString(), tree.toString());
        }
        Path image = dir.resolve("copied.qed");
        QedCliTest.Run r = cli("pack", archive.toString(), image.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("Copied " + format + " archive of " + Files.size(archive) + " bytes");
        QedCliTest.Run u = cli("unpack", image.toString(), dir.resolve("by-us").toString());
        assertThat(u.code()).as(u.err()).isZero();
        Trees.assertSameTree(tree, dir.resolve("by-us/tree"));
    }

    /** Past 20 links leading outside, the rest are counted, not listed: stderr stays readable for a whole JDK. */
    @Test
    void packListsTheFirst20LinksLeadingOutsideThenCountsTheRest() throws Exception {
        Path tree = Files.createDirectories(dir.resolve("links"));
        for (int i = 0; i < 25; i++) {
            Files.createSymbolicLink(tree.resolve(String.format("l%02d", i)), Path.of("/etc/file" + i));
        }
        Files.writeString(tree.resolve("f"), "f");
        Files.createSymbolicLink(tree.resolve("inside"), Path.of("f"));
        QedCliTest.Run r = cli("pack", tree.toString(), dir.resolve("links.qed").toString());
        assertThat(r.code()).as(r.err()).isZero();
        List<String> lines = r.err().lines().toList();
        assertThat(lines).hasSize(21);
        assertThat(lines.get(0)).isEqualTo("qed: warning: symbolic link 'links/l00' -> '/etc/file0' leads outside the"
                + " packed tree (stored as is)");
        assertThat(lines.get(19)).contains("'links/l19' -> '/etc/file19'");
        assertThat(lines.get(20)).isEqualTo("qed: warning: and 5 more symbolic links lead outside the packed tree"
                + " (25 in all)");
    }

    @Test
    void autoSizedZipEndsAtTheDisksEndAndAFixedSizeAndGeometryAreApplied() throws Exception {
        Qemu.assumeAvailable();
        Path tree = Trees.sample(dir);
        Path image = dir.resolve("geo.qed");
        QedCliTest.Run r = cli("pack", "--size", "64M", "-o", "cluster_size=4K,table_size=8", tree.toString(),
                image.toString());
        assertThat(r.code()).as(r.err()).isZero();
        String info = Qemu.img("info", "--output=json", image.toString()).assertSuccess().stdout();
        assertThat(info).contains("\"virtual-size\": 67108864").contains("\"cluster-size\": 4096");
        Path raw = Qemu.convertToRaw(image, dir.resolve("geo.raw"));
        assertThat(run("tar", "-tf", raw.toString())).contains("tree/hello.txt\n");

        Path zip = dir.resolve("auto.qed");
        assertThat(cli("pack", "--format", "zip", tree.toString(), zip.toString()).code()).isZero();
        long virtual = Long.parseLong(Qemu.img("info", "--output=json", zip.toString()).assertSuccess().stdout()
                .replaceAll("(?s).*\"virtual-size\": (\\d+).*", "$1"));
        assertThat(virtual % 512).isZero();
        byte[] disk = Files.readAllBytes(Qemu.convertToRaw(zip, dir.resolve("auto.raw")));
        int eocd = lastIndexOf(disk, new byte[] {'P', 'K', 5, 6});
        assertThat(disk.length - (eocd + 22)).as("bytes after the zip's end record").isBetween(0, 511);
    }

    /**
     * A file over 4 GiB, sparse on the host, packed with zero detection: the image file stays a few MiB, {@code tar}
     * lists the right size from the raw conversion, and unpack gives back the same bytes (sparse again).
     */
    @Test
    void fileOver4GibRoundTripsAndTheImageStaysSmall() throws Exception {
        Qemu.assumeAvailable();
        long size = (4L << 30) + 12345;
        Path tree = Files.createDirectories(dir.resolve("big"));
        Path big = tree.resolve("over4g.img");
        try (FileChannel ch = FileChannel.open(big, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("head".getBytes(StandardCharsets.US_ASCII)), 0);
            ch.write(ByteBuffer.wrap("past 4 GiB".getBytes(StandardCharsets.US_ASCII)), (4L << 30) + 100);
            ch.write(ByteBuffer.wrap("tail".getBytes(StandardCharsets.US_ASCII)), size - 4);
        }
        Path image = dir.resolve("big.qed");
        QedCliTest.Run r = cli("pack", tree.toString(), image.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.size(image)).as("image file").isLessThan(8L << 20);
        Qemu.assertCheckClean(image);
        Path raw = Qemu.convertToRaw(image, dir.resolve("big.raw"));
        assertThat(run("tar", "-tvf", raw.toString())).contains(" " + size + " ").contains("big/over4g.img");

        Path out = dir.resolve("out");
        assertThat(cli("unpack", image.toString(), out.toString()).code()).isZero();
        Path back = out.resolve("big/over4g.img");
        assertThat(Files.size(back)).isEqualTo(size);
        assertThat(firstDifference(big, back)).as("first differing byte").isEqualTo(-1L);
    }

    @Test
    void unpackRefusesTraversalWithOneLineAndLeavesTheOutsideAlone() throws Exception {
        Path tar = dir.resolve("evil.tar");
        Files.writeString(dir.resolve("victim.txt"), "untouched");
        // ../victim.txt, as a hand-made tar (commons-compress would not write it).
        try (var out = Files.newOutputStream(tar);
             var t = new org.apache.commons.compress.archivers.tar.TarArchiveOutputStream(out)) {
            var e = new org.apache.commons.compress.archivers.tar.TarArchiveEntry("../victim.txt", true);
            e.setSize(5);
            t.putArchiveEntry(e);
            t.write("pwned".getBytes(StandardCharsets.US_ASCII));
            t.closeArchiveEntry();
        }
        Path image = dir.resolve("evil.qed");
        assertThat(cli("pack", tar.toString(), image.toString()).code()).isZero();
        QedCliTest.Run r = cli("unpack", image.toString(), dir.resolve("target").toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().lines()).hasSize(1);
        assertThat(r.err()).startsWith("qed: ").contains("entry '../victim.txt' has a '..' component; refused");
        assertThat(dir.resolve("victim.txt")).hasContent("untouched");
        assertThat(dir.resolve("target")).as("not even created").doesNotExist();
    }

    @Test
    void usageErrorsAreOneLineAndHelpExitsZero() throws IOException {
        Path file = Files.writeString(dir.resolve("f.txt"), "x");
        QedCliTest.Run bad = cli("pack", "--format", "rar", file.toString(), dir.resolve("x.qed").toString());
        assertThat(bad.code()).isNotZero();
        assertThat(bad.err().lines()).hasSize(1);
        assertThat(bad.err()).contains("unknown archive format 'rar'");
        assertThat(dir.resolve("x.qed")).doesNotExist();

        QedCliTest.Run missing = cli("unpack", dir.resolve("none.qed").toString(), dir.resolve("o").toString());
        assertThat(missing.code()).isNotZero();
        assertThat(missing.err().lines()).hasSize(1);

        QedCliTest.Run damaged = cli("unpack", file.toString(), dir.resolve("o").toString());
        assertThat(damaged.code()).isNotZero();
        assertThat(damaged.err().lines()).hasSize(1);

        assertThat(cli("pack", "--help").code()).isZero();
        assertThat(cli("unpack", "--help").code()).isZero();
    }

    /** As {@link Files#mismatch} for same-size files, with large reads (its 8 KiB ones are slow over 4 GiB). */
    private static long firstDifference(Path a, Path b) throws IOException {
        try (FileChannel x = FileChannel.open(a); FileChannel y = FileChannel.open(b)) {
            ByteBuffer bx = ByteBuffer.allocateDirect(8 << 20);
            ByteBuffer by = ByteBuffer.allocateDirect(8 << 20);
            for (long pos = 0; pos < x.size(); pos += bx.limit()) {
                x.read(bx.clear(), pos);
                y.read(by.clear(), pos);
                int m = bx.flip().mismatch(by.flip());
                if (m >= 0) {
                    return pos + m;
                }
            }
            return -1;
        }
    }

    /** Runs {@code tool args... into} with {@code into} created first; returns {@code into/tree}. */
    private static Path extract(Path into, String... toolAndArgs) throws Exception {
        Files.createDirectory(into);
        List<String> cmd = new ArrayList<>(List.of(toolAndArgs));
        cmd.add(into.toString());
        run(cmd.toArray(String[]::new));
        return into.resolve("tree");
    }

    /**
     * 7-Zip's listing shows each entry's type and mode as {@code ls -l} does, setuid, setgid and sticky bits
     * included; {@code x -so} prints a link's target; {@code x -snld} ("dangerous" links too) extracts the files.
     */
    private static void assertSevenZipReads(String sevenZip, Path raw, Path tree) throws Exception {
        Map<String, String> listed = new TreeMap<>();
        String path = null;
        for (String line : run(sevenZip, "l", "-slt", raw.toString()).lines().toList()) {
            if (line.startsWith("Path = ")) {
                path = line.substring(7);
            } else if (line.startsWith("Attributes = ") && path != null) {
                listed.put(path, line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        Map<String, String> expected = new TreeMap<>();
        Path extracted = Files.createDirectory(raw.resolveSibling("by-7z"));
        run(sevenZip, "x", "-bd", "-snld", "-o" + extracted, raw.toString());
        try (Stream<Path> s = Files.walk(tree)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String name = tree.getParent().relativize(p).toString();
                expected.put(name, lsMode(p));
                if (Files.isSymbolicLink(p)) {
                    assertThat(run(sevenZip, "x", "-so", raw.toString(), name)).as("target of %s", name)
                            .isEqualTo(Files.readSymbolicLink(p).toString());
                } else if (Files.isRegularFile(p)) {
                    assertThat(Files.mismatch(p, extracted.resolve(name))).as("first differing byte of %s", name)
                            .isEqualTo(-1L);
                }
            }
        }
        assertThat(listed).isEqualTo(expected);
    }

    /** The mode as {@code ls -l} shows it ({@code -rwsr-xr-x}, {@code drwxrwxrwt}, {@code lrwxrwxrwx}). */
    private static String lsMode(Path p) throws IOException {
        int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        char[] s = (Files.isSymbolicLink(p) ? "l" : Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? "d" : "-")
                .concat("rwxrwxrwx").toCharArray();
        for (int bit = 0; bit < 9; bit++) {
            if ((mode & (0400 >> bit)) == 0) {
                s[1 + bit] = '-';
            }
        }
        int[][] special = {{04000, 3, 's'}, {02000, 6, 's'}, {01000, 9, 't'}};
        for (int[] x : special) {
            if ((mode & x[0]) != 0) {
                s[x[1]] = s[x[1]] == '-' ? Character.toUpperCase((char) x[2]) : (char) x[2];
            }
        }
        return new String(s);
    }

    private static int lastIndexOf(byte[] hay, byte[] needle) {
        for (int i = hay.length - needle.length; i >= 0; i--) {
            if (java.util.Arrays.equals(hay, i, i + needle.length, needle, 0, needle.length)) {
                return i;
            }
        }
        return -1;
    }

    /** Runs a system tool with a UTF-8 locale (so that unzip writes Unicode names as they are); returns stdout. */
    static String run(String... cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(List.of(cmd))).redirectErrorStream(true);
        pb.environment().put("LC_ALL", "C.UTF-8");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("%s: %s", List.of(cmd), out).isZero();
        return out;
    }
}
