package io.devicesync.operators;

import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeadLetter;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.model.SourceRecord;
import org.apache.flink.types.PojoTestUtils;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every type that crosses the network between operators or lives in state is a POJO Flink
 * serializes itself: no Kryo fallback (slow, and fragile across versions of a savepoint). The
 * cluster runs with {@code pipeline.generic-types: false}, which would fail the job; this fails
 * the build first.
 */
class SerializedWithoutKryoTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(
            classes = {
                Increment.class,
                SourceRecord.class,
                DeadLetter.class,
                DeviceState.class,
                Alert.class,
                AuditRecord.class,
                LookupRequest.class,
                LookupResult.class,
                GuardState.class,
                ReconcilerState.class,
                HeldIncrement.class,
                io.devicesync.model.Ack.class,
                io.devicesync.model.AckRecord.class,
                io.devicesync.model.Redispatch.class,
                io.devicesync.operators.delivery.DeliveryState.class,
                io.devicesync.operators.delivery.ConsumerTrack.class,
                io.devicesync.operators.delivery.DeliveryEvent.class,
                io.devicesync.operators.delivery.EpisodeEntry.class,
                io.devicesync.operators.delivery.Episode.class,
                io.devicesync.operators.delivery.PendingDeadLetter.class,
                io.devicesync.operators.delivery.AckBatch.class,
                io.devicesync.operators.delivery.BacklogState.class,
                io.devicesync.operators.delivery.BacklogReport.class,
                io.devicesync.operators.alerts.PolicyInput.class,
                io.devicesync.model.BreakerReport.class,
                io.devicesync.model.Version.class
            })
    void isAPojoWithoutKryo(Class<?> type) {
        PojoTestUtils.assertSerializedAsPojoWithoutKryo(type);
    }
}
