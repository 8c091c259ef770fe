package io.devicesync.tests.workflow;

import io.devicesync.operators.sync.InMemorySourceOfTruth;
import io.devicesync.operators.sync.SourceOfTruth;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Hands a test's in-memory source of truth to the job's lookups, by name (same JVM). */
final class SharedTruth implements SourceOfTruth.Factory {
    private static final long serialVersionUID = 1L;
    private static final Map<String, InMemorySourceOfTruth> TRUTHS = new ConcurrentHashMap<>();

    private final String name;

    SharedTruth(String name, InMemorySourceOfTruth truth) {
        this.name = name;
        TRUTHS.put(name, truth);
    }

    @Override
    public SourceOfTruth open() {
        return TRUTHS.get(name);
    }

    void forget() {
        TRUTHS.remove(name);
    }
}
