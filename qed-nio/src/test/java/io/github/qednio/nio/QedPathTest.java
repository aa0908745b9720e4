package io.github.qednio.nio;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.nio.file.FileSystem;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.ProviderMismatchException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Path syntax and operations in a qed: file system (Unix rules). */
class QedPathTest {
    @TempDir
    Path dir;

    private FileSystem fs() {
        return Path.of(URI.create("qed:" + dir.resolve("p.qed").toUri())).getFileSystem();
    }

    @Test
    void parsingCollapsesSlashesAndKnowsAbsoluteFromRelative() {
        FileSystem fs = fs();
        assertThat(fs.getPath("//a///b/").toString()).isEqualTo("/a/b");
        assertThat(fs.getPath("a", "b", "", "c").toString()).isEqualTo("a/b/c");
        assertThat(fs.getPath("/").getNameCount()).isZero();
        assertThat(fs.getPath("").getNameCount()).isEqualTo(1);
        assertThat(fs.getPath("/a").isAbsolute()).isTrue();
        assertThat(fs.getPath("a").isAbsolute()).isFalse();
        assertThat(fs.getPath("/a/b").getRoot()).isEqualTo(fs.getPath("/"));
        assertThat(fs.getPath("a/b").getRoot()).isNull();
        assertThatThrownBy(() -> fs.getPath("a\0b")).isInstanceOf(InvalidPathException.class);
    }

    @Test
    void namesParentsAndSubpaths() {
        FileSystem fs = fs();
        Path p = fs.getPath("/a/b/c");
        assertThat(p.getFileName()).isEqualTo(fs.getPath("c"));
        assertThat(p.getParent()).isEqualTo(fs.getPath("/a/b"));
        assertThat(fs.getPath("/a").getParent()).isEqualTo(fs.getPath("/"));
        assertThat(fs.getPath("/").getParent()).isNull();
        assertThat(fs.getPath("/").getFileName()).isNull();
        assertThat(fs.getPath("a").getParent()).isNull();
        assertThat(p.getName(1)).isEqualTo(fs.getPath("b"));
        assertThat(p.subpath(1, 3)).isEqualTo(fs.getPath("b/c"));
        assertThatThrownBy(() -> p.getName(3)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> p.subpath(2, 2)).isInstanceOf(IllegalArgumentException.class);
        assertThat((Iterable<Path>) p).containsExactly(fs.getPath("a"), fs.getPath("b"), fs.getPath("c"));
    }

    @Test
    void normalizeResolveAndRelativizeFollowUnixRules() {
        FileSystem fs = fs();
        assertThat(fs.getPath("/a/./b/../c").normalize()).isEqualTo(fs.getPath("/a/c"));
        assertThat(fs.getPath("/../a").normalize()).isEqualTo(fs.getPath("/a"));
        assertThat(fs.getPath("../a/../../b").normalize()).isEqualTo(fs.getPath("../../b"));
        assertThat(fs.getPath("a/..").normalize()).isEqualTo(fs.getPath(""));
        assertThat(fs.getPath("/a").resolve("b/c")).isEqualTo(fs.getPath("/a/b/c"));
        assertThat(fs.getPath("/a").resolve("/x")).isEqualTo(fs.getPath("/x"));
        assertThat(fs.getPath("/a").resolve("")).isEqualTo(fs.getPath("/a"));
        assertThat(fs.getPath("").resolve("b")).isEqualTo(fs.getPath("b"));
        assertThat(fs.getPath("/a/b").resolveSibling("c")).isEqualTo(fs.getPath("/a/c"));
        assertThat(fs.getPath("/a/b").relativize(fs.getPath("/a/c/d"))).isEqualTo(fs.getPath("../c/d"));
        assertThat(fs.getPath("/a").relativize(fs.getPath("/a"))).isEqualTo(fs.getPath(""));
        assertThat(fs.getPath("a").relativize(fs.getPath("a/b"))).isEqualTo(fs.getPath("b"));
        Path x = fs.getPath("/a/b");
        Path y = fs.getPath("/a/c/d");
        assertThat(x.resolve(x.relativize(y)).normalize()).isEqualTo(y);
        assertThatThrownBy(() -> fs.getPath("/a").relativize(fs.getPath("b")))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> fs.getPath("/a").resolve(dir)).isInstanceOf(ProviderMismatchException.class);
    }

    @Test
    void startsWithEndsWithAndOrdering() {
        FileSystem fs = fs();
        Path p = fs.getPath("/a/b/c");
        assertThat(p.startsWith(fs.getPath("/a/b"))).isTrue();
        assertThat(p.startsWith(fs.getPath("a/b"))).isFalse();
        assertThat(p.startsWith("/a/bc")).isFalse();
        assertThat(p.endsWith(fs.getPath("b/c"))).isTrue();
        assertThat(p.endsWith(fs.getPath("/b/c"))).isFalse();
        assertThat(p.endsWith(fs.getPath("/a/b/c"))).isTrue();
        assertThat(p.startsWith(dir)).isFalse();
        assertThat(fs.getPath("/a").compareTo(fs.getPath("/b"))).isNegative();
        assertThat(fs.getPath("/x").toAbsolutePath()).isEqualTo(fs.getPath("/x"));
        assertThat(fs.getPath("disk").toAbsolutePath()).isEqualTo(fs.getPath("/disk"));
    }

    @Test
    void pathsOfTheSameImageAreEqualAcrossImplicitFileSystems() {
        URI uri = URI.create("qed:" + dir.resolve("p.qed").toUri());
        Path a = Path.of(uri);
        Path b = Path.of(uri);
        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
        assertThat(a).isNotEqualTo(Path.of(URI.create("qed:" + dir.resolve("q.qed").toUri())));
        assertThat(a.toString()).isEqualTo("/disk");
    }

    @Test
    void matchersSupportGlobAndRegex() {
        FileSystem fs = fs();
        assertThat(fs.getPathMatcher("glob:/d*").matches(fs.getPath("/disk"))).isTrue();
        assertThat(fs.getPathMatcher("glob:*.qed").matches(fs.getPath("/disk"))).isFalse();
        assertThat(fs.getPathMatcher("regex:/di.k").matches(fs.getPath("/disk"))).isTrue();
        assertThatThrownBy(() -> fs.getPathMatcher("nope:x")).isInstanceOf(UnsupportedOperationException.class);
    }
}
