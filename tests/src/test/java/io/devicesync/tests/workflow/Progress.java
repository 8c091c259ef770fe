package io.devicesync.tests.workflow;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * What the test sources and sinks of a job on the test's own MiniCluster (same JVM) did: each
 * change wakes the tests waiting on a condition over them, so a test waits for the condition with
 * a deadline, never by polling on a sleep.
 */
final class Progress {
    private static final Object MONITOR = new Object();

    private Progress() {}

    /** A test source emitted or a test sink received a record. */
    static void changed() {
        synchronized (MONITOR) {
            MONITOR.notifyAll();
        }
    }

    /** Waits until {@code condition} holds, re-checked at each change, failing after {@code timeout}. */
    static void await(String what, BooleanSupplier condition, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (MONITOR) {
            while (!condition.getAsBoolean()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new AssertionError("timed out after " + timeout + " waiting for " + what);
                TimeUnit.NANOSECONDS.timedWait(MONITOR, left);
            }
        }
    }
}
