package io.devicesync.operators;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
    /** Every package of devicesync on this module's class path (model's, sources' and ours), main code only. */
    private static JavaClasses main() {
        return new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_JARS)
                .importPackages("io.devicesync");
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
        assertThrows(AssertionError.class, () -> noCycles().check(withCycle));
    }

    /** One half of a deliberate cycle between two packages. */
    static final class CycleA {
        io.devicesync.operators.cycle.CycleB other;
    }
}
