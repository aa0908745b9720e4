package io.github.qednio;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import io.github.qednio.image.QedImage;
import io.github.qednio.format.Geometry;
import io.github.qednio.nio.QedFileSystemProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The library's layering, checked on its compiled classes (tests excluded): {@code format} (on-disk structures)
 * &larr; {@code engine} (images) &larr; {@code nio} (the file system) &larr; {@code fixture}, {@code archive}
 * &larr; the tools of qed-nio-examples. Whole-image operations ({@code ops}) and in-place conversion
 * ({@code convert}) sit on the engine; the file system uses neither. qcow2 lives at the bottom with QED: its header
 * in {@code format}, its reader in {@code engine} (which reads qcow2 backing files), so there is no qcow2 layer.
 * A lower layer never reaches up, so each can be understood, tested and reused without the ones above it.
 */
class LayeringTest {
    private static final String FORMAT = "io.github.qednio.format..";
    private static final String ENGINE = "io.github.qednio.engine..";
    private static final String NIO = "io.github.qednio.nio..";
    private static final String FIXTURE = "io.github.qednio.fixture..";
    private static final String ARCHIVE = "io.github.qednio.archive..";
    private static final String OPS = "io.github.qednio.ops..";
    private static final String CONVERT = "io.github.qednio.convert..";

    private static JavaClasses library;

    @BeforeAll
    static void importLibrary() {
        library = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.github.qednio");
        // Guard against a vacuous pass: the import must have found the library's classes.
        assertThat(library.contain(Geometry.class) && library.contain(QedImage.class)
                && library.contain(QedFileSystemProvider.class)).isTrue();
    }

    @Test
    void formatDependsOnlyOnItselfAndTheJdk() {
        classes().that().resideInAPackage(FORMAT)
                .should().onlyDependOnClassesThat().resideInAnyPackage(FORMAT, "java..")
                .check(library);
    }

    @Test
    void engineDoesNotDependOnTheFileSystem() {
        noClasses().that().resideInAPackage(ENGINE)
                .should().dependOnClassesThat().resideInAPackage(NIO)
                .check(library);
    }

    @Test
    void layersAreOnlyAccessedFromAbove() {
        layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("format").definedBy(FORMAT)
                .layer("engine").definedBy(ENGINE)
                .layer("nio").definedBy(NIO)
                .layer("ops").definedBy(OPS)
                .layer("fixture").definedBy(FIXTURE)
                .layer("archive").definedBy(ARCHIVE)
                .layer("convert").definedBy(CONVERT)
                .whereLayer("ops").mayNotBeAccessedByAnyLayer()
                .whereLayer("fixture").mayNotBeAccessedByAnyLayer()
                .whereLayer("archive").mayNotBeAccessedByAnyLayer()
                .whereLayer("convert").mayNotBeAccessedByAnyLayer()
                .whereLayer("nio").mayOnlyBeAccessedByLayers("fixture", "archive")
                .whereLayer("engine").mayOnlyBeAccessedByLayers("nio", "ops", "fixture", "archive", "convert")
                .whereLayer("format").mayOnlyBeAccessedByLayers("engine", "nio", "ops", "fixture", "convert")
                .check(library);
    }

    @Test
    void thereIsNoQcow2PackageAboveTheEngine() {
        // The engine reads qcow2 backing files, so qcow2 code must sit in format/engine, never in a layer above.
        noClasses().should().resideInAPackage("io.github.qednio.qcow2..").check(library);
        assertThat(library.contain("io.github.qednio.internal.qcow2.Qcow2Image")
                && library.contain("io.github.qednio.format.Qcow2Header")).isTrue();
    }

    @Test
    void libraryDoesNotDependOnTheExamplesModule() {
        noClasses().that().resideInAPackage("io.github.qednio..")
                .should().dependOnClassesThat()
                .resideInAnyPackage("io.github.qednio.cli..", "io.github.qednio.examples..", "io.github.qednio.bench..")
                .check(library);
    }
}
