package io.github.qednio;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Keeps the library readable in pieces: no source file over {@value #MAX_FILE_LINES} lines and no package over
 * {@value #MAX_PACKAGE_LINES}, so that a concern that grows gets a class or a package of its own. The files and
 * packages still over the limits are listed with their size today: they may shrink, never grow, and one that gets
 * under the limit must leave the list.
 */
class SourceSizeTest {
    private static final int MAX_FILE_LINES = 500;
    private static final int MAX_PACKAGE_LINES = 3000;
    /** Still too long; to be split by concern. */
    private static final Map<String, Long> KNOWN_LONG_FILES = Map.of(
            "io/github/qednio/internal/qcow2/Qcow2Check.java", 624L,
            "io/github/qednio/internal/qed/L2Cache.java", 601L,
            "io/github/qednio/image/QedImage.java", 563L,
            "io/github/qednio/internal/qed/Compaction.java", 544L,
            "io/github/qednio/internal/qed/QedEngine.java", 543L);
    /** Still too large; to be split. */
    private static final Map<String, Long> KNOWN_LARGE_PACKAGES = Map.of(
            "io.github.qednio.internal.qed", 4224L,
            "io.github.qednio.internal.storage", 3434L,
            "io.github.qednio.nio", 3131L);
    private static final Path[] ROOTS = {Path.of("src/main/java"), Path.of("src/main/java22")};

    @Test
    void noSourceFileIsLongerThanTheLimit() throws IOException {
        Map<String, Long> sizes = new TreeMap<>();
        forEachSource((file, lines) -> sizes.merge(file.toString(), lines, Math::max));
        assertWithinLimits(sizes, MAX_FILE_LINES, KNOWN_LONG_FILES, "files");
    }

    @Test
    void noPackageIsLargerThanTheLimit() throws IOException {
        Map<String, Long> perPackage = new TreeMap<>();
        forEachSource((file, lines) -> perPackage.merge(file.getParent() == null ? "" // module-info
                : file.getParent().toString().replace('/', '.'), lines, Long::sum));
        assertWithinLimits(perPackage, MAX_PACKAGE_LINES, KNOWN_LARGE_PACKAGES, "packages");
    }

    private static void assertWithinLimits(Map<String, Long> sizes, long limit, Map<String, Long> known, String what) {
        Map<String, Long> over = new TreeMap<>();
        sizes.forEach((name, n) -> {
            if (n > known.getOrDefault(name, limit)) {
                over.put(name, n);
            }
        });
        assertThat(over).as("%s over %d lines (or grown past their listed size)", what, limit).isEmpty();
        Map<String, Long> shrunk = new TreeMap<>();
        known.forEach((name, n) -> {
            if (sizes.getOrDefault(name, 0L) <= limit) {
                shrunk.put(name, sizes.getOrDefault(name, 0L));
            }
        });
        assertThat(shrunk).as("listed %s now within %d lines: take them off the list", what, limit).isEmpty();
    }

    private interface Visitor {
        void visit(Path relative, long lines);
    }

    private static void forEachSource(Visitor v) throws IOException {
        for (Path root : ROOTS) {
            if (!Files.isDirectory(root)) {
                continue;
            }
            try (Stream<Path> files = Files.walk(root)) {
                for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
                    try (Stream<String> lines = Files.lines(f)) {
                        v.visit(root.relativize(f), lines.count());
                    }
                }
            }
        }
    }
}
