package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.MAX_DOC;
import static io.devicesync.operators.TestData.alertTypes;
import static io.devicesync.operators.TestData.doc;
import static io.devicesync.operators.TestData.inc;
import static io.devicesync.operators.TestData.published;
import static io.devicesync.operators.TestData.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.BreakerReport;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.operators.TestData;
import io.devicesync.operators.alerts.AlertRouting;
import io.devicesync.operators.util.Tags;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.AbstractUdfStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class StateReconcilerTest {
    private KeyedTwoInputStreamOperatorTestHarness<String, Increment, LookupResult, DeviceState> h;

    @BeforeEach
    void open() throws Exception {
        openWithMaxHeld(100);
    }

    private void openWithMaxHeld(int maxHeld) throws Exception {
        h = ProcessFunctionTestHarnesses.forKeyedCoProcessFunction(
                new StateReconciler(maxHeld, Duration.ofDays(30), MAX_DOC),
                i -> i.deviceId,
                r -> r.request.deviceId,
                Types.STRING);
    }

    @AfterEach
    void close() throws Exception {
        if (h != null) h.close();
    }

    private void send(Increment i) throws Exception {
        h.processElement1(i, i.ts);
    }

    private void result(LookupResult r) throws Exception {
        h.processElement2(r, r.request.ts);
    }

    private static LookupRequest gap(String d, long from, long to) {
        return new LookupRequest(d, LookupRequest.Kind.GAP, 0, from, to, TestData.T0, 0);
    }

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private List<DeviceState> out() {
        return h.extractOutputValues();
    }

    @Test
    void appliesIncrementsAsMergePatchesInOrder() throws Exception {
        send(inc("d", 0, 1, "{\"temp\":4.5,\"door\":\"open\"}"));
        send(inc("d", 0, 2, "{\"door\":null,\"fan\":{\"rpm\":900}}"));
        send(inc("d", 0, 3, "{\"fan\":{\"on\":true}}"));
        List<DeviceState> out = out();
        assertEquals("0/1:increment,0/2:increment,0/3:increment", published(out));
        assertEquals("{\"temp\":4.5,\"door\":\"open\"}", doc(out.get(0)));
        assertEquals("{\"temp\":4.5,\"fan\":{\"rpm\":900,\"on\":true}}", doc(out.get(2)));
        assertEquals("d", out.get(2).deviceId);
    }

    @Test
    void holdsAfterAGapAndRepairsFromTheLog() throws Exception {
        send(inc("d", 0, 1, "{\"a\":1}"));
        send(inc("d", 0, 4, "{\"d\":4}"));
        send(inc("d", 0, 5, "{\"e\":5}"));
        assertEquals("0/1:increment", published(out()), "never skips the missing increments");
        result(LookupResult.log(
                gap("d", 2, 3), new Increment[] {inc("d", 0, 2, "{\"b\":2}"), inc("d", 0, 3, "{\"c\":3}")}));
        List<DeviceState> out = out();
        assertEquals("0/1:increment,0/2:log,0/3:log,0/4:increment,0/5:increment", published(out));
        assertEquals("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}", doc(out.get(4)));
        assertTrue(alertTypes(TestData.reconcilerAlerts(h)).isEmpty());
        assertEquals(1, h.numKeyedStateEntries(), "nothing held any more");
        send(inc("d", 0, 6, "{}"));
        assertEquals("0/6:increment", published(out().subList(5, 6)));
    }

    @Test
    void firstSeenDeviceWaitsForItsSnapshotThenReplaysHeld() throws Exception {
        send(inc("d", 0, 5, "{\"x\":5}"));
        send(inc("d", 0, 6, "{\"y\":6}"));
        assertTrue(out().isEmpty());
        result(LookupResult.snapshot(
                new LookupRequest("d", LookupRequest.Kind.FIRST_SEEN, 0, 1, 4, TestData.T0, 0), 0, 4, b("{\"w\":4}")));
        List<DeviceState> out = out();
        assertEquals("0/4:snapshot,0/5:increment,0/6:increment", published(out));
        assertEquals("{\"w\":4,\"x\":5,\"y\":6}", doc(out.get(2)));
    }

    @Test
    void snapshotAheadOfHeldIncrementsReplacesThem() throws Exception {
        send(inc("d", 0, 5, "{\"x\":5}"));
        result(LookupResult.snapshot(
                new LookupRequest("d", LookupRequest.Kind.FIRST_SEEN, 0, 1, 4, TestData.T0, 0), 0, 9, b("{\"z\":9}")));
        send(inc("d", 0, 6, "{}")); // the guard may still forward what the snapshot already covers
        send(inc("d", 0, 10, "{\"t\":10}"));
        assertEquals("0/9:snapshot,0/10:increment", published(out()));
        assertEquals(1, h.numKeyedStateEntries());
    }

    @Test
    void snapshotOlderThanWhatWasPublishedIsIgnored() throws Exception {
        send(inc("d", 1));
        send(inc("d", 2));
        send(inc("d", 3));
        result(LookupResult.snapshot(gap("d", 2, 2), 0, 2, b("{\"old\":true}")));
        assertEquals("0/1:increment,0/2:increment,0/3:increment", published(out()));
        assertTrue(alertTypes(TestData.reconcilerAlerts(h)).isEmpty(), "nothing was waiting");
    }

    @Test
    void laggingSnapshotKeepsTheDeviceWaitingAndSaysSo() throws Exception {
        send(inc("d", 1));
        send(inc("d", 5));
        result(LookupResult.snapshot(gap("d", 2, 4), 0, 3, b("{\"s\":3}")));
        assertEquals("0/1:increment,0/3:snapshot", published(out()), "a newer, if lagging, snapshot is published");
        List<Alert> alerts = values(TestData.reconcilerAlerts(h));
        assertEquals(
                List.of("RESYNC_FAILED"),
                alerts.stream().map(a -> a.type.name()).toList());
        assertEquals(Severity.WARNING, alerts.get(0).severity);
        assertEquals(Strategy.RETRY_ON_AUDIT, alerts.get(0).strategy);
        // A later repair (the audit's) closes it.
        result(LookupResult.log(gap("d", 4, 4), new Increment[] {inc("d", 0, 4, "{\"f\":4}")}));
        assertEquals("0/1:increment,0/3:snapshot,0/4:log,0/5:increment", published(out()));
    }

    @Test
    void failedLookupRaisesResyncFailedAndEscalates() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3));
        for (int i = 0; i < 3; i++) {
            LookupRequest attempt = new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 2, TestData.T0 + i * 1000, 0);
            result(LookupResult.failed(
                    attempt, LookupResult.Outcome.FAILED, "database lookup failed: connection refused"));
        }
        List<Alert> alerts = values(TestData.reconcilerAlerts(h));
        assertEquals(3, alerts.size());
        assertEquals("database lookup failed: connection refused", alerts.get(0).cause);
        assertEquals(Severity.WARNING, alerts.get(0).severity);
        assertEquals(Severity.CRITICAL, alerts.get(2).severity);
        assertEquals(3, alerts.stream().map(a -> a.alertId).distinct().count());
        assertEquals("0/1:increment", published(out()));
    }

    @Test
    void itsAlertsAndTheBreakersReportsReachThePolicyInTheOrderItSawThem() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3));
        send(inc("e", 1));
        send(inc("e", 3));
        LookupResult opened =
                LookupResult.failed(gap("d", 2, 2), LookupResult.Outcome.FAILED, "database lookup failed");
        opened.breaker = new BreakerReport(0, 1, 5, 1, true);
        result(opened);
        // The database fails this device's lookup; the next result, the breaker's probe that
        // succeeded, carries the closing report. The policy must see them in this order, or the
        // failure would be published after DATABASE_RECOVERED instead of folded into the outage.
        result(LookupResult.failed(gap("e", 2, 2), LookupResult.Outcome.FAILED, "database lookup failed"));
        LookupResult closed = LookupResult.log(gap("d", 2, 2), new Increment[] {inc("d", 0, 2, "{}")});
        closed.breaker = new BreakerReport(0, 1, 5, 2, false);
        result(closed);
        List<String> seen = h.getSideOutput(AlertRouting.RECONCILER).stream()
                .map(StreamRecord::getValue)
                .map(in -> in.key
                        + (in.alert != null ? " alert " + in.alert.deviceId : "")
                        + (in.breaker != null ? " breaker " + (in.breaker.open ? "open" : "closed") : ""))
                .collect(Collectors.toList());
        assertEquals(
                List.of(
                        "RESYNC_FAILED breaker open",
                        "RESYNC_FAILED alert d",
                        "RESYNC_FAILED alert e",
                        "RESYNC_FAILED breaker closed",
                        "RESYNC_RESOLVED alert d"),
                seen);
        assertNull(h.getSideOutput(Tags.ALERTS), "no alert of the reconciler takes another way");
    }

    /** A new harness restored from {@code snapshot}, as Flink restores the operator after a failure. */
    private void restore(OperatorSubtaskState snapshot) throws Exception {
        h.close();
        h = new KeyedTwoInputStreamOperatorTestHarness<>(
                new org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator<>(
                        new StateReconciler(100, Duration.ofDays(30), MAX_DOC)),
                i -> i.deviceId,
                r -> r.request.deviceId,
                Types.STRING);
        h.setup();
        h.initializeState(snapshot);
        h.open();
    }

    @Test
    void aFailureHasTheSameAlertIdWhenItsRequestIsReplayedAfterARestore() throws Exception {
        LookupRequest q = new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 2, TestData.T0, 0);
        send(inc("d", 1));
        send(inc("d", 3));
        OperatorSubtaskState checkpoint = h.snapshot(1, TestData.T0);
        result(LookupResult.failed(q, LookupResult.Outcome.FAILED, "database lookup failed"));
        String first = values(TestData.reconcilerAlerts(h)).get(0).alertId;
        // The job fails before the checkpoint after the alert; the result is replayed on restore.
        restore(checkpoint);
        result(LookupResult.failed(q, LookupResult.Outcome.FAILED, "database lookup failed"));
        List<Alert> replayed = values(TestData.reconcilerAlerts(h));
        assertEquals(1, replayed.size());
        assertEquals(first, replayed.get(0).alertId);
        assertEquals(
                "1",
                Json.parse(replayed.get(0).details.getBytes(StandardCharsets.UTF_8))
                        .get("failures")
                        .asText(),
                "the failure count came back from the checkpoint, not from the lost run");
    }

    @Test
    void heldIncrementsSurviveASnapshotAndRestore() throws Exception {
        send(inc("d", 0, 1, "{\"a\":1}"));
        send(inc("d", 0, 3, "{\"c\":3}"));
        send(inc("d", 0, 4, "{\"d\":4}"));
        restore(h.snapshot(1, TestData.T0));
        assertEquals(4, h.numKeyedStateEntries(), "the device, its held increments, their order, its count's check");
        result(LookupResult.log(gap("d", 2, 2), new Increment[] {inc("d", 0, 2, "{\"b\":2}")}));
        List<DeviceState> out = out();
        assertEquals("0/2:log,0/3:increment,0/4:increment", published(out));
        assertEquals("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", doc(out.get(2)), "the document came through too");
        assertTrue(alertTypes(TestData.reconcilerAlerts(h)).isEmpty());
    }

    private long waitingGauge() {
        return ((StateReconciler) ((AbstractUdfStreamOperator<?, ?>) h.getOperator()).getUserFunction())
                .waitingDevices();
    }

    @Test
    void theWaitingGaugeIsCountedFromStateAfterARestore() throws Exception {
        send(inc("a", 1));
        send(inc("a", 3)); // waits
        send(inc("b", 2)); // first seen past 1: waits
        send(inc("c", 1)); // does not wait
        OperatorSubtaskState checkpoint = h.snapshot(1, TestData.T0);
        restore(checkpoint);
        assertEquals(2, waitingGauge(), "a and b wait, counted from the restored state");
        result(LookupResult.log(gap("a", 2, 2), new Increment[] {inc("a", 0, 2, "{}")}));
        assertEquals(1, waitingGauge());
        // The guard forgot b (silent for the idle TTL): the reconciler forgets it too.
        send(Increment.forget("b", TestData.T0 + 1));
        assertEquals(0, waitingGauge());
        assertEquals(2, h.numKeyedStateEntries(), "a and c only: b's state and held increment are gone");
        send(Increment.forget("c", TestData.T0 + 1));
        assertEquals(0, waitingGauge(), "forgetting a device that did not wait changes nothing");
        assertEquals(1, h.numKeyedStateEntries());
    }

    /**
     * A counted device whose value expires by TTL without the guard's word (a stop longer than a
     * day) leaves the count at its check, one TTL after its last write; one written meanwhile stays.
     */
    @Test
    void aWaitingDeviceGoneByTtlLeavesTheCount() throws Exception {
        long p0 = 1_000_000;
        long ttl = Duration.ofDays(31).toMillis(); // the reconciler's: the idle TTL and a day
        h.setProcessingTime(p0);
        h.setStateTtlProcessingTime(p0);
        send(inc("gone", 1));
        send(inc("gone", 3)); // waits for 2
        send(inc("kept", 1));
        send(inc("kept", 3)); // waits for 2
        assertEquals(2, waitingGauge());
        h.setStateTtlProcessingTime(p0 + ttl - 10_000);
        h.setProcessingTime(p0 + ttl - 10_000);
        send(inc("kept", 4)); // written again: its value lives a TTL longer
        h.setStateTtlProcessingTime(p0 + ttl + 120_000);
        h.setProcessingTime(p0 + ttl + 120_000);
        assertEquals(1, waitingGauge(), "gone expired and left the count; kept was written meanwhile");
        h.setStateTtlProcessingTime(p0 + 2 * ttl + 240_000);
        h.setProcessingTime(p0 + 2 * ttl + 240_000);
        assertEquals(0, waitingGauge(), "kept, never written since, expired too");
        assertEquals(0, h.numProcessingTimeTimers(), "no check left");
    }

    /**
     * The count is kept by key group in operator state: split over two subtasks, each has exactly
     * its own waiting devices at once, before any device is touched.
     */
    @Test
    void theWaitingGaugeIsRightOnEachSubtaskAfterARescale() throws Exception {
        h.close();
        h = new KeyedTwoInputStreamOperatorTestHarness<>(
                new org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator<>(
                        new StateReconciler(100, Duration.ofDays(30), MAX_DOC)),
                i -> i.deviceId,
                r -> r.request.deviceId,
                Types.STRING,
                128,
                1,
                0);
        h.setup();
        h.open();
        for (int d = 0; d < 20; d++) {
            send(inc("w" + d, 1));
            send(inc("w" + d, 3)); // waits for 2
        }
        for (int d = 0; d < 5; d++) send(inc("n" + d, 1)); // does not wait
        OperatorSubtaskState checkpoint = h.snapshot(1, TestData.T0);
        h.close();
        long total = 0;
        for (int subtask = 0; subtask < 2; subtask++) {
            OperatorSubtaskState part =
                    org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness.repartitionOperatorState(
                            checkpoint, 128, 1, 2, subtask);
            h = new KeyedTwoInputStreamOperatorTestHarness<>(
                    new org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator<>(
                            new StateReconciler(100, Duration.ofDays(30), MAX_DOC)),
                    i -> i.deviceId,
                    r -> r.request.deviceId,
                    Types.STRING,
                    128,
                    2,
                    subtask);
            h.setup();
            h.initializeState(part);
            h.open();
            int mine = 0;
            for (int d = 0; d < 20; d++) {
                if (org.apache.flink.runtime.state.KeyGroupRangeAssignment.assignKeyToParallelOperator("w" + d, 128, 2)
                        == subtask) mine++;
            }
            assertTrue(mine > 0 && mine < 20, "the devices are split: " + mine);
            assertEquals(mine, waitingGauge(), "subtask " + subtask + ": its own waiting devices");
            total += waitingGauge();
            h.close();
        }
        assertEquals(20, total);
        h = null;
    }

    @Test
    void aDocumentOverTheLimitIsNotPublishedAndAlertedOnceUntilItFitsAgain() throws Exception {
        String big = "x".repeat(MAX_DOC);
        send(inc("d", 0, 1, "{\"a\":1}"));
        send(inc("d", 0, 2, "{\"big\":\"" + big + "\"}"));
        send(inc("d", 0, 3, "{\"b\":2}"));
        assertEquals("0/1:increment", published(out()), "nothing over the limit reaches the sink");
        List<Alert> alerts = values(TestData.reconcilerAlerts(h));
        assertEquals(
                List.of("STATE_TOO_LARGE"),
                alerts.stream().map(a -> a.type.name()).toList(),
                "one alert per episode");
        assertEquals(Severity.CRITICAL, alerts.get(0).severity);
        assertEquals("d", alerts.get(0).deviceId);
        JsonNode details = Json.parse(alerts.get(0).details.getBytes(StandardCharsets.UTF_8));
        assertTrue(details.get("bytes").asLong() > MAX_DOC);
        assertEquals(2, details.get("seq").asLong());
        // A later increment removes the big member: that version fits and is published.
        send(inc("d", 0, 4, "{\"big\":null}"));
        List<DeviceState> out = out();
        assertEquals("0/1:increment,0/4:increment", published(out));
        assertEquals("{\"a\":1,\"b\":2}", doc(out.get(1)));
        // A later episode is alerted again; a snapshot that fits ends it too.
        send(inc("d", 0, 5, "{\"big\":\"" + big + "\"}"));
        result(LookupResult.snapshot(
                LookupRequest.audit("d", 0, 5, false, true, TestData.T0 + 1, 0), 0, 6, b("{\"s\":6}")));
        assertEquals("0/1:increment,0/4:increment,0/6:snapshot", published(out()));
        assertEquals(
                2,
                values(TestData.reconcilerAlerts(h)).stream()
                        .filter(a -> a.type == AlertType.STATE_TOO_LARGE)
                        .count());
    }

    @Test
    void aDeviceThatCannotBeRepairedForLongIsNotAlertedEveryInterval() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3));
        for (int i = 0; i < 12; i++) {
            result(LookupResult.failed(
                    new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 2, TestData.T0 + i * 1000, 0),
                    LookupResult.Outcome.NOT_FOUND,
                    "device d has no row in device_snapshot"));
        }
        List<Alert> alerts = values(TestData.reconcilerAlerts(h));
        assertEquals(
                List.of(1L, 2L, 3L, 10L),
                alerts.stream()
                        .map(a -> Json.parse(a.details.getBytes(StandardCharsets.UTF_8))
                                .get("failures")
                                .asLong())
                        .toList(),
                "the first three, then every tenth");
    }

    @Test
    void resultForALaterGapDoesNotFailAnEarlierOne() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3));
        send(inc("d", 6));
        // Repair of the second gap first: 3 is still missing 2, but that is the other request's job.
        result(LookupResult.log(gap("d", 4, 5), new Increment[] {inc("d", 0, 4, "{}"), inc("d", 0, 5, "{}")}));
        assertTrue(alertTypes(TestData.reconcilerAlerts(h)).isEmpty());
        result(LookupResult.log(gap("d", 2, 2), new Increment[] {inc("d", 0, 2, "{}")}));
        assertEquals(
                "0/1:increment,0/2:log,0/3:increment,0/4:log,0/5:log,0/6:increment",
                published(out()),
                "the early log rows were held, not lost");
        assertTrue(alertTypes(TestData.reconcilerAlerts(h)).isEmpty());
        assertEquals(1, h.numKeyedStateEntries());
    }

    @Test
    void heldBufferOverflowDropsTheOldestAndAlerts() throws Exception {
        close();
        openWithMaxHeld(2);
        send(inc("d", 1));
        send(inc("d", 3));
        send(inc("d", 4));
        send(inc("d", 5));
        assertEquals(List.of("BUFFER_OVERFLOW"), alertTypes(TestData.reconcilerAlerts(h)));
        // A log repair of 2 no longer closes the device: 3 was dropped.
        result(LookupResult.log(gap("d", 2, 2), new Increment[] {inc("d", 0, 2, "{}")}));
        assertEquals("0/1:increment,0/2:log", published(out()));
        // A snapshot past the dropped one does.
        result(LookupResult.snapshot(LookupRequest.audit("d", 0, 5, true, true, TestData.T0, 0), 0, 3, b("{\"s\":3}")));
        assertEquals("0/1:increment,0/2:log,0/3:snapshot,0/4:increment,0/5:increment", published(out()));
    }

    @Test
    void resetWaitsForASnapshotThatReachedTheNewEpoch() throws Exception {
        send(inc("d", 0, 1, "{\"a\":1}"));
        send(inc("d", 0, 2, "{\"b\":2}"));
        send(inc("d", 1, 1, "{\"c\":3}"));
        assertEquals("0/1:increment,0/2:increment", published(out()));
        // The database lags: its snapshot knows one more increment of the old epoch, but the old
        // epoch may have had more (it did: (0, 4) was lost too). The new epoch must not start on it.
        result(LookupResult.snapshot(
                new LookupRequest("d", LookupRequest.Kind.RESET, 1, 1, 0, TestData.T0, 0),
                0,
                3,
                b("{\"a\":1,\"b\":2,\"lost\":3}")));
        assertEquals("0/1:increment,0/2:increment,0/3:snapshot", published(out()));
        assertEquals(List.of("RESYNC_FAILED"), alertTypes(TestData.reconcilerAlerts(h)));
        assertEquals(
                List.of(AuditRecord.Outcome.REPAIR_PENDING),
                values(h.getSideOutput(Tags.AUDITS)).stream()
                        .map(a -> a.outcome)
                        .toList(),
                "the guard audits it again, with a repair");
        // The database caught up: its snapshot is in the new epoch and holds the whole old one.
        result(LookupResult.snapshot(
                LookupRequest.audit("d", 1, 1, true, false, TestData.T0 + 10, 0),
                1,
                1,
                b("{\"a\":1,\"b\":2,\"lost\":4,\"c\":3}")));
        List<DeviceState> out = out();
        assertEquals("0/1:increment,0/2:increment,0/3:snapshot,1/1:snapshot", published(out));
        assertEquals("{\"a\":1,\"b\":2,\"lost\":4,\"c\":3}", doc(out.get(3)), "state carries across epochs");
        send(inc("d", 1, 2, "{}"));
        assertEquals("1/2:increment", published(out().subList(4, 5)));
    }

    @Test
    void resetConfirmedBySnapshotOfTheNewEpoch() throws Exception {
        send(inc("d", 0, 1, "{\"a\":1}"));
        send(inc("d", 2, 2, "{\"c\":3}"));
        result(LookupResult.snapshot(
                new LookupRequest("d", LookupRequest.Kind.RESET, 2, 1, 1, TestData.T0, 0), 2, 1, b("{\"n\":1}")));
        assertEquals("0/1:increment,2/1:snapshot,2/2:increment", published(out()));
    }

    private static LookupResult answer(LookupRequest q, InMemorySourceOfTruth db) {
        return new LookupPlanner(1000).lookup(q, db).toCompletableFuture().join();
    }

    /**
     * Issue 14: a device first seen at (0, 4) whose platform logged 1..3 but wrote no snapshot row is
     * rebuilt from {} and the log (published as log records), then its held increments replayed.
     */
    @Test
    void aFirstSeenDeviceWithoutASnapshotRowIsRebuiltFromTheLogThenReplaysWhatItHeld() throws Exception {
        InMemorySourceOfTruth db = new InMemorySourceOfTruth();
        db.log(inc("d", 0, 1, "{\"a\":1,\"b\":1}")).log(inc("d", 0, 2, "{\"b\":null}")).log(
                inc("d", 0, 3, "{\"c\":{\"x\":1}}"));
        send(inc("d", 0, 4, "{\"c\":{\"y\":2}}"));
        send(inc("d", 0, 5, "{\"a\":5}"));
        assertTrue(out().isEmpty(), "nothing before its base is known");
        result(answer(new LookupRequest("d", LookupRequest.Kind.FIRST_SEEN, 0, 1, 3, TestData.T0, 0), db));
        List<DeviceState> out = out();
        assertEquals("0/1:log,0/2:log,0/3:log,0/4:increment,0/5:increment", published(out));
        assertEquals("{\"a\":1,\"b\":1}", doc(out.get(0)));
        assertEquals("{\"a\":5,\"c\":{\"x\":1,\"y\":2}}", doc(out.get(4)));
        assertTrue(alertTypes(TestData.reconcilerAlerts(h)).isEmpty());
        assertTrue(values(h.getSideOutput(Tags.AUDITS)).isEmpty(), "no repair pending");
        assertEquals(1, h.numKeyedStateEntries(), "nothing held any more");
    }

    /**
     * The decision for a first-seen device in a later epoch without a snapshot row: it waits (its
     * epoch's log does not hold what the earlier epochs left), says so, and the audit retries until
     * the platform writes the row.
     */
    @Test
    void aFirstSeenDeviceInALaterEpochWithoutASnapshotRowWaitsForTheRow() throws Exception {
        InMemorySourceOfTruth db = new InMemorySourceOfTruth();
        db.log(inc("d", 1, 1, "{\"b\":1}"));
        send(inc("d", 1, 2, "{\"c\":2}"));
        result(answer(new LookupRequest("d", LookupRequest.Kind.FIRST_SEEN, 1, 1, 1, TestData.T0, 0), db));
        assertTrue(out().isEmpty());
        List<Alert> alerts = values(TestData.reconcilerAlerts(h));
        assertEquals(
                List.of("RESYNC_FAILED"),
                alerts.stream().map(a -> a.type.name()).toList());
        assertTrue(alerts.get(0).cause.contains("epoch 1"), alerts.get(0).cause);
        assertEquals(
                List.of(AuditRecord.Outcome.REPAIR_PENDING),
                values(h.getSideOutput(Tags.AUDITS)).stream()
                        .map(a -> a.outcome)
                        .toList());
        db.snapshot("d", 1, 1, b("{\"a\":0,\"b\":1}"));
        result(answer(LookupRequest.audit("d", 1, 2, true, false, TestData.T0 + 10, 0), db));
        assertEquals("1/1:snapshot,1/2:increment", published(out()));
        assertEquals("{\"a\":0,\"b\":1,\"c\":2}", doc(out().get(1)));
    }

    @Test
    void aFirstSeenRebuildThatFoundTheLogShortIsRetriedByTheAuditFromTheLog() throws Exception {
        InMemorySourceOfTruth db = new InMemorySourceOfTruth();
        db.log(inc("d", 0, 1, "{\"a\":1}")).log(inc("d", 0, 3, "{\"c\":3}"));
        send(inc("d", 0, 3, "{\"c\":3}"));
        result(answer(new LookupRequest("d", LookupRequest.Kind.FIRST_SEEN, 0, 1, 2, TestData.T0, 0), db));
        assertTrue(out().isEmpty(), "(0, 2) is not in the log yet: no base");
        assertEquals(List.of("RESYNC_FAILED"), alertTypes(TestData.reconcilerAlerts(h)));
        db.log(inc("d", 0, 2, "{\"b\":2}"));
        // The guard read REPAIR_PENDING back; its next audit asks for the repair, up to what it forwarded.
        result(answer(LookupRequest.audit("d", 0, 3, true, false, TestData.T0 + 10, 0), db));
        assertEquals(
                "0/1:log,0/2:log,0/3:log", published(out()), "all three from the log (3 was held from the stream)");
        assertEquals("{\"a\":1,\"b\":2,\"c\":3}", doc(out().get(2)));
        assertEquals(List.of("RESYNC_FAILED", "RESYNC_RESOLVED"), alertTypes(TestData.reconcilerAlerts(h)));
        assertEquals(
                AuditRecord.Outcome.DB_MISSING,
                values(h.getSideOutput(Tags.AUDITS)).get(1).outcome,
                "repaired, and still no row: re-checked like any device without one");
    }
    /**
     * Issue 14, through the operator: a device that keeps adding members stops being applied once its
     * document would pass four times the limit; it is alerted and asked a snapshot for, and the
     * snapshot that fits brings it back with what it sent meanwhile.
     */
    @Test
    void aDeviceThatKeepsGrowingStopsAtFourTimesTheLimitUntilASnapshotFits() throws Exception {
        String member = "x".repeat(MAX_DOC / 2);
        for (int seq = 1; seq <= 12; seq++) send(inc("d", 0, seq, "{\"m" + seq + "\":\"" + member + "\"}"));
        assertEquals("0/1:increment", published(out()), "only the first fits the limit");
        List<Alert> alerts = values(TestData.reconcilerAlerts(h));
        assertEquals(
                List.of("STATE_TOO_LARGE", "STATE_TOO_LARGE"),
                alerts.stream().map(a -> a.type.name()).toList());
        JsonNode stopped = Json.parse(alerts.get(1).details.getBytes(StandardCharsets.UTF_8));
        assertEquals(8, stopped.get("seq").asLong(), "8 members of half the limit would be over four times it");
        assertEquals(4 * MAX_DOC, stopped.get("maxKeptBytes").asLong());
        assertEquals(
                List.of(AuditRecord.Outcome.REPAIR_PENDING),
                values(h.getSideOutput(Tags.AUDITS)).stream()
                        .map(a -> a.outcome)
                        .toList());
        assertEquals(1, waitingGauge(), "it waits for a repair");
        result(LookupResult.snapshot(
                LookupRequest.audit("d", 0, 12, true, false, TestData.T0 + 1_000, 0), 0, 10, b("{\"trimmed\":true}")));
        List<DeviceState> out = out();
        assertEquals(
                "0/1:increment,0/10:snapshot,0/11:increment",
                published(out),
                "12 grows it past the limit again (kept, not published)");
        assertEquals(0, waitingGauge());
    }
}
