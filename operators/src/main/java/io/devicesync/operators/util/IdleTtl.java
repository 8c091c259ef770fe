package io.devicesync.operators.util;

import java.time.Duration;
import org.apache.flink.api.common.state.StateTtlConfig;

/** State TTL for per-device state: a device not written for the idle TTL is forgotten. */
public final class IdleTtl {
    private IdleTtl() {}

    public static StateTtlConfig of(Duration ttl) {
        return StateTtlConfig.newBuilder(ttl)
                .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                .build();
    }
}
