package io.github.qednio;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.fields;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static com.tngtech.archunit.library.freeze.FreezingArchRule.freeze;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import io.github.qednio.format.Geometry;
import io.github.qednio.nio.QedFileSystemProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The library's layering, checked on its compiled classes (tests excluded). From the bottom: {@code format} (on-disk
 * structures and their exceptions) &larr; {@code image} (what a user of an image passes and gets back: options,
 * results, the format enum, exceptions) &larr; the non-exported {@code internal.*} packages (storage and locks, the
 * QED core, qcow2, backing chains, the converter's planning, the qemu-io interpreter) &larr; the public entry points
 * ({@code QedImage} and the {@code qed:} file system in {@code nio}) &larr; whole-image operations ({@code ops}),
 * fixtures and archives. A lower layer never reaches up, and no two packages need each other, so each can be read,
 * tested and replaced without the ones above it.
 *
 * <p>Four rules are frozen ({@code FreezingArchRule}): the violations the package split left (the engine still
 * behind the public {@code QedImage}, options that carry internal types, static hooks) are recorded in
 * {@code src/test/resources/archunit-frozen}; a new violation fails, and a fixed one leaves the record.
 */
class LayeringTest {
    private static final String FORMAT = "io.github.qednio.format..";
    private static final String IMAGE = "io.github.qednio.image..";
    private static final String INTERNAL = "io.github.qednio.internal..";
    private static final String NIO = "io.github.qednio.nio..";
    private static final String OPS = "io.github.qednio.ops..";
    private static final String FIXTURE = "io.github.qednio.fixture..";
    private static final String ARCHIVE = "io.github.qednio.archive..";

    private static JavaClasses library;

    @BeforeAll
    static void importLibrary() {
        library = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.github.qednio");
        // Guard against a vacuous pass: the import must have found the library's classes.
        assertThat(library.contain(Geometry.class) && library.contain(QedFileSystemProvider.class)
                && library.contain("io.github.qednio.internal.qed.L2Cache")).isTrue();
    }

    @Test
    void formatDependsOnlyOnItselfAndTheJdk() {
        classes().that().resideInAPackage(FORMAT)
                .should().onlyDependOnClassesThat().resideInAnyPackage(FORMAT, "java..")
                .check(library);
    }

    @Test
    void theApiValuesDependOnNothingInternal() {
        freeze(classes().that().resideInAPackage(IMAGE)
                .should().onlyDependOnClassesThat().resideInAnyPackage(IMAGE, FORMAT, "java..", "org.slf4j..")).check(library);
    }

    @Test
    void internalsNeverReachUpToTheEntryPoints() {
        freeze(noClasses().that().resideInAPackage(INTERNAL)
                .should().dependOnClassesThat().resideInAnyPackage("io.github.qednio", NIO, OPS, FIXTURE, ARCHIVE)).check(library);
    }

    @Test
    void theFileSystemUsesNoWholeImageOperationsFixturesOrArchives() {
        noClasses().that().resideInAPackage(NIO)
                .should().dependOnClassesThat().resideInAnyPackage(OPS, FIXTURE, ARCHIVE)
                .check(library);
    }

    @Test
    void onlyFixturesAndArchivesSitAboveWholeImageOperations() {
        noClasses().that().resideInAnyPackage(OPS)
                .should().dependOnClassesThat().resideInAnyPackage(FIXTURE, ARCHIVE)
                .check(library);
        noClasses().that().resideInAnyPackage(FIXTURE)
                .should().dependOnClassesThat().resideInAnyPackage(ARCHIVE)
                .check(library);
    }

    @Test
    void noTwoPackagesNeedEachOther() {
        // "(**)" after "io.github." makes every package, the root one included, a slice of its own.
        freeze(slices().matching("io.github.(**)").should().beFreeOfCycles()).check(library);
    }

    @Test
    void productionClassesHoldNoStaticMutableState() {
        // Tests reach internals through package-private seams, never through static hooks; JVM-wide registries
        // live in one object. Lazily created singletons are final holders, never reassigned fields.
        freeze(fields().that().areStatic().and().areDeclaredInClassesThat().resideInAPackage("io.github.qednio..")
                .and().doNotHaveName("$VALUES").and().doNotHaveName("$assertionsDisabled")
                .should().beFinal()).check(library);
    }

    @Test
    void libraryDoesNotDependOnTheExamplesModule() {
        noClasses().that().resideInAPackage("io.github.qednio..")
                .should().dependOnClassesThat()
                .resideInAnyPackage("io.github.qednio.cli..", "io.github.qednio.examples..", "io.github.qednio.bench..")
                .check(library);
    }
}
