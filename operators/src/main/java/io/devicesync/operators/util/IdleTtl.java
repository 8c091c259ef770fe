package io.devicesync.operators.util;

import java.time.Duration;
import org.apache.flink.api.common.state.StateTtlConfig;

/** State TTL for per-device state: a device not written for the idle TTL is forgotten. */
public final class IdleTtl {
    private IdleTtl() {}

    /**
     * Cleanup: RocksDB drops expired values in its compactions, off the task thread (1,000 entries
     * between reads of the clock, Flink's default); a full snapshot (every heap checkpoint and
     * every savepoint) leaves them out. Not the heap backend's incremental cleanup, Flink's default
     * there: it visits further entries on every state access, and a profile of the heap backend
     * found it at 43 % of the guard's and the reconciler's threads (README, Benchmarks). The TTL
     * is a backstop here: the guard forgets a silent device by its own timer (its last quiet audit
     * arms its end, one idle TTL on), and the reconciler with it; on heap an expired value (a device
     * whose end never came, a stop longer than the TTL) stays in memory until its key is read or
     * the job restores, never in a snapshot.
     */
    public static StateTtlConfig of(Duration ttl) {
        return builder(ttl)
                .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .build();
    }

    /** A TTL of {@code ttl} that never returns an expired value, with the cleanup {@link #of} describes. */
    public static StateTtlConfig.Builder builder(Duration ttl) {
        return StateTtlConfig.newBuilder(ttl)
                .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                .disableCleanupInBackground()
                .cleanupInRocksdbCompactFilter(1000)
                .cleanupFullSnapshot();
    }
}
