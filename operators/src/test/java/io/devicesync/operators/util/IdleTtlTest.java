package io.devicesync.operators.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.operators.delivery.DeliveryTracker;
import io.devicesync.operators.sync.SequenceGuard;
import io.devicesync.operators.sync.StateReconciler;
import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.state.StateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.junit.jupiter.api.Test;

/**
 * Per-device state is cleaned up where it costs the task thread nothing: in RocksDB's compactions
 * and in full snapshots, never by the heap backend's incremental cleanup, which visits further
 * entries on every state access (43 % of the keyed threads in a heap profile, README Benchmarks).
 */
class IdleTtlTest {

    @Test
    void perDeviceStateIsNotCleanedUpOnEveryAccess() {
        Duration idle = Duration.ofDays(30);
        List<StateDescriptor<?, ?>> descriptors = List.of(
                SequenceGuard.deviceDescriptor(idle),
                SequenceGuard.heldDescriptor(idle),
                StateReconciler.deviceDescriptor(idle),
                StateReconciler.heldDescriptor(idle),
                StateReconciler.heldOrderDescriptor(idle),
                DeliveryTracker.latestDescriptor(idle));
        for (StateDescriptor<?, ?> d : descriptors) {
            StateTtlConfig ttl = d.getTtlConfig();
            assertTrue(ttl.isEnabled(), d.getName());
            StateTtlConfig.CleanupStrategies c = ttl.getCleanupStrategies();
            assertNull(c.getIncrementalCleanupStrategy(), d.getName() + ": no cleanup on every access");
            assertTrue(c.inRocksdbCompactFilter(), d.getName() + ": RocksDB's compactions drop expired values");
            assertNotNull(c.getRocksdbCompactFilterCleanupStrategy(), d.getName());
            assertEquals(1000, c.getRocksdbCompactFilterCleanupStrategy().getQueryTimeAfterNumEntries(), d.getName());
            assertTrue(c.inFullSnapshot(), d.getName() + ": full snapshots leave them out");
        }
    }
}
