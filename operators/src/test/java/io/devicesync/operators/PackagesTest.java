package io.devicesync.operators;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.Test;

/**
 * The packages show the data flow (DESIGN.md, Layout) and depend on each other one way only: a
 * cycle between two packages of devicesync fails the build. The root package holds only the state
 * types whose class names savepoints record (GuardState, ReconcilerState, HeldIncrement), next to
 * their serializers in {@code serde}; each stage (input, sync, delivery, alerts, bootstrap) is a
 * package of its own, helpers are in {@code util}.
 */
public class PackagesTest {
    /** This module's packages, main code only (the modules themselves cannot form a cycle: Maven refuses one). */
    private static JavaClasses main() {
        return new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_JARS)
                .importPackages("io.devicesync.operators");
    }

    /** Each package is a slice of its own. */
    private static ArchRule noCycles() {
        return slices().matching("io.devicesync.(**)").should().beFreeOfCycles();
    }

    @Test
    void noPackageDependsOnAnotherThatDependsOnIt() {
        noCycles().check(main());
    }

    @Test
    void theCheckFailsOnACycle() {
        // This test's package and a.Cycle depend on each other (see CycleA / cycle.CycleB).
        JavaClasses withCycle = new ClassFileImporter()
                .importClasses(CycleA.class, io.devicesync.operators.cycle.CycleB.class, PackagesTest.class);
        AssertionError e = assertThrows(AssertionError.class, () -> noCycles().check(withCycle));
        assertTrue(e.getMessage().contains("Cycle detected"), e.getMessage());
        assertTrue(e.getMessage().contains("operators.cycle"), e.getMessage());
    }

    /** One half of a deliberate cycle between two packages. */
    static final class CycleA {
        io.devicesync.operators.cycle.CycleB other;
    }
}
