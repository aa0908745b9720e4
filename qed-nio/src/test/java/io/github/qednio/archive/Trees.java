package io.github.qednio.archive;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Source trees for archive tests, and a comparison of two trees that reads links as links. */
public final class Trees {
    private Trees() {
    }

    /**
     * A tree with the special cases packing must keep: Unicode names, an empty directory, an empty file, an executable,
     * a relative symlink to a file and one to a directory, a dangling link inside the tree, nested directories; a
     * link leaving the tree ({@code out}) and an absolute one ({@code absolute}); setuid and setgid files, a sticky
     * directory and a setgid one with a private mode ({@code special/}).
     */
    public static Path sample(Path parent) throws IOException {
        Path root = Files.createDirectories(parent.resolve("tree"));
        Files.writeString(root.resolve("hello.txt"), "hello, world\n");
        Files.write(root.resolve("empty-file"), new byte[0]);
        Files.createDirectories(root.resolve("empty-dir"));
        Path deep = Files.createDirectories(root.resolve("a/b/c"));
        byte[] bin = new byte[300_000];
        for (int i = 0; i < bin.length; i++) {
            bin[i] = (byte) (i * 31 + i / 7);
        }
        Files.write(deep.resolve("data.bin"), bin);
        Files.writeString(root.resolve("Grüße-日本語-😀.txt"), "unicode name\n");
        Path tool = root.resolve("run.sh");
        Files.writeString(tool, "#!/bin/sh\necho hi\n");
        Files.setPosixFilePermissions(tool, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-x---"));
        Files.createSymbolicLink(root.resolve("link-to-hello"), Path.of("hello.txt"));
        Files.createSymbolicLink(root.resolve("a/link-to-c"), Path.of("b/c"));
        Files.createSymbolicLink(root.resolve("a/b/up"), Path.of("../../hello.txt"));
        Files.createSymbolicLink(root.resolve("dangling"), Path.of("not-there"));
        Files.createSymbolicLink(root.resolve("out"), Path.of("../beside-the-tree"));
        Files.createSymbolicLink(root.resolve("absolute"), Path.of("/nonexistent/qed-nio-test-target"));
        Path special = Files.createDirectories(root.resolve("special"));
        mode(Files.writeString(special.resolve("setuid"), "u\n"), 04755);
        mode(Files.writeString(special.resolve("setgid"), "g\n"), 02711);
        mode(Files.createDirectories(special.resolve("sticky")), 01777);
        Files.writeString(special.resolve("sticky/inside"), "s\n");
        mode(Files.createDirectories(special.resolve("setgid-dir")), 02750);
        return root;
    }

    /** Sets all twelve mode bits, as chmod does. */
    public static Path mode(Path p, int mode) throws IOException {
        Files.setAttribute(p, "unix:mode", mode);
        return p;
    }

    /**
     * Asserts that {@code actual} has the same entries as {@code expected}: types, link targets, bytes, modes of files
     * and directories (setuid, setgid and sticky bits included).
     */
    public static void assertSameTree(Path expected, Path actual) throws IOException {
        Map<String, String> want = describe(expected);
        Map<String, String> got = describe(actual);
        assertThat(got).as("tree %s compared with %s", actual, expected).isEqualTo(want);
        for (Map.Entry<String, String> e : want.entrySet()) {
            if (e.getValue().startsWith("file")) {
                assertThat(Files.mismatch(expected.resolve(e.getKey()), actual.resolve(e.getKey())))
                        .as("first differing byte of %s", e.getKey()).isEqualTo(-1L);
            }
        }
    }

    private static String mode(Path p) throws IOException {
        return Integer.toOctalString((Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777);
    }

    private static Map<String, String> describe(Path root) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String rel = root.relativize(p).toString();
                if (Files.isSymbolicLink(p)) {
                    m.put(rel, "link " + Files.readSymbolicLink(p));
                } else if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    m.put(rel, "dir " + mode(p));
                } else {
                    m.put(rel, "file " + Files.size(p) + " " + mode(p));
                }
            }
        }
        return m;
    }
}
