package io.devicesync.operators.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.devicesync.operators.GuardState;
import io.devicesync.operators.serde.Compact;
import io.devicesync.operators.util.IdleTtl;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.util.Collector;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * State written by the previous build (Flink's POJO serializer, with the idle TTL) restores into
 * this build's compact serializers: a savepoint of that build is an upgrade path, on both backends.
 */
class CompactStateMigrationTest {

    /** Keeps one GuardState per key in the {@code guard} state; "put:N" stores seq N, "get" emits it. */
    static final class Holder extends KeyedProcessFunction<String, String, Long> {
        private final TypeInformation<GuardState> type;
        private transient ValueState<GuardState> state;

        Holder(TypeInformation<GuardState> type) {
            this.type = type;
        }

        @Override
        public void open(OpenContext ctx) {
            ValueStateDescriptor<GuardState> d = new ValueStateDescriptor<>(SequenceGuard.DEVICE, type);
            d.enableTimeToLive(IdleTtl.of(Duration.ofDays(30)));
            state = getRuntimeContext().getState(d);
        }

        @Override
        public void processElement(String v, Context ctx, Collector<Long> out) throws Exception {
            if (v.startsWith("put:")) {
                GuardState g = new GuardState();
                g.seq = Long.parseLong(v.split(":")[2]);
                g.active = true;
                g.requestedEpoch = 7;
                state.update(g);
            } else {
                GuardState g = state.value();
                out.collect(g.seq * 1000 + g.requestedEpoch + (g.active ? 100 : 0));
            }
        }
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, String, Long> harness(
            TypeInformation<GuardState> type, StateBackend backend) throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, String, Long> h = new KeyedOneInputStreamOperatorTestHarness<>(
                new KeyedProcessOperator<>(new Holder(type)), v -> v.split(":")[1], Types.STRING);
        h.setStateBackend(backend);
        return h;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void aSavepointOfThePojoBuildRestoresIntoTheCompactSerializer(String backend) throws Exception {
        OperatorSubtaskState snapshot;
        try (var before = harness(TypeInformation.of(GuardState.class), backendOf(backend))) {
            before.open();
            before.processElement(new StreamRecord<>("put:d1:41", 1));
            before.processElement(new StreamRecord<>("put:d2:42", 1));
            snapshot = before.snapshot(1, 1);
        }
        try (var after = harness(Compact.GUARD_STATE, backendOf(backend))) {
            after.initializeState(snapshot);
            after.open();
            after.processElement(new StreamRecord<>("get:d1", 2));
            after.processElement(new StreamRecord<>("get:d2", 2));
            List<Long> out = after.extractOutputValues();
            assertEquals(List.of(41_107L, 42_107L), out.stream().collect(Collectors.toList()));
        }
    }

    private static StateBackend backendOf(String name) {
        return name.equals("rocksdb") ? new EmbeddedRocksDBStateBackend() : new HashMapStateBackend();
    }
}
