package io.devicesync.operators.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Json;
import io.devicesync.model.RecordSource;
import io.devicesync.model.Redispatch;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.operators.util.Tags;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The RedispatchScheduler in a keyed harness; processing time is set by the test. */
class RedispatchSchedulerTest {
    static final long P0 = 1_800_000_000_000L;
    private KeyedOneInputStreamOperatorTestHarness<String, DeliveryEvent, Redispatch> h;
    private final List<long[]> sendTimes = new ArrayList<>();
    private int seen;

    private void open(int rate, long threshold, OperatorSubtaskState restoreFrom) throws Exception {
        open(List.of("billing", "dashboard"), rate, threshold, restoreFrom);
    }

    private void open(List<String> consumers, int rate, long threshold, OperatorSubtaskState restoreFrom)
            throws Exception {
        h = new KeyedOneInputStreamOperatorTestHarness<>(
                new org.apache.flink.streaming.api.operators.KeyedProcessOperator<>(
                        new RedispatchScheduler(consumers, rate, threshold)),
                e -> e.consumer,
                Types.STRING);
        h.setup();
        if (restoreFrom != null) h.initializeState(restoreFrom);
        h.open();
    }

    @AfterEach
    void close() throws Exception {
        if (h != null) h.close();
    }

    static DeliveryEvent attempt(String consumer, String device, long waitingSince, int attempt, int stateBytes) {
        DeliveryEvent e = new DeliveryEvent();
        e.kind = DeliveryEvent.Kind.ATTEMPT;
        e.consumer = consumer;
        e.deviceId = device;
        e.epoch = 0;
        e.seq = 1;
        e.waitingSince = waitingSince;
        e.attempt = attempt;
        e.state = new DeviceState(
                device,
                0,
                7,
                1,
                ("{\"p\":\"" + "x".repeat(stateBytes) + "\"}").getBytes(StandardCharsets.UTF_8),
                RecordSource.INCREMENT);
        return e;
    }

    static DeliveryEvent event(DeliveryEvent.Kind kind, String consumer, String device) {
        DeliveryEvent e = attempt(consumer, device, 0, 1, 1);
        e.kind = kind;
        if (kind == DeliveryEvent.Kind.CLOSED) e.state = null;
        return e;
    }

    private void in(DeliveryEvent e) throws Exception {
        h.processElement(e, 0);
        note();
    }

    private void at(long t) throws Exception {
        h.setProcessingTime(t);
        note();
    }

    /** Moves processing time on in 10 ms steps, as a task's timers would fire. */
    private void until(long t) throws Exception {
        assertTrue(t - h.getProcessingTime() < 600_000, "set the time first");
        for (long now = h.getProcessingTime() + 10; now <= t; now += 10) at(now);
    }

    /** Records the processing time at which each new redispatch came out. */
    private void note() {
        List<Redispatch> out = sent();
        for (int i = seen; i < out.size(); i++) sendTimes.add(new long[] {h.getProcessingTime(), i});
        seen = out.size();
    }

    private List<Redispatch> sent() {
        return h.extractOutputValues();
    }

    private String order() {
        return sent().stream()
                .map(r -> r.consumer + ":" + r.state.deviceId + "#" + r.attempt)
                .collect(Collectors.joining(","));
    }

    private List<Alert> alerts() {
        var records = h.getSideOutput(Tags.ALERTS);
        return records == null
                ? List.of()
                : records.stream().map(StreamRecord::getValue).collect(Collectors.toList());
    }

    private List<Redispatch> deadLetters() {
        var records = h.getSideOutput(Tags.REDISPATCH_DEAD_LETTERS);
        return records == null
                ? List.of()
                : records.stream().map(StreamRecord::getValue).collect(Collectors.toList());
    }

    @Test
    void waitingAttemptsGoLongestWaitingFirstThenSmallestThenByDevice() throws Exception {
        open(1, 1000, null);
        at(P0);
        in(attempt("billing", "first", 50, 1, 10)); // the budget allows it at once
        in(attempt("billing", "e", 300, 1, 10));
        in(attempt("billing", "c", 100, 1, 50));
        in(attempt("billing", "d", 100, 1, 10));
        in(attempt("billing", "b", 100, 1, 10));
        in(attempt("billing", "a", 200, 1, 1));
        assertEquals("billing:first#1", order());
        until(P0 + 6_000);
        assertEquals("billing:first#1,billing:b#1,billing:d#1,billing:c#1,billing:a#1,billing:e#1", order());
    }

    /**
     * redispatchesDeferred counts the attempts that waited for the budget. On RocksDB it counted every
     * attempt: the scheduler asked its own copy of the entry whether it was still queued after the
     * drain, and on RocksDB the drain had sent a copy read back from the state.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void onlyAttemptsThatWaitForTheBudgetAreCountedAsDeferred(String backend) throws Exception {
        RedispatchScheduler scheduler = new RedispatchScheduler(List.of("billing"), 2, 1000);
        h = new KeyedOneInputStreamOperatorTestHarness<>(
                new org.apache.flink.streaming.api.operators.KeyedProcessOperator<>(scheduler),
                e -> e.consumer,
                Types.STRING);
        h.setStateBackend(backend.equals("rocksdb") ? new EmbeddedRocksDBStateBackend() : new HashMapStateBackend());
        h.setup();
        h.open();
        at(P0);
        for (int i = 0; i < 5; i++) in(attempt("billing", "dev-" + i, i, 1, 5));
        assertEquals(2, sent().size(), "the budget of 2 a second");
        assertEquals(3, scheduler.deferred("billing"), "three wait for the budget, two went at once");
    }

    @Test
    void theBudgetIsNeverExceededInAnyOneSecondWindow() throws Exception {
        int rate = 5;
        open(rate, 1000, null);
        at(P0);
        int queued = 0;
        for (int i = 0; i < 37; i++, queued++) in(attempt("billing", "dev-" + i, i, 1, 5));
        for (long t = P0; t <= P0 + 12_000; t += 10) {
            at(t);
            if (t % 37 == 0) {
                in(attempt("billing", "late-" + t, t, 1, 5)); // more keep coming
                queued++;
            }
        }
        until(P0 + 60_000);
        assertEquals(queued, sent().size(), "everything queued was sent in the end");
        for (long[] s : sendTimes) {
            long start = s[0];
            long inWindow = sendTimes.stream()
                    .filter(o -> o[0] >= start && o[0] < start + 1000)
                    .count();
            assertTrue(inWindow <= rate, inWindow + " sends in the second from " + start);
        }
        assertEquals(1, h.numProcessingTimeTimers(), "nothing queued: no drain timer, only the hourly listing check");
    }

    @Test
    void eachConsumerHasItsOwnBudgetAndBacklogThreshold() throws Exception {
        h = new KeyedOneInputStreamOperatorTestHarness<>(
                new org.apache.flink.streaming.api.operators.KeyedProcessOperator<>(new RedispatchScheduler(
                        List.of("billing", "dashboard"),
                        java.util.Map.of("billing", 2, "dashboard", 10),
                        java.util.Map.of("billing", 1000L, "dashboard", 3L))),
                e -> e.consumer,
                Types.STRING);
        h.setup();
        h.open();
        at(P0);
        for (int i = 0; i < 20; i++) {
            in(attempt("billing", "dev-" + i, i, 1, 5));
            in(attempt("dashboard", "dev-" + i, i, 1, 5));
        }
        long billing = sent().stream().filter(r -> r.consumer.equals("billing")).count();
        long dashboard =
                sent().stream().filter(r -> r.consumer.equals("dashboard")).count();
        assertEquals(2, billing, "billing's budget: 2 a second");
        assertEquals(10, dashboard, "dashboard's budget: 10 a second");
        List<Alert> backlog =
                alerts().stream().filter(a -> a.type == AlertType.BACKLOG).collect(Collectors.toList());
        assertEquals(1, backlog.size(), "dashboard's threshold is 3, billing's 1000: " + backlog);
        assertEquals("dashboard", backlog.get(0).consumer);
    }

    /** What an ack replay leaves the scheduler (issue 16): CLOSED for devices it has no episode of. */
    @Test
    void closedEventsForDevicesWithoutAnEpisodeSendNothingAndKeepNoState() throws Exception {
        open(1, 1000, null);
        at(P0);
        for (int i = 0; i < 1000; i++) in(event(DeliveryEvent.Kind.CLOSED, "billing", "dev-" + i));
        assertTrue(sent().isEmpty());
        assertTrue(alerts().isEmpty(), alerts().toString());
        assertTrue(h.numKeyedStateEntries() <= 1, "at most the consumer's own value: " + h.numKeyedStateEntries());
        assertEquals(0, h.numProcessingTimeTimers());
    }

    @Test
    void oneConsumersBacklogDoesNotDelayAnothers() throws Exception {
        open(1, 1000, null);
        at(P0);
        for (int i = 0; i < 50; i++) in(attempt("billing", "dev-" + i, i, 1, 5));
        in(attempt("dashboard", "dev-7", 7, 1, 5));
        assertEquals("billing:dev-0#1,dashboard:dev-7#1", order(), "dashboard's attempt is not behind billing's queue");
    }

    @Test
    void aNewerAttemptReplacesTheQueuedOne() throws Exception {
        open(1, 1000, null);
        at(P0);
        in(attempt("billing", "x", 1, 1, 5));
        in(attempt("billing", "y", 2, 1, 5));
        in(attempt("billing", "y", 2, 2, 5));
        until(P0 + 5000);
        assertEquals("billing:x#1,billing:y#2", order());
    }

    @Test
    void exhaustionGivesOneDeadLetterAndOneCriticalAlert() throws Exception {
        open(100, 1000, null);
        at(P0);
        in(attempt("billing", "x", 1, 1, 5));
        in(attempt("billing", "x", 1, 2, 5));
        in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "x"));
        List<Redispatch> dl = deadLetters();
        assertEquals(1, dl.size());
        assertEquals(2, dl.get(0).attempt, "the last redispatch record");
        assertEquals(2, dl.get(0).attemptsSent);
        assertEquals("billing", dl.get(0).consumer);
        List<Alert> alerts = alerts();
        assertEquals(1, alerts.size());
        assertEquals(AlertType.REDISPATCH_EXHAUSTED, alerts.get(0).type);
        assertEquals(Severity.CRITICAL, alerts.get(0).severity);
        assertEquals(Strategy.DEAD_LETTER, alerts.get(0).strategy);
        assertEquals("x", alerts.get(0).deviceId);
        assertEquals(
                2,
                Json.parse(alerts.get(0).details.getBytes(StandardCharsets.UTF_8))
                        .get("attempts")
                        .asInt());
    }

    @Test
    void oneBacklogAlertPairForABacklogThatMovesAroundTheThreshold() throws Exception {
        open(1000, 4, null);
        at(P0);
        for (int i = 1; i <= 5; i++) in(attempt("billing", "d" + i, i, 1, 5)); // 5 > 4: BACKLOG
        in(event(DeliveryEvent.Kind.CLOSED, "billing", "d1"));
        in(event(DeliveryEvent.Kind.CLOSED, "billing", "d2")); // 3
        in(attempt("billing", "d1", 1, 1, 5));
        in(attempt("billing", "d2", 1, 1, 5)); // 5 again: still the same episode
        in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "d3")); // parked still counts
        for (String d : List.of("d1", "d2", "d4")) in(event(DeliveryEvent.Kind.CLOSED, "billing", d)); // 2 <= 4/2
        in(event(DeliveryEvent.Kind.CLOSED, "billing", "unknown")); // nothing to close
        List<Alert> backlog = alerts().stream()
                .filter(a -> a.type.name().startsWith("BACKLOG"))
                .collect(Collectors.toList());
        assertEquals(
                List.of("BACKLOG", "BACKLOG_CLEARED"),
                backlog.stream().map(a -> a.type.name()).collect(Collectors.toList()));
        assertEquals(Severity.WARNING, backlog.get(0).severity);
        assertEquals(Severity.INFO, backlog.get(1).severity);
        assertEquals("billing", backlog.get(0).consumer);
        assertEquals(null, backlog.get(0).deviceId);
        var open = Json.parse(backlog.get(0).details.getBytes(StandardCharsets.UTF_8));
        var cleared = Json.parse(backlog.get(1).details.getBytes(StandardCharsets.UTF_8));
        assertEquals(5, open.get("backlog").asLong());
        assertEquals(2, cleared.get("backlog").asLong());
        assertEquals(open.get("backlogEpisode"), cleared.get("backlogEpisode"));
    }

    @Test
    void theQueueSurvivesARestoreInItsOrder() throws Exception {
        open(1, 1000, null);
        at(P0);
        in(attempt("billing", "first", 0, 1, 5));
        in(attempt("billing", "c", 30, 1, 5));
        in(attempt("billing", "a", 10, 1, 5));
        in(attempt("billing", "b", 20, 1, 5));
        OperatorSubtaskState snapshot = h.snapshot(1, P0);
        h.close();
        seen = 0;
        open(1, 1000, snapshot);
        at(P0 + 500);
        assertEquals("", order(), "the budget is restored too: one per second");
        until(P0 + 4_000);
        assertEquals("billing:a#1,billing:b#1,billing:c#1", order());
    }

    @Test
    void anAttemptStillQueuedAtExhaustionIsTheDeadLetterWithTheAttemptsActuallySent() throws Exception {
        open(1, 1000, null);
        at(P0);
        in(attempt("billing", "x", 1, 1, 5)); // takes the second's budget
        in(attempt("billing", "y", 2, 1, 5)); // queued
        in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "y"));
        in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "z")); // the scheduler never saw z's attempts
        until(P0 + 3000);
        assertEquals("billing:x#1", order(), "a parked device's queued attempt is not sent");
        List<Redispatch> dl = deadLetters();
        assertEquals(2, dl.size());
        assertEquals("y", dl.get(0).state.deviceId);
        assertEquals(1, dl.get(0).attempt);
        assertEquals(0, dl.get(0).attemptsSent);
        assertEquals("z", dl.get(1).state.deviceId);
        assertEquals(0, dl.get(1).attemptsSent);
        assertEquals(
                2,
                alerts().stream()
                        .filter(a -> a.type == AlertType.REDISPATCH_EXHAUSTED)
                        .count());
    }

    @Test
    void aNewEpisodeOfAParkedDeviceCountsItsAttemptsAfresh() throws Exception {
        open(100, 1000, null);
        at(P0);
        in(attempt("billing", "x", 1, 1, 5));
        in(attempt("billing", "x", 1, 2, 5));
        in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "x"));
        DeliveryEvent next = attempt("billing", "x", 99, 1, 5); // the tracker forgot x and opened another episode
        next.seq = 40;
        in(next);
        in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "x"));
        List<Redispatch> dl = deadLetters();
        assertEquals(2, dl.size());
        assertEquals(2, dl.get(0).attemptsSent);
        assertEquals(1, dl.get(1).attemptsSent, "not 3");
    }

    private String gauges(String consumer) {
        var f = (RedispatchScheduler)
                ((org.apache.flink.streaming.api.operators.AbstractUdfStreamOperator<?, ?>) h.getOperator())
                        .getUserFunction();
        return java.util.Arrays.toString(f.gauges(consumer));
    }

    /**
     * A consumer dropped from the list at a restore is forgotten within the hour, also when nothing
     * of it comes again (only a parked device: no attempt queued, no drain timer).
     */
    @Test
    void aConsumerNoLongerListedIsForgottenWithinTheHourEvenIfNothingOfItComes() throws Exception {
        open(List.of("billing", "archive"), 1, 3, null);
        at(P0);
        in(event(DeliveryEvent.Kind.EXHAUSTED, "archive", "p")); // parked: nothing queued
        OperatorSubtaskState snapshot = h.snapshot(1, P0);
        h.close();
        open(List.of("billing"), 1, 3, snapshot);
        at(P0 + 1);
        assertTrue(h.numKeyedStateEntries() > 0, "archive's state came back");
        at(P0 + RedispatchScheduler.LISTING_CHECK_MS);
        assertEquals(0, h.numKeyedStateEntries(), "archive is forgotten");
        assertEquals(0, h.numProcessingTimeTimers());
    }

    /** The gauges are kept in operator state: right after a restore, before any event or timer. */
    @Test
    void theGaugesAreRightAtOnceAfterARestore() throws Exception {
        open(1, 2, null);
        at(P0);
        in(attempt("billing", "first", 0, 1, 5));
        in(attempt("billing", "b", 20, 1, 5));
        in(attempt("billing", "a", 10, 1, 5));
        in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "p"));
        in(attempt("dashboard", "d1", 5, 1, 5));
        String billing = gauges("billing");
        String dashboard = gauges("dashboard");
        assertEquals("[4, 2, 0]", billing, "four in the backlog, a and b queued, first waiting since 0");
        OperatorSubtaskState snapshot = h.snapshot(1, P0);
        h.close();
        open(1, 2, snapshot);
        assertEquals(billing, gauges("billing"));
        assertEquals(dashboard, gauges("dashboard"));
    }

    @Test
    void parkedDevicesAndEveryConsumerSurviveARestoreAndAnUnlistedConsumerIsForgotten() throws Exception {
        open(List.of("billing", "dashboard", "archive"), 1, 3, null);
        at(P0);
        in(attempt("billing", "first", 0, 1, 5));
        in(attempt("billing", "b", 20, 1, 5));
        in(attempt("billing", "a", 10, 1, 5));
        in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "p")); // parked
        in(attempt("dashboard", "d1", 5, 1, 5));
        in(attempt("dashboard", "d2", 6, 1, 5));
        for (int i = 0; i < 4; i++) in(attempt("archive", "r" + i, i, 1, 5)); // 4 > 3: BACKLOG
        OperatorSubtaskState snapshot = h.snapshot(1, P0);
        h.close();
        seen = 0;
        open(List.of("billing", "dashboard"), 1, 3, snapshot); // archive is no longer listed
        at(P0);
        until(P0 + 3000);
        assertEquals(
                List.of("billing:a#1", "billing:b#1"),
                sent().stream()
                        .filter(r -> r.consumer.equals("billing"))
                        .map(r -> r.consumer + ":" + r.state.deviceId + "#" + r.attempt)
                        .collect(Collectors.toList()));
        assertEquals(
                List.of("dashboard:d2#1"),
                sent().stream()
                        .filter(r -> r.consumer.equals("dashboard"))
                        .map(r -> r.consumer + ":" + r.state.deviceId + "#" + r.attempt)
                        .collect(Collectors.toList()));
        // billing's backlog: first, a, b, p (4 > 3) raised BACKLOG before; closing three of them clears it.
        for (String d : List.of("first", "a", "b")) in(event(DeliveryEvent.Kind.CLOSED, "billing", d));
        List<Alert> backlog = alerts().stream()
                .filter(a -> a.type.name().startsWith("BACKLOG"))
                .collect(Collectors.toList());
        assertEquals(
                List.of("BACKLOG_CLEARED"),
                backlog.stream().map(a -> a.type.name()).collect(Collectors.toList()),
                "the backlog and its open alert were restored with the parked device counted");
        assertEquals(
                1,
                Json.parse(backlog.get(0).details.getBytes(StandardCharsets.UTF_8))
                        .get("backlog")
                        .asLong());
        in(attempt("archive", "r9", 9, 1, 5));
        assertTrue(order().indexOf("archive") < 0, "an unlisted consumer gets nothing");
    }
}
