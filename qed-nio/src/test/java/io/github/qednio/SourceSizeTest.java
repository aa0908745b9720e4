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
 * {@value #MAX_PACKAGE_LINES}, so that a concern that grows gets a class or a package of its own.
 */
class SourceSizeTest {
    private static final int MAX_FILE_LINES = 500;
    private static final int MAX_PACKAGE_LINES = 3000;
    private static final Path[] ROOTS = {Path.of("src/main/java"), Path.of("src/main/java22")};

    @Test
    void noSourceFileIsLongerThanTheLimit() throws IOException {
        Map<String, Long> tooLong = new TreeMap<>();
        forEachSource((file, lines) -> {
            if (lines > MAX_FILE_LINES) {
                tooLong.put(file.toString(), lines);
            }
        });
        assertThat(tooLong).as("files over %d lines", MAX_FILE_LINES).isEmpty();
    }

    @Test
    void noPackageIsLargerThanTheLimit() throws IOException {
        Map<String, Long> perPackage = new TreeMap<>();
        forEachSource((file, lines) -> perPackage.merge(file.getParent().toString().replace('/', '.'), lines,
                Long::sum));
        perPackage.values().removeIf(n -> n <= MAX_PACKAGE_LINES);
        assertThat(perPackage).as("packages over %d lines", MAX_PACKAGE_LINES).isEmpty();
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
