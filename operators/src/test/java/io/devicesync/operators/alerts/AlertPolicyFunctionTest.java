package io.devicesync.operators.alerts;

import static io.devicesync.operators.alerts.AlertPolicyTest.MINUTE;
import static io.devicesync.operators.alerts.AlertPolicyTest.NOW;
import static io.devicesync.operators.alerts.AlertPolicyTest.alert;
import static io.devicesync.operators.alerts.AlertPolicyTest.details;
import static io.devicesync.operators.alerts.AlertPolicyTest.resyncFailed;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.BreakerReport;
import io.devicesync.model.Severity;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;

/** The AlertPolicy stage in Flink: routing, keyed state, the minute's timer, and a restore in the middle of a minute. */
class AlertPolicyFunctionTest {

    private static KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> harness(int max)
            throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h =
                new KeyedOneInputStreamOperatorTestHarness<>(
                        new KeyedProcessOperator<>(new AlertPolicyFunction(max)), in -> in.key, Types.STRING);
        h.setup();
        return h;
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> harness(int max, String backend)
            throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h =
                new KeyedOneInputStreamOperatorTestHarness<>(
                        new KeyedProcessOperator<>(new AlertPolicyFunction(max)), in -> in.key, Types.STRING);
        h.setStateBackend(io.devicesync.operators.TestData.backend(backend));
        h.setup();
        return h;
    }

    /** The routing the job does before the keyBy. */
    private static void send(KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h, Alert a, long now)
            throws Exception {
        List<PolicyInput> routed = new ArrayList<>();
        new AlertRouting().flatMap(a, new Collector<>() {
            @Override
            public void collect(PolicyInput in) {
                routed.add(in);
            }

            @Override
            public void close() {}
        });
        for (PolicyInput in : routed) h.processElement(in, now);
    }

    private static List<String> types(KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h) {
        return h.extractOutputValues().stream().map(a -> a.type.name()).collect(Collectors.toList());
    }

    @Test
    void aRestoreInTheMiddleOfAMinuteKeepsItsBudgetAndSummary() throws Exception {
        OperatorSubtaskState snapshot;
        try (KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h = harness(2)) {
            h.open();
            h.setProcessingTime(NOW + 1_000);
            for (int i = 0; i < 4; i++)
                send(h, alert(AlertType.SEQUENCE_GAP, "d" + i, null, Severity.WARNING, NOW), NOW);
            assertEquals(List.of("SEQUENCE_GAP", "SEQUENCE_GAP"), types(h));
            assertEquals(1, h.numProcessingTimeTimers(), "the minute's end");
            snapshot = h.snapshot(1, NOW + 2_000);
        }
        try (KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h = harness(2)) {
            h.initializeState(snapshot);
            h.open();
            h.setProcessingTime(NOW + 30_000);
            send(h, alert(AlertType.SEQUENCE_GAP, "a", null, Severity.CRITICAL, NOW + 7), NOW + 30_000);
            assertEquals(List.of(), types(h), "the budget of the minute was spent before the restore");
            h.setProcessingTime(NOW + MINUTE);
            assertEquals(List.of("ALERT_SUMMARY"), types(h), "the restored timer publishes the minute's summary");
            Alert summary = h.extractOutputValues().get(0);
            assertEquals(3, details(summary).get("count").asLong(), "two before the restore, one after");
            assertEquals(
                    "[\"a\",\"d2\",\"d3\"]",
                    details(summary).get("sampleDeviceIds").toString());
            assertEquals(Severity.CRITICAL, summary.severity);
            assertEquals(0, h.numProcessingTimeTimers());
        }
    }

    /**
     * The builds up to 847cf8f kept the policy's state as bytes in a {@code ValueState<byte[]>}: a
     * snapshot of that build, taken as in the test above (two published, two folding), restores
     * into this one on RocksDB and heap, also after a snapshot taken before any key is touched.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"rocksdb", "hashmap"})
    void theByteStateOfTheBuildBeforeRestores(String backend) throws Exception {
        OperatorSubtaskState again;
        try (KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h = harness(2, backend)) {
            h.initializeState(io.devicesync.operators.TestData.snapshot("policy", "847cf8f", backend));
            h.open();
            again = h.snapshot(2, NOW + 2_500);
        }
        try (KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h = harness(2, backend)) {
            h.initializeState(again);
            h.open();
            h.setProcessingTime(NOW + 30_000);
            send(h, alert(AlertType.SEQUENCE_GAP, "a", null, Severity.CRITICAL, NOW + 7), NOW + 30_000);
            assertEquals(List.of(), types(h), "the budget of the minute was spent before the restore");
            h.setProcessingTime(NOW + MINUTE);
            assertEquals(List.of("ALERT_SUMMARY"), types(h));
            assertEquals(3, details(h.extractOutputValues().get(0)).get("count").asLong());
        }
    }

    /**
     * The breakers the policy knows, with the checkpoint each incarnation started from, restore
     * (format 2, RocksDB and heap): after the restore an earlier incarnation's report, replayed from
     * the records in flight, changes nothing, and a later one's still ends the outage.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"rocksdb", "hashmap"})
    void theBreakersAndWhereTheirIncarnationsStartedRestore(String backend) throws Exception {
        OperatorSubtaskState snapshot;
        try (KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h = harness(100, backend)) {
            h.open();
            h.setProcessingTime(NOW);
            h.processElement(PolicyInput.breaker(new BreakerReport(0, 1, 11, 1, true, 5)), NOW);
            h.processElement(PolicyInput.breaker(new BreakerReport(0, 1, 99, 1, true, 7)), NOW);
            assertEquals(List.of("DATABASE_UNAVAILABLE"), types(h));
            snapshot = h.snapshot(8, NOW + 1);
        }
        try (KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h = harness(100, backend)) {
            h.initializeState(snapshot);
            h.open();
            h.setProcessingTime(NOW + 2);
            // Replayed: the incarnation that started from checkpoint 5 said its breaker closed.
            h.processElement(PolicyInput.breaker(new BreakerReport(0, 1, 11, 2, false, 5)), NOW + 2);
            assertEquals(List.of(), types(h), "older than the restored incarnation's: nothing");
            h.processElement(PolicyInput.breaker(new BreakerReport(0, 1, 42, 0, false, 8)), NOW + 3);
            assertEquals(List.of("DATABASE_RECOVERED"), types(h), "the restarted incarnation's first report ends it");
        }
    }

    @Test
    void breakerSignalsAndBacklogsAreRoutedToTheKeysTheyInhibitAndNeverPublished() throws Exception {
        try (KeyedOneInputStreamOperatorTestHarness<String, PolicyInput, Alert> h = harness(100)) {
            h.open();
            h.setProcessingTime(NOW);
            h.processElement(PolicyInput.breaker(new BreakerReport(0, 1, 5, 1, true)), NOW);
            send(h, resyncFailed("d", true), NOW);
            send(h, alert(AlertType.BACKLOG, null, "billing", Severity.WARNING, NOW), NOW);
            send(h, alert(AlertType.UNCONSUMED, "d", "billing", Severity.WARNING, NOW), NOW);
            send(h, alert(AlertType.REDISPATCH_EXHAUSTED, "d", "billing", Severity.CRITICAL, NOW), NOW);
            send(h, alert(AlertType.TAIL_LOSS, "d", null, Severity.WARNING, NOW), NOW);
            send(h, alert(AlertType.BACKLOG_CLEARED, null, "billing", Severity.INFO, NOW), NOW);
            send(h, alert(AlertType.UNCONSUMED, "e", "billing", Severity.WARNING, NOW), NOW);
            h.processElement(PolicyInput.breaker(new BreakerReport(0, 1, 5, 2, false)), NOW);
            assertEquals(
                    List.of(
                            "DATABASE_UNAVAILABLE",
                            "BACKLOG",
                            "TAIL_LOSS",
                            "BACKLOG_CLEARED",
                            "UNCONSUMED",
                            "DATABASE_RECOVERED"),
                    types(h));
            h.setProcessingTime(NOW + MINUTE);
            assertEquals(
                    2,
                    types(h).stream().filter("ALERT_SUMMARY"::equals).count(),
                    "billing's UNCONSUMED and REDISPATCH_EXHAUSTED");
        }
    }
}
