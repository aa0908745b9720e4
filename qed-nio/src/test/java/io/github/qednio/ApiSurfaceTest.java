package io.github.qednio;

import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaModifier;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The library's public API is what docs/API.md lists: the public top-level types of the packages module-info
 * exports. A public type added to an exported package fails here until it is listed (and so thought about); the
 * rest of the library lives in the non-exported {@code io.github.qednio.internal} packages.
 */
class ApiSurfaceTest {
    private static final Path MODULE_INFO = Path.of("src/main/java/module-info.java");
    private static final Path API_LIST = Path.of("../docs/API.md");

    @Test
    void exportedPackagesHoldExactlyTheListedPublicTypes() throws IOException {
        Set<String> exported = exportedPackages();
        Set<String> actual = new TreeSet<>();
        for (JavaClass c : new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.github.qednio")) {
            if (exported.contains(c.getPackageName()) && c.isTopLevelClass()
                    && c.getModifiers().contains(JavaModifier.PUBLIC)) {
                actual.add(c.getName());
            }
        }
        assertThat(actual).as("public top-level types of the exported packages %s", exported)
                .containsExactlyInAnyOrderElementsOf(listedTypes());
    }

    @Test
    void noInternalPackageIsExported() throws IOException {
        assertThat(exportedPackages()).isNotEmpty().noneMatch(p -> p.contains(".internal"));
    }

    private static Set<String> exportedPackages() throws IOException {
        Set<String> out = new TreeSet<>();
        Matcher m = Pattern.compile("(?m)^\\s*exports\\s+([\\w.]+)\\s*;").matcher(Files.readString(MODULE_INFO));
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /** The types docs/API.md lists, one per bullet: "- `io.github.qednio.pkg.Type` ...". */
    private static Set<String> listedTypes() throws IOException {
        Set<String> out = new TreeSet<>();
        Matcher m = Pattern.compile("(?m)^- `(io\\.github\\.qednio\\.[\\w.]+)`").matcher(Files.readString(API_LIST));
        while (m.find()) {
            out.add(m.group(1));
        }
        assertThat(out).as("types listed in %s", API_LIST).isNotEmpty();
        return out;
    }
}
