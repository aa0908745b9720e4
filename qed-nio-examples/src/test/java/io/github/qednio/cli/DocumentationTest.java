package io.github.qednio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.qednio.testing.TestImages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The documents a user reads stand on their own: no issue numbers, and every script by a path that exists. */
class DocumentationTest {
    private static final Pattern ISSUE = Pattern.compile("(?i)\\bissues? #?\\d");
    private static final Pattern SCRIPT = Pattern.compile("[\\w./-]*\\.sh\\b");

    private static List<Path> documents() throws IOException {
        Path root = TestImages.directory().getParent();
        List<Path> docs = new ArrayList<>(List.of(root.resolve("README.md"), root.resolve("CHANGELOG.md")));
        try (Stream<Path> s = Files.list(root.resolve("docs"))) {
            s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(docs::add);
        }
        return docs;
    }

    @Test
    void noDocumentCitesAnIssueNumber() throws IOException {
        for (Path doc : documents()) {
            List<String> lines = Files.readAllLines(doc);
            for (int i = 0; i < lines.size(); i++) {
                assertThat(lines.get(i)).as("%s:%d", doc.getFileName(), i + 1).doesNotContainPattern(ISSUE);
            }
        }
    }

    @Test
    void everyScriptADocumentMentionsExistsAtThePathItGives() throws IOException {
        Path root = TestImages.directory().getParent();
        int scripts = 0;
        for (Path doc : documents()) {
            Matcher m = SCRIPT.matcher(Files.readString(doc));
            while (m.find()) {
                scripts++;
                assertThat(root.resolve(m.group())).as("%s mentions %s", doc.getFileName(), m.group())
                        .isRegularFile();
            }
        }
        assertThat(scripts).as("scripts mentioned").isPositive();
    }
}
