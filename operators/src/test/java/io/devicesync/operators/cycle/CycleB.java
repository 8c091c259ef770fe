package io.devicesync.operators.cycle;

import io.devicesync.operators.PackagesTest;

/** The other half of PackagesTest's deliberate cycle: this package depends on the test's. */
public final class CycleB {
    public Class<?> back = PackagesTest.class;
}
