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
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The RedispatchScheduler (keyed by device) in a keyed harness, its backlog reports fed to a
 * DeliveryBacklog in a harness of its own (keyed by consumer), as in the job; processing time is
 * set by the test, on both.
 */
class RedispatchSchedulerTest {
    static final long P0 = 1_800_000_000_000L;
    static final Duration TTL = Duration.ofDays(7);
    private KeyedOneInputStreamOperatorTestHarness<String, DeliveryEvent, Redispatch> h;
    private KeyedOneInputStreamOperatorTestHarness<String, BacklogReport, Alert> backlog;
    private final List<long[]> sendTimes = new ArrayList<>();
    private int seen;
    private int reportsSeen;

    private void open(int rate, long threshold, OperatorSubtaskState restoreFrom) throws Exception {
        open(List.of("billing", "dashboard"), rate, threshold, restoreFrom, null);
    }

    private void open(
            List<String> consumers,
            int rate,
            long threshold,
            OperatorSubtaskState restoreFrom,
            OperatorSubtaskState backlogFrom)
            throws Exception {
        Map<String, Integer> rates = new java.util.HashMap<>();
        Map<String, Long> thresholds = new java.util.HashMap<>();
        for (String c : consumers) {
            rates.put(c, rate);
            thresholds.put(c, threshold);
        }
        open(consumers, rates, thresholds, restoreFrom, backlogFrom, null);
    }

    private void open(
            List<String> consumers,
            Map<String, Integer> rates,
            Map<String, Long> thresholds,
            OperatorSubtaskState restoreFrom,
            OperatorSubtaskState backlogFrom,
            StateBackend backend)
            throws Exception {
        h = scheduler(new RedispatchScheduler(consumers, rates), 1, 0);
        if (backend != null) h.setStateBackend(backend);
        long now = P0;
        if (backlog != null) { // a restore: the same time goes on
            now = backlog.getProcessingTime();
            backlog.close();
        }
        h.setProcessingTime(now);
        h.setup();
        if (restoreFrom != null) h.initializeState(restoreFrom);
        h.open();
        backlog = new KeyedOneInputStreamOperatorTestHarness<>(
                new KeyedProcessOperator<>(new DeliveryBacklog(consumers, thresholds)), r -> r.consumer, Types.STRING);
        backlog.setProcessingTime(now);
        backlog.setup();
        if (backlogFrom != null) backlog.initializeState(backlogFrom);
        backlog.open();
        reportsSeen = 0;
    }

    static KeyedOneInputStreamOperatorTestHarness<String, DeliveryEvent, Redispatch> scheduler(
            RedispatchScheduler op, int parallelism, int index) throws Exception {
        return new KeyedOneInputStreamOperatorTestHarness<>(op, e -> e.deviceId, Types.STRING, 128, parallelism, index);
    }

    @AfterEach
    void close() throws Exception {
        if (h != null) h.close();
        if (backlog != null) backlog.close();
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

    /** Processing time {@code t} on both; the reports that came out go to the backlog. */
    private void at(long t) throws Exception {
        h.setProcessingTime(t);
        note();
        backlog.setProcessingTime(t);
        pipeReports();
    }

    private void pipeReports() throws Exception {
        var reports = h.getSideOutput(RedispatchScheduler.BACKLOG_REPORTS);
        if (reports == null) return;
        List<BacklogReport> all = reports.stream().map(StreamRecord::getValue).collect(Collectors.toList());
        for (int i = reportsSeen; i < all.size(); i++) backlog.processElement(all.get(i), 0);
        reportsSeen = all.size();
    }

    /** Lets a second pass, so that the scheduler reports its backlog counts. */
    private void report() throws Exception {
        until(h.getProcessingTime() + RedispatchScheduler.REPORT_MS);
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

    /** The scheduler's alerts, then the backlog's. */
    private List<Alert> alerts() {
        var records = h.getSideOutput(Tags.ALERTS);
        List<Alert> all = new ArrayList<>(
                records == null
                        ? List.of()
                        : records.stream().map(StreamRecord::getValue).collect(Collectors.toList()));
        all.addAll(backlog.extractOutputValues());
        return all;
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
        open(
                List.of("billing"),
                Map.of("billing", 2),
                Map.of("billing", 1000L),
                null,
                null,
                backend.equals("rocksdb") ? new EmbeddedRocksDBStateBackend() : new HashMapStateBackend());
        RedispatchScheduler scheduler = (RedispatchScheduler) h.getOperator();
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
        assertEquals(0, h.numProcessingTimeTimers(), "no keyed timer");
    }

    @Test
    void eachConsumerHasItsOwnBudgetAndBacklogThreshold() throws Exception {
        open(
                List.of("billing", "dashboard"),
                Map.of("billing", 2, "dashboard", 10),
                Map.of("billing", 1000L, "dashboard", 3L),
                null,
                null,
                null);
        at(P0);
        for (int i = 0; i < 20; i++) {
            in(attempt("billing", "dev-" + i, i, 1, 5));
            in(attempt("dashboard", "dev-" + i, i, 1, 5));
        }
        at(P0 + RedispatchScheduler.REPORT_MS); // the counts reported: no more sent within the second
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
        assertEquals(0, h.numKeyedStateEntries());
        assertEquals(0, h.numProcessingTimeTimers(), "no keyed timer");
        report();
        assertTrue(h.getSideOutput(RedispatchScheduler.BACKLOG_REPORTS) == null, "no count changed: nothing reported");
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
        report();
        in(event(DeliveryEvent.Kind.CLOSED, "billing", "d1"));
        in(event(DeliveryEvent.Kind.CLOSED, "billing", "d2")); // 3
        report();
        in(attempt("billing", "d1", 1, 1, 5));
        in(attempt("billing", "d2", 1, 1, 5)); // 5 again: still the same episode
        report();
        in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "d3")); // parked still counts
        report();
        for (String d : List.of("d1", "d2", "d4")) in(event(DeliveryEvent.Kind.CLOSED, "billing", d)); // 2 <= 4/2
        in(event(DeliveryEvent.Kind.CLOSED, "billing", "unknown")); // nothing to close
        report();
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
        assertEquals("", order(), "a restored scheduler sends nothing in its first second: the budget holds");
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
        // Dead letters have a budget of their own: y's went at once, z's a second later.
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
        return java.util.Arrays.toString(((RedispatchScheduler) h.getOperator()).gauges(consumer));
    }

    private long backlogGauge(String consumer) {
        var f = (DeliveryBacklog) ((KeyedProcessOperator<?, ?, ?>) backlog.getOperator()).getUserFunction();
        return f.gauge(consumer);
    }

    /**
     * A consumer dropped from the list at a restore is forgotten by the backlog within the hour,
     * also when nothing of it comes again; the scheduler ignores what comes of it.
     */
    @Test
    void aConsumerNoLongerListedIsForgottenWithinTheHourEvenIfNothingOfItComes() throws Exception {
        open(List.of("billing", "archive"), 1, 3, null, null);
        at(P0);
        in(event(DeliveryEvent.Kind.EXHAUSTED, "archive", "p")); // parked: nothing queued
        report();
        OperatorSubtaskState snapshot = h.snapshot(1, h.getProcessingTime());
        OperatorSubtaskState backlogSnapshot = backlog.snapshot(1, h.getProcessingTime());
        h.close();
        open(List.of("billing"), 1, 3, snapshot, backlogSnapshot);
        at(P0 + 2_000);
        assertTrue(backlog.numKeyedStateEntries() > 0, "archive's backlog came back");
        in(attempt("archive", "q", 1, 1, 5));
        at(P0 + DeliveryBacklog.LISTING_CHECK_MS);
        assertEquals(0, backlog.numKeyedStateEntries(), "archive is forgotten");
        assertEquals(0, backlog.numProcessingTimeTimers());
        assertTrue(order().indexOf("archive") < 0, "an unlisted consumer gets nothing");
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
        report();
        String billing = gauges("billing");
        String dashboard = gauges("dashboard");
        assertEquals(
                "[4, 2, 0]",
                billing,
                "four in the backlog; a and b queued (p's dead letter went within its own budget); first waiting since 0");
        assertEquals(4, backlogGauge("billing"));
        OperatorSubtaskState snapshot = h.snapshot(1, h.getProcessingTime());
        OperatorSubtaskState backlogSnapshot = backlog.snapshot(1, h.getProcessingTime());
        h.close();
        open(List.of("billing", "dashboard"), 1, 2, snapshot, backlogSnapshot);
        assertEquals(billing, gauges("billing"));
        assertEquals(dashboard, gauges("dashboard"));
        assertEquals(4, backlogGauge("billing"));
        assertEquals(1, backlogGauge("dashboard"));
    }

    @Test
    void parkedDevicesAndEveryConsumerSurviveARestoreAndAnUnlistedConsumerIsForgotten() throws Exception {
        open(List.of("billing", "dashboard", "archive"), 1, 3, null, null);
        at(P0);
        in(attempt("billing", "first", 0, 1, 5));
        in(attempt("billing", "b", 20, 1, 5));
        in(attempt("billing", "a", 10, 1, 5));
        in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "p")); // parked
        in(attempt("dashboard", "d1", 5, 1, 5));
        in(attempt("dashboard", "d2", 6, 1, 5));
        for (int i = 0; i < 4; i++) in(attempt("archive", "r" + i, i, 1, 5)); // 4 > 3: BACKLOG
        at(P0 + RedispatchScheduler.REPORT_MS); // reported; a, b (billing), d2 and three of archive's still queued
        OperatorSubtaskState snapshot = h.snapshot(1, h.getProcessingTime());
        OperatorSubtaskState backlogSnapshot = backlog.snapshot(1, h.getProcessingTime());
        h.close();
        seen = 0;
        open(List.of("billing", "dashboard"), 1, 3, snapshot, backlogSnapshot); // archive is no longer listed
        at(P0 + 1_000);
        until(P0 + 4_000); // a, b: a second apart from P0 + 2 s
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
        report();
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

    /**
     * No hot key: the scheduler is keyed by device, so two subtasks each schedule their own devices
     * with half the budget. Each sends its share, longest waiting first among its own, and the two
     * together never exceed the budget in any one-second window.
     */
    @Test
    void twoSubtasksShareTheBudgetAndTheWorkAndKeepTheOrderEach() throws Exception {
        int rate = 4;
        List<KeyedOneInputStreamOperatorTestHarness<String, DeliveryEvent, Redispatch>> subtasks = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            var sub = scheduler(new RedispatchScheduler(List.of("billing"), rate), 2, i);
            sub.setProcessingTime(P0);
            sub.setup();
            sub.open();
            subtasks.add(sub);
        }
        try {
            int[] fed = new int[2];
            java.util.Map<String, Long> waiting = new java.util.HashMap<>();
            for (int d = 0; d < 200; d++) {
                String device = "dev-" + d;
                int owner = org.apache.flink.runtime.state.KeyGroupRangeAssignment.assignKeyToParallelOperator(
                        device, 128, 2);
                long since = (d * 7919L) % 1000; // not in the devices' order
                waiting.put(device, since);
                subtasks.get(owner).processElement(attempt("billing", device, since, 1, 5), 0);
                fed[owner]++;
            }
            List<long[]> sends = new ArrayList<>(); // time, subtask
            int[] seenBy = new int[2];
            for (long t = P0; t <= P0 + 120_000; t += 10) {
                for (int i = 0; i < 2; i++) {
                    var sub = subtasks.get(i);
                    sub.setProcessingTime(t);
                    List<Redispatch> out = sub.extractOutputValues();
                    for (int k = seenBy[i]; k < out.size(); k++) sends.add(new long[] {t, i});
                    seenBy[i] = out.size();
                }
            }
            for (int i = 0; i < 2; i++) {
                assertTrue(fed[i] > 60, "the devices spread over both subtasks: " + Arrays.toString(fed));
                List<Redispatch> out = subtasks.get(i).extractOutputValues();
                assertEquals(fed[i], out.size(), "subtask " + i + " sent all of its own");
                // The first ones went as they came, within the budget; the rest waited, in order.
                for (int k = rate / 2 + 1; k < out.size(); k++) {
                    assertTrue(
                            waiting.get(out.get(k - 1).state.deviceId) <= waiting.get(out.get(k).state.deviceId),
                            "longest waiting first within subtask " + i);
                }
            }
            for (long[] a : sends) {
                long inWindow = sends.stream()
                        .filter(o -> o[0] >= a[0] && o[0] < a[0] + 1000)
                        .count();
                assertTrue(inWindow <= rate, inWindow + " sends in the second from " + a[0]);
                long mine = sends.stream()
                        .filter(o -> o[1] == a[1] && o[0] >= a[0] && o[0] < a[0] + 1000)
                        .count();
                assertTrue(mine <= rate / 2, "subtask " + a[1] + " keeps to its half: " + mine);
            }
        } finally {
            for (var sub : subtasks) sub.close();
        }
    }

    /**
     * Restored at another parallelism (two subtasks into one), the queues keep their order and the
     * backlog its count: the new subtask reports every key group it now owns.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void aRescaledRestoreKeepsTheQueueOrderAndTheBacklog(String backend) throws Exception {
        List<OperatorSubtaskState> states = new ArrayList<>();
        var backlogAlerts = new KeyedOneInputStreamOperatorTestHarness<String, BacklogReport, Alert>(
                new KeyedProcessOperator<>(new DeliveryBacklog(List.of("billing"), 1000L)),
                r -> r.consumer,
                Types.STRING);
        backlogAlerts.setProcessingTime(P0);
        backlogAlerts.setup();
        backlogAlerts.open();
        java.util.Map<String, Long> waiting = new java.util.TreeMap<>();
        for (int i = 0; i < 2; i++) {
            try (var sub = scheduler(new RedispatchScheduler(List.of("billing"), 2), 2, i)) {
                sub.setStateBackend(
                        backend.equals("rocksdb") ? new EmbeddedRocksDBStateBackend() : new HashMapStateBackend());
                sub.setProcessingTime(P0);
                sub.setup();
                sub.open();
                for (int d = 0; d < 40; d++) {
                    String device = "dev-" + d;
                    if (org.apache.flink.runtime.state.KeyGroupRangeAssignment.assignKeyToParallelOperator(
                                    device, 128, 2)
                            != i) continue;
                    long since = 1000 - d;
                    waiting.put(device, since);
                    sub.processElement(attempt("billing", device, since, 1, 5), 0);
                }
                sub.setProcessingTime(P0 + RedispatchScheduler.REPORT_MS);
                for (var r : sub.getSideOutput(RedispatchScheduler.BACKLOG_REPORTS)) {
                    backlogAlerts.processElement(r.getValue(), 0);
                }
                states.add(sub.snapshot(1, P0 + RedispatchScheduler.REPORT_MS));
            }
        }
        var f = (DeliveryBacklog) ((KeyedProcessOperator<?, ?, ?>) backlogAlerts.getOperator()).getUserFunction();
        assertEquals(40, f.gauge("billing"));
        OperatorSubtaskState merged =
                AbstractStreamOperatorTestHarness.repackageState(states.toArray(new OperatorSubtaskState[0]));
        try (var one = scheduler(new RedispatchScheduler(List.of("billing"), 2), 1, 0)) {
            one.setStateBackend(
                    backend.equals("rocksdb") ? new EmbeddedRocksDBStateBackend() : new HashMapStateBackend());
            one.setProcessingTime(P0 + 2_000);
            one.setup();
            one.initializeState(AbstractStreamOperatorTestHarness.repartitionOperatorState(merged, 128, 2, 1, 0));
            one.open();
            for (long t = P0 + 2_000; t <= P0 + 60_000; t += 10) one.setProcessingTime(t);
            List<Redispatch> out = one.extractOutputValues();
            long sentBefore = 2; // each subtask, with half the budget, sent its first at once
            assertEquals(40 - sentBefore, out.size(), "every queued attempt, once");
            for (int k = 1; k < out.size(); k++) {
                assertTrue(
                        waiting.get(out.get(k - 1).state.deviceId) <= waiting.get(out.get(k).state.deviceId),
                        "longest waiting first, across what both subtasks had queued");
            }
            for (var r : one.getSideOutput(RedispatchScheduler.BACKLOG_REPORTS)) {
                backlogAlerts.processElement(r.getValue(), 0);
            }
            assertEquals(40, f.gauge("billing"), "the backlog is the same after the rescale");
        } finally {
            backlogAlerts.close();
        }
    }

    /**
     * A consumer down for a whole fleet exhausts every device's attempts at about the same time: the
     * dead letters (each with its REDISPATCH_EXHAUSTED) go at the budget's rate (a budget of their
     * own: redispatches do not wait behind them), longest waiting first, never all at once; an ack
     * before a dead letter's turn does not take it back (the episode was exhausted).
     */
    @Test
    void deadLettersFlowAtTheBudgetsRate() throws Exception {
        int rate = 3;
        open(rate, 1_000_000, null);
        at(P0);
        for (int i = 0; i < 30; i++) in(event(DeliveryEvent.Kind.EXHAUSTED, "billing", "dev-" + i));
        in(event(DeliveryEvent.Kind.CLOSED, "billing", "dev-29")); // acked before its dead letter's turn
        in(attempt("billing", "fresh", 5, 1, 5)); // another device's redispatch: not behind the dead letters
        assertEquals("billing:fresh#1", order());
        List<long[]> times = new ArrayList<>();
        int seenDl = 0;
        for (long t = P0; t <= P0 + 20_000; t += 10) {
            at(t);
            List<Redispatch> dl = deadLetters();
            for (int k = seenDl; k < dl.size(); k++) times.add(new long[] {t});
            seenDl = dl.size();
        }
        assertEquals(30, times.size(), "every dead letter in the end");
        for (long[] a : times) {
            long inWindow = times.stream()
                    .filter(o -> o[0] >= a[0] && o[0] < a[0] + 1000)
                    .count();
            assertTrue(inWindow <= rate, inWindow + " dead letters in the second from " + a[0]);
        }
        assertEquals(
                30,
                alerts().stream()
                        .filter(a -> a.type == AlertType.REDISPATCH_EXHAUSTED)
                        .count(),
                "one alert with each");
        assertTrue(times.get(29)[0] - times.get(0)[0] >= 9_000, "spread over ten seconds at 3 a second");
    }

    /**
     * A consumer dropped from the list and listed again starts afresh (DESIGN.md): what its earlier
     * listing left in the state (queued attempts, entries, counts) sends and counts nothing.
     */
    @Test
    void aConsumerListedAgainStartsAfresh() throws Exception {
        open(List.of("billing", "archive"), 1, 1000, null, null);
        at(P0);
        for (int i = 0; i < 4; i++) in(attempt("archive", "r" + i, i, 1, 5)); // r0 sent, three queued
        in(event(DeliveryEvent.Kind.EXHAUSTED, "archive", "p"));
        report();
        OperatorSubtaskState withArchive = h.snapshot(1, h.getProcessingTime());
        OperatorSubtaskState backlogWith = backlog.snapshot(1, h.getProcessingTime());
        h.close();
        open(List.of("billing"), 1, 1000, withArchive, backlogWith);
        at(h.getProcessingTime() + 10);
        OperatorSubtaskState without = h.snapshot(2, h.getProcessingTime());
        OperatorSubtaskState backlogWithout = backlog.snapshot(2, h.getProcessingTime());
        h.close();
        seen = 0;
        open(List.of("billing", "archive"), 1, 1000, without, backlogWithout);
        assertEquals("[0, 0, " + Long.MAX_VALUE + "]", gauges("archive"), "nothing of the earlier listing counts");
        until(h.getProcessingTime() + 5_000);
        assertEquals("", order(), "nothing of the earlier listing is sent");
        assertTrue(deadLetters().isEmpty());
        in(event(DeliveryEvent.Kind.CLOSED, "archive", "p")); // a left-over entry: nothing to close
        in(attempt("archive", "r1", 50, 1, 5)); // a new episode of a device with a left-over entry
        report();
        assertEquals("archive:r1#1", order());
        assertEquals("[1, 0, 50]", gauges("archive"), "counted once, afresh");
        assertEquals(1, backlogGauge("archive"));
    }
}
