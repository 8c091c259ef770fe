package io.devicesync.operators.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.devicesync.model.Alert;
import io.devicesync.model.Json;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;

/** The DeliveryBacklog on its own: the upgrade from the scheduler keyed by consumer, at 128 key groups. */
class DeliveryBacklogTest {
    static final long NOW = 1_800_000_000_000L;

    /** Writes what the scheduler of the earlier builds kept for a consumer: its SchedulerState. */
    static final class EarlierScheduler extends KeyedProcessFunction<String, String, Alert> {
        @Override
        public void processElement(String consumer, Context ctx, Collector<Alert> out) throws Exception {
            SchedulerState st = new SchedulerState();
            st.backlog = 5000;
            st.backlogOpen = true;
            st.backlogEpisode = 4;
            getRuntimeContext()
                    .getState(new ValueStateDescriptor<>(
                            DeliveryBacklog.LEGACY_SCHEDULER, TypeInformation.of(SchedulerState.class)))
                    .update(st);
        }
    }

    /**
     * The counts start anew after the upgrade and come in key group by key group: a part of them
     * (here 60 of 128 key groups, with 100 devices) clears nothing; the whole sum decides.
     */
    @Test
    void afterTheUpgradeTheOpenBacklogWaitsForEveryKeyGroupBeforeItClears() throws Exception {
        try (var h = upgraded()) {
            for (int g = 0; g < 60; g++) h.processElement(new BacklogReport("billing", g, g == 3 ? 100 : 0), 0);
            assertEquals(List.of(), types(h), "a part of the sum: the BACKLOG of the earlier build stays open");
            for (int g = 60; g < 128; g++) h.processElement(new BacklogReport("billing", g, g == 100 ? 2000 : 0), 0);
            assertEquals(List.of(), types(h), "the whole sum, 2,100 > 500: still open, not raised again");
            h.processElement(new BacklogReport("billing", 100, 0), 0);
            assertEquals(List.of("BACKLOG_CLEARED"), types(h), "100 <= 500");
            assertEquals(
                    4,
                    Json.parse(h.extractOutputValues().get(0).details.getBytes(StandardCharsets.UTF_8))
                            .get("backlogEpisode")
                            .asLong(),
                    "the earlier build's episode");
        }
    }

    /** Should some key groups never report after the upgrade, the sum decides after a minute, by a timer. */
    @Test
    void theGateLiftsAfterAMinuteEvenIfNoFurtherReportComes() throws Exception {
        try (var h = upgraded()) {
            for (int g = 0; g < 100; g++) h.processElement(new BacklogReport("billing", g, g == 3 ? 40 : 0), 0);
            h.setProcessingTime(NOW + DeliveryBacklog.GATE_MS - 1);
            assertEquals(List.of(), types(h), "within the minute: waiting for the other 28 key groups");
            h.setProcessingTime(NOW + DeliveryBacklog.GATE_MS);
            assertEquals(List.of("BACKLOG_CLEARED"), types(h), "the sum as it is, 40 <= 500, without a report");
        }
    }

    /** A DeliveryBacklog (billing, threshold 1,000) at 128 key groups, restored from the earlier scheduler's state. */
    private static KeyedOneInputStreamOperatorTestHarness<String, BacklogReport, Alert> upgraded() throws Exception {
        OperatorSubtaskState earlier;
        try (var h = new KeyedOneInputStreamOperatorTestHarness<String, String, Alert>(
                new KeyedProcessOperator<>(new EarlierScheduler()), c -> c, Types.STRING, 128, 1, 0)) {
            h.open();
            h.processElement("billing", 0);
            earlier = h.snapshot(1, NOW);
        }
        var h = new KeyedOneInputStreamOperatorTestHarness<String, BacklogReport, Alert>(
                new KeyedProcessOperator<>(new DeliveryBacklog(List.of("billing"), 1000L)),
                r -> r.consumer,
                Types.STRING,
                128,
                1,
                0);
        h.setProcessingTime(NOW);
        h.setup();
        h.initializeState(earlier);
        h.open();
        return h;
    }

    private static List<String> types(KeyedOneInputStreamOperatorTestHarness<String, BacklogReport, Alert> h) {
        return h.extractOutputValues().stream().map(a -> a.type.name()).collect(Collectors.toList());
    }
}
