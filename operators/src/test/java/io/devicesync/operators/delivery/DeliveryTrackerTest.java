package io.devicesync.operators.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.model.Ack;
import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Json;
import io.devicesync.model.RecordSource;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.operators.util.Tags;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The DeliveryTracker in a keyed harness, event time driven by watermarks. Schedule: ack timeout
 * 30 s, checkpoint interval 10 s, backoff 5 s doubling up to 60 s, 3 attempts.
 */
class DeliveryTrackerTest {
    static final long T0 = 1_763_800_000_123L; // not on a second: timers round up
    static final DeliverySchedule SCHEDULE = new DeliverySchedule(
            Duration.ofSeconds(30), Duration.ofSeconds(10), 3, Duration.ofSeconds(5), Duration.ofSeconds(60));

    private KeyedTwoInputStreamOperatorTestHarness<String, DeviceState, AckBatch, DeliveryEvent> h;
    private long watermark = Long.MIN_VALUE;
    private DeliveryTracker tracker; // the one openWithIdleTtl made

    private void open(List<String> consumers) throws Exception {
        open(consumers, null);
    }

    /** A harness on the job's operator; restored from {@code snapshot} when there is one. */
    private void open(List<String> consumers, OperatorSubtaskState snapshot) throws Exception {
        open(consumers, snapshot, false);
    }

    private void open(List<String> consumers, OperatorSubtaskState snapshot, boolean earlierBuild) throws Exception {
        DeliveryTrackerOperator op = new DeliveryTrackerOperator(
                new DeliveryTracker(consumers, SCHEDULE, Duration.ofDays(30), Duration.ofMinutes(5)));
        h = new KeyedTwoInputStreamOperatorTestHarness<>(
                earlierBuild ? op.asAnEarlierBuild() : op, s -> s.deviceId, a -> a.deviceId, Types.STRING);
        h.setup();
        if (snapshot != null) h.initializeState(snapshot);
        h.open();
        watermark = Long.MIN_VALUE;
    }

    @AfterEach
    void close() throws Exception {
        if (h != null) h.close();
    }

    static DeviceState version(String device, long epoch, long seq, long ts) {
        return new DeviceState(
                device,
                epoch,
                seq,
                ts,
                ("{\"seq\":" + seq + "}").getBytes(StandardCharsets.UTF_8),
                RecordSource.INCREMENT);
    }

    private void publish(String device, long seq, long ts) throws Exception {
        h.processElement1(version(device, 0, seq, ts), ts);
    }

    private void ack(String consumer, String device, long epoch, long seq, long ts) throws Exception {
        h.processElement2(AckBatch.of(new Ack(consumer, device, epoch, seq, ts)), ts);
    }

    private void watermark(long t) throws Exception {
        watermark = t;
        h.processBothWatermarks(new Watermark(t));
    }

    /** Advances the watermark second by second to {@code until}, noting when each event came out. */
    private List<long[]> advance(long until) throws Exception {
        List<long[]> seen = new ArrayList<>();
        int before = events().size();
        long from = Math.floorDiv(watermark == Long.MIN_VALUE ? T0 : watermark, 1000) * 1000;
        for (long t = from + 1000; t <= until; t += 1000) {
            watermark(t);
            List<DeliveryEvent> now = events();
            for (int i = before; i < now.size(); i++) seen.add(new long[] {t, i});
            before = now.size();
        }
        return seen;
    }

    private List<DeliveryEvent> events() {
        return h.extractOutputValues();
    }

    private List<Alert> alerts() {
        var records = h.getSideOutput(Tags.ALERTS);
        return records == null
                ? List.of()
                : records.stream().map(StreamRecord::getValue).collect(Collectors.toList());
    }

    private String kinds() {
        return events().stream()
                .map(e -> e.kind + (e.kind == DeliveryEvent.Kind.ATTEMPT ? "#" + e.attempt : ""))
                .collect(Collectors.joining(","));
    }

    @Test
    void aVersionPublishedDuringACatchUpGetsItsDeadlineInWallClockTime() throws Exception {
        // The job reads a backlog: event time is 20 minutes behind the wall clock and runs ahead
        // many times faster than it while the job catches up.
        open(List.of("billing"));
        long wallClock = T0 + Duration.ofMinutes(20).toMillis();
        h.setProcessingTime(wallClock);
        watermark(T0 - 1000);
        publish("d", 1, T0);
        advance(T0 + Duration.ofMinutes(19).toMillis()); // 19 minutes of backlog read in a few seconds
        assertEquals("", kinds(), "no deadline passed: the consumer could not have read the version yet");
        assertEquals(List.of(), alerts());
        // Caught up: event time follows the wall clock again; the consumer still has not acked.
        advance(wallClock + 40_000 + 1000);
        assertEquals(
                1,
                alerts().stream().filter(a -> a.type == AlertType.UNCONSUMED).count(),
                "the deadline counts from the wall-clock publication: ack timeout + checkpoint interval");
    }

    @Test
    void eachConsumerHasItsOwnAckTimeoutAndAttempts() throws Exception {
        // billing: the job-wide schedule (30 s + 10 s, 3 attempts); dashboard: 5 s + 10 s, 1 attempt.
        DeliverySchedule fast = new DeliverySchedule(
                Duration.ofSeconds(5), Duration.ofSeconds(10), 1, Duration.ofSeconds(5), Duration.ofSeconds(60));
        h = new KeyedTwoInputStreamOperatorTestHarness<>(
                new DeliveryTrackerOperator(new DeliveryTracker(
                        List.of("billing", "dashboard"),
                        java.util.Map.of("billing", SCHEDULE, "dashboard", fast),
                        Duration.ofDays(30),
                        Duration.ofMinutes(5))),
                s -> s.deviceId,
                a -> a.deviceId,
                Types.STRING);
        h.setup();
        h.open();
        watermark(T0 - 5000);
        publish("d", 1, T0);
        List<long[]> seen = advance(T0 + 60_000);
        List<DeliveryEvent> out = events();
        DeliveryEvent first = out.get((int) seen.get(0)[1]);
        assertEquals("dashboard", first.consumer, "dashboard's deadline (15 s) comes first");
        assertEquals(DeliverySchedule.roundUpToSecond(T0 + 15_000), seen.get(0)[0]);
        long billingAt = seen.stream()
                .filter(e -> out.get((int) e[1]).consumer.equals("billing"))
                .findFirst()
                .orElseThrow()[0];
        assertEquals(DeliverySchedule.roundUpToSecond(T0 + 40_000), billingAt, "billing's at 40 s");
        // dashboard has one attempt: exhausted 15 s after it; billing is still on its second.
        assertTrue(
                out.stream().anyMatch(e -> e.consumer.equals("dashboard") && e.kind == DeliveryEvent.Kind.EXHAUSTED),
                kinds());
        assertTrue(
                out.stream().noneMatch(e -> e.consumer.equals("billing") && e.kind == DeliveryEvent.Kind.EXHAUSTED),
                kinds());
    }

    @Test
    void theDeadlineIsNeverEarlyAndRoundedUpToTheSecond() throws Exception {
        open(List.of("billing"));
        watermark(T0 - 5000);
        publish("d", 1, T0);
        long deadline = T0 + 40_000; // ack timeout + checkpoint interval
        long timer = DeliverySchedule.roundUpToSecond(deadline);
        assertTrue(timer > deadline);
        assertEquals(1, h.numEventTimeTimers());
        watermark(deadline);
        assertTrue(alerts().isEmpty(), "not before the timer, rounded up");
        watermark(timer - 1);
        assertTrue(alerts().isEmpty());
        watermark(timer);
        assertEquals(1, alerts().size());
        assertEquals("ATTEMPT#1", kinds());
    }

    @Test
    void theDeadlineCountsFromTheWatermarkWhenTheVersionIsOlder() throws Exception {
        open(List.of("billing"));
        watermark(T0 + 100_000);
        publish("d", 1, T0); // published late: counted from the watermark
        watermark(T0 + 100_000 + 39_000);
        assertTrue(alerts().isEmpty());
        watermark(T0 + 100_000 + 41_000);
        assertEquals(1, alerts().size());
    }

    @Test
    void healthyAcksCauseNothingAndLeaveNoStateOrTimer() throws Exception {
        open(List.of("billing", "dashboard"));
        watermark(T0);
        publish("d", 1, T0);
        assertEquals(2, h.numKeyedStateEntries(), "pending: the positions and the latest version");
        publish("d", 2, T0 + 10);
        ack("billing", "d", 0, 1, T0 + 500);
        ack("dashboard", "d", 0, 2, T0 + 600);
        ack("billing", "d", 0, 2, T0 + 700);
        assertEquals(
                1, h.numKeyedStateEntries(), "nothing pending: the latest version is gone, the positions stay a while");
        assertEquals(1, h.numEventTimeTimers(), "one timer, set at the first publication, kept");
        for (int v = 3; v <= 20; v++) { // a device that publishes and is acknowledged all the time
            publish("d", v, T0 + v * 100);
            ack("billing", "d", 0, v, T0 + v * 100 + 50);
            ack("dashboard", "d", 0, v, T0 + v * 100 + 60);
        }
        assertEquals(1, h.numEventTimeTimers(), "no timer per version");
        advance(T0 + 600_000);
        assertTrue(events().isEmpty());
        assertTrue(alerts().isEmpty());
        assertEquals(0, h.numEventTimeTimers(), "quiet for a deadline: forgotten");
        assertEquals(0, h.numKeyedStateEntries());
    }

    /**
     * A consumer that replays its acks from the beginning (issue 16): every one is stale, for a
     * device that still has its positions or one already forgotten. No attempt, no alert, no state
     * or timer left. (What is left: each ack for a forgotten device still sends the scheduler a
     * CLOSED, which it drops; for a replay of millions, a flood on the consumer's key.)
     */
    @Test
    void aConsumerReplayingItsAcksFromTheBeginningCausesNoAttemptNoAlertAndNoState() throws Exception {
        open(List.of("billing"));
        watermark(T0);
        for (int v = 1; v <= 50; v++) {
            publish("d", v, T0 + v);
            ack("billing", "d", 0, v, T0 + v + 1);
        }
        for (int v = 1; v <= 50; v++) ack("billing", "d", 0, v, T0 + 100 + v); // replayed, positions still kept
        assertTrue(events().isEmpty(), kinds());
        advance(T0 + 600_000); // quiet: forgotten
        assertEquals(0, h.numKeyedStateEntries());
        for (int v = 1; v <= 50; v++) ack("billing", "d", 0, v, T0 + 600_000 + v); // replayed after it was forgotten
        advance(T0 + 1_200_000);
        assertTrue(alerts().isEmpty(), alerts().toString());
        assertTrue(
                events().stream().allMatch(e -> e.kind == DeliveryEvent.Kind.CLOSED),
                "nothing but CLOSED for the scheduler to drop: " + kinds());
        assertEquals(0, h.numKeyedStateEntries(), "no state grows from stale acks");
        assertEquals(0, h.numEventTimeTimers());
    }

    /**
     * Issue 16's parked-device leak: a parked device is forgotten by its own timer once it has had
     * neither publication nor ack for the idle TTL, and the scheduler is told (CLOSED), so that it
     * leaves the consumer's backlog; one that publishes meanwhile is kept that much longer.
     */
    @Test
    void aParkedDeviceSilentForTheIdleTtlIsForgottenAndLeavesTheBacklog() throws Exception {
        Duration idleTtl = Duration.ofMinutes(30);
        h = new KeyedTwoInputStreamOperatorTestHarness<>(
                new DeliveryTrackerOperator(
                        new DeliveryTracker(List.of("billing"), SCHEDULE, idleTtl, Duration.ofMinutes(5))),
                s -> s.deviceId,
                a -> a.deviceId,
                Types.STRING);
        h.setup();
        h.open();
        watermark(T0 - 1000);
        publish("d", 1, T0);
        publish("e", 1, T0);
        advance(T0 + 400_000);
        assertEquals("ATTEMPT#1,ATTEMPT#1,ATTEMPT#2,ATTEMPT#2,ATTEMPT#3,ATTEMPT#3,EXHAUSTED,EXHAUSTED", kinds());
        long parkedAt = watermark;
        assertEquals(2, h.numEventTimeTimers(), "a parked device has the timer of its end");
        publish("e", 2, parkedAt + 10 * 60_000 - 1000); // e publishes again 10 minutes later: kept longer
        advance(parkedAt + idleTtl.toMillis() + 2000);
        List<DeliveryEvent> closed = events().stream()
                .filter(ev -> ev.kind == DeliveryEvent.Kind.CLOSED)
                .collect(Collectors.toList());
        assertEquals(1, closed.size(), kinds());
        assertEquals("d", closed.get(0).deviceId);
        assertEquals("billing", closed.get(0).consumer);
        advance(parkedAt + idleTtl.toMillis() + 11 * 60_000);
        assertEquals(
                2,
                events().stream()
                        .filter(ev -> ev.kind == DeliveryEvent.Kind.CLOSED)
                        .count(),
                kinds());
        assertEquals(0, h.numKeyedStateEntries(), "both forgotten");
        assertEquals(0, h.numEventTimeTimers());
        assertTrue(
                alerts().stream()
                        .noneMatch(a -> a.type == AlertType.UNCONSUMED
                                && a.deviceId.equals("e")
                                && a.details.contains("\"seq\":2")),
                "a parked device's new version opens no episode");
    }

    /**
     * Issue 16's other parked leak: the job stopped for more than a day just as a parked device's
     * idle TTL ran out, so its state expired by the TTL backstop (a day past the idle TTL, in
     * processing time) before its forget timer fired. The timer still fires: every listed
     * consumer's scheduler is told (CLOSED), and drops the entry it has, so the device leaves the
     * backlog. {@code billing} acknowledged, so only {@code archive} is parked: its CLOSED alone
     * would be the ordinary forgetting of a parked device; billing's shows the state was gone.
     */
    @Test
    void aDeviceWhoseStateExpiredBeforeItsForgetTimerFiredStillLeavesTheBacklog() throws Exception {
        Duration idleTtl = Duration.ofMinutes(30);
        openWithIdleTtl(idleTtl, null);
        h.setStateTtlProcessingTime(T0);
        watermark(T0 - 1000);
        publish("d", 1, T0);
        ack("billing", "d", 0, 1, T0 + 1000);
        advance(T0 + 400_000);
        assertEquals("ATTEMPT#1,ATTEMPT#2,ATTEMPT#3,EXHAUSTED", kinds(), "archive parked");
        assertEquals(1, h.numEventTimeTimers(), "the timer of its end");
        // Stopped for two days: the state's TTL (idle TTL + 1 day, processing time) has passed.
        h.setStateTtlProcessingTime(T0 + 400_000 + Duration.ofDays(2).toMillis());
        advance(watermark + idleTtl.toMillis() + 2000);
        assertEquals(List.of("billing/d", "archive/d"), closed(), kinds());
        assertEquals(1, tracker.expiredDevicesForgotten());
        assertEquals(0, h.numEventTimeTimers());
        assertEquals(0, h.numKeyedStateEntries(), "nothing left of the device");
        advance(watermark + idleTtl.toMillis() + 2000);
        assertEquals(2, closed().size(), "told once");
        assertEquals(1, tracker.expiredDevicesForgotten());
    }

    /**
     * The same after a drained stop, whose end of event time spent the parked device's timer: the
     * restored job's pass over the devices finds the expired state and tells the schedulers.
     */
    @Test
    void aDeviceThatExpiredWhileTheJobWasStoppedDrainedLeavesTheBacklogAtTheRestore() throws Exception {
        Duration idleTtl = Duration.ofMinutes(30);
        openWithIdleTtl(idleTtl, null);
        h.setStateTtlProcessingTime(T0);
        watermark(T0 - 1000);
        publish("d", 1, T0);
        publish("e", 1, T0);
        advance(T0 + 400_000);
        // f publishes a day and a half later (processing time): alive at the restore, not expired.
        long fAt = watermark + 1000;
        h.setStateTtlProcessingTime(T0 + Duration.ofHours(36).toMillis());
        publish("f", 1, fAt);
        watermark(Long.MAX_VALUE); // flink stop --drain
        assertEquals(List.of(), closed(), "parked for d and e, nothing closed: " + kinds());
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        openWithIdleTtl(idleTtl, snapshot, T0 + 400_000 + Duration.ofDays(2).toMillis());
        List<String> closed = closed();
        assertEquals(4, closed.size(), closed.toString());
        assertEquals(
                java.util.Set.of("billing/d", "archive/d", "billing/e", "archive/e"), new java.util.HashSet<>(closed));
        assertEquals(2, tracker.expiredDevicesForgotten());
        assertEquals(1, h.numEventTimeTimers(), "f's deadline armed again, nothing of d and e");
        advance(fAt + 40_000); // past f's 30 s deadline
        assertTrue(kinds().contains("ATTEMPT#1"), "f is tracked on: " + kinds());
        assertEquals(4, closed().size(), "f is not closed: " + kinds());
    }

    /**
     * A drained restore gives every value it keeps a timer, even one with nothing noted to time (a
     * parked device with no timer and no end: no build writes one, but with no cleanup in the
     * background such a value would otherwise stay forever, in the backlog): it gets the end of a
     * parked device, the idle TTL from the restore's wall clock, and is forgotten then, its
     * scheduler told.
     */
    @Test
    void aDrainedRestoreArmsEvenAValueWithNothingNotedToTime() throws Exception {
        Duration idleTtl = Duration.ofMinutes(30);
        openWithIdleTtl(idleTtl, null);
        watermark(T0 - 1000);
        publish("d", 1, T0);
        ack("billing", "d", 0, 1, T0 + 1000);
        advance(T0 + 400_000);
        assertEquals("ATTEMPT#1,ATTEMPT#2,ATTEMPT#3,EXHAUSTED", kinds(), "archive parked");
        // The value as no build writes it: parked only, no timer, no end.
        h.getOperator().setCurrentKey("d");
        var state = h.getOperator().getKeyedStateStore().getState(DeliveryTracker.stateDescriptor(idleTtl));
        DeliveryState s = DeliveryTracker.stateOf(state);
        s.timer = 0;
        s.forgetAt = 0;
        state.update(s);
        watermark(Long.MAX_VALUE); // flink stop --drain
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        long restoredAt = T0 + 500_000;
        tracker = new DeliveryTracker(List.of("billing", "archive"), SCHEDULE, idleTtl, Duration.ofMinutes(5));
        h = new KeyedTwoInputStreamOperatorTestHarness<>(
                new DeliveryTrackerOperator(tracker), v -> v.deviceId, a -> a.deviceId, Types.STRING);
        h.setup();
        h.initializeState(snapshot);
        h.setProcessingTime(restoredAt);
        h.open();
        watermark = Long.MIN_VALUE;
        assertEquals(1, h.numEventTimeTimers(), "armed");
        watermark(restoredAt + idleTtl.toMillis() - 2000);
        assertEquals(List.of(), closed(), "kept until its end");
        advance(restoredAt + idleTtl.toMillis() + 2000);
        assertEquals(List.of("archive/d"), closed(), kinds());
        assertEquals(0, h.numKeyedStateEntries(), "forgotten");
        assertEquals(0, h.numEventTimeTimers());
    }

    /**
     * The tracker's state has no cleanup in the background (a configuration flag, checked here):
     * a drained restore's pass lists the stored keys, and must find an expired device to tell its
     * schedulers; RocksDB's compaction filter would drop it unseen. (A timer needs no value: it
     * tells them on finding none.)
     */
    @Test
    void theTrackerStateHasNoCleanupInTheBackground() {
        var ttl = DeliveryTracker.stateDescriptor(Duration.ofDays(30)).getTtlConfig();
        assertTrue(ttl.isEnabled());
        assertFalse(ttl.getCleanupStrategies().isCleanupInBackground());
    }

    private void openWithIdleTtl(Duration idleTtl, OperatorSubtaskState snapshot) throws Exception {
        openWithIdleTtl(idleTtl, snapshot, -1);
    }

    private void openWithIdleTtl(Duration idleTtl, OperatorSubtaskState snapshot, long ttlTime) throws Exception {
        tracker = new DeliveryTracker(List.of("billing", "archive"), SCHEDULE, idleTtl, Duration.ofMinutes(5));
        h = new KeyedTwoInputStreamOperatorTestHarness<>(
                new DeliveryTrackerOperator(tracker), s -> s.deviceId, a -> a.deviceId, Types.STRING);
        h.setup();
        if (snapshot != null) h.initializeState(snapshot);
        if (ttlTime >= 0) h.setStateTtlProcessingTime(ttlTime);
        h.open();
        watermark = Long.MIN_VALUE;
    }

    private List<String> closed() {
        return events().stream()
                .filter(ev -> ev.kind == DeliveryEvent.Kind.CLOSED)
                .map(ev -> ev.consumer + "/" + ev.deviceId)
                .collect(Collectors.toList());
    }

    @Test
    void aParkedDeviceWhoseConsumerAcknowledgesIsForgottenOneDeadlineAfterItFellQuiet() throws Exception {
        open(List.of("billing"));
        watermark(T0 - 1000);
        publish("d", 1, T0);
        advance(T0 + 400_000);
        assertTrue(kinds().endsWith("EXHAUSTED"), kinds());
        ack("billing", "d", 0, 1, watermark + 10); // the consumer is back: nothing pending, quiet
        assertEquals(1, h.numEventTimeTimers(), "the parking's end (30 days out) replaced by the quiet end");
        advance(watermark + 60_000);
        assertEquals(0, h.numKeyedStateEntries(), "forgotten one deadline after it fell quiet");
        assertEquals(0, h.numEventTimeTimers());
    }

    @Test
    void oneUnconsumedPerEpisodeAttemptsOnScheduleWithTheLatestStateThenExhaustion() throws Exception {
        open(List.of("billing"));
        watermark(T0 - 1000);
        publish("d", 1, T0);
        List<long[]> fired = new ArrayList<>(advance(T0 + 45_000));
        assertEquals("ATTEMPT#1", kinds());
        publish("d", 2, watermark + 10); // a newer version: the next attempt carries it
        fired.addAll(advance(T0 + 400_000));
        assertEquals("ATTEMPT#1,ATTEMPT#2,ATTEMPT#3,EXHAUSTED", kinds());
        List<Alert> alerts = alerts();
        assertEquals(1, alerts.size(), "one UNCONSUMED per episode");
        Alert a = alerts.get(0);
        assertEquals(AlertType.UNCONSUMED, a.type);
        assertEquals(Severity.WARNING, a.severity);
        assertEquals(Strategy.REDISPATCH, a.strategy);
        assertEquals("billing", a.consumer);
        JsonNode details = Json.parse(a.details.getBytes(StandardCharsets.UTF_8));
        assertEquals(1, details.get("seq").asLong());
        assertEquals(0, details.get("epoch").asLong());
        assertTrue(details.get("ackedSeq").isNull());
        assertTrue(details.get("ackedEpoch").isNull());

        List<DeliveryEvent> ev = events();
        assertEquals(1, ev.get(0).state.seq);
        assertEquals(2, ev.get(1).state.seq, "each attempt carries the latest state");
        assertEquals(2, ev.get(2).state.seq);
        for (DeliveryEvent e : ev) {
            assertEquals(1, e.seq, "the episode is the first unacknowledged version");
            assertEquals(T0, e.waitingSince);
        }
        // Attempt 1 at the deadline; attempt n+1 ack timeout + backoff(n) × [0.8, 1.2] later.
        long d1 = T0 + 40_000;
        assertEquals(DeliverySchedule.roundUpToSecond(d1), fired.get(0)[0]);
        long d2 = SCHEDULE.nextAttempt(d1, 1, "d", "billing", 0, 1);
        assertTrue(d2 >= d1 + 30_000 + 4_000 && d2 <= d1 + 30_000 + 6_000);
        assertEquals(DeliverySchedule.roundUpToSecond(d2), fired.get(1)[0]);
        long d3 = SCHEDULE.nextAttempt(d2, 2, "d", "billing", 0, 1);
        assertTrue(d3 >= d2 + 30_000 + 8_000 && d3 <= d2 + 30_000 + 12_000);
        assertEquals(DeliverySchedule.roundUpToSecond(d3), fired.get(2)[0]);
        assertEquals(DeliverySchedule.roundUpToSecond(d3 + 40_000), fired.get(3)[0], "the last attempt's deadline");

        // Parked: newer versions cause nothing; one timer is left, the device's end after the idle
        // TTL (30 days here), when it leaves the backlog.
        assertEquals(1, h.numEventTimeTimers());
        publish("d", 3, watermark + 10);
        advance(watermark + 600_000);
        assertEquals(4, events().size());
        assertEquals(1, alerts().size());
    }

    @Test
    void anAckAtTheLastDueVersionEndsTheEpisodeAndLaterVersionsGetTheirOwnDeadline() throws Exception {
        open(List.of("billing"));
        watermark(T0 - 1000);
        publish("d", 1, T0);
        advance(T0 + 41_000);
        assertEquals("ATTEMPT#1", kinds());
        publish("d", 2, watermark + 10);
        ack("billing", "d", 0, 1, watermark + 20); // the version attempt 1 carried
        assertEquals("ATTEMPT#1,CLOSED", kinds());
        // v2 is pending from its own publication: its deadline 40 s later, then a new episode.
        long published2 = watermark + 10;
        advance(published2 + 39_000);
        assertEquals("ATTEMPT#1,CLOSED", kinds());
        advance(published2 + 41_000);
        assertEquals("ATTEMPT#1,CLOSED,ATTEMPT#1", kinds());
        assertEquals(2, alerts().size());
        assertEquals(2, events().get(2).seq);
    }

    @Test
    void aPartialAckInsideAnEpisodeDoesNotEndIt() throws Exception {
        open(List.of("billing"));
        watermark(T0 - 1000);
        publish("d", 1, T0);
        publish("d", 2, T0 + 1);
        advance(T0 + 41_000);
        assertEquals("ATTEMPT#1", kinds());
        ack("billing", "d", 0, 1, watermark); // attempt 1 carried v2
        assertEquals("ATTEMPT#1", kinds());
        advance(T0 + 100_000);
        assertEquals("ATTEMPT#1,ATTEMPT#2", kinds());
        ack("billing", "d", 0, 2, watermark);
        assertEquals("ATTEMPT#1,ATTEMPT#2,CLOSED", kinds());
        advance(watermark + 120_000);
        assertEquals("ATTEMPT#1,ATTEMPT#2,CLOSED", kinds());
        assertEquals(0, h.numKeyedStateEntries());
        assertEquals(0, h.numEventTimeTimers());
    }

    @Test
    void staleDuplicateReorderedAndOlderEpochAcksChangeNothing() throws Exception {
        open(List.of("billing"));
        watermark(T0 - 1000);
        for (int s = 1; s <= 5; s++) publish("d", s, T0 + s);
        ack("billing", "d", 0, 3, T0 + 100);
        ack("billing", "d", 0, 2, T0 + 200); // reordered
        ack("billing", "d", 0, 3, T0 + 300); // duplicate
        h.processElement1(version("d", 1, 1, T0 + 400), T0 + 400); // a reset to epoch 1
        ack("billing", "d", 0, 5, T0 + 500); // older epoch than the latest, newer than the position
        ack("nobody", "d", 1, 1, T0 + 600); // unknown consumer
        advance(T0 + 45_000);
        assertEquals("ATTEMPT#1", kinds());
        JsonNode details = Json.parse(alerts().get(0).details.getBytes(StandardCharsets.UTF_8));
        assertEquals(1, details.get("epoch").asLong(), "first unacknowledged: 1/1");
        assertEquals(1, details.get("seq").asLong());
        assertEquals(5, details.get("ackedSeq").asLong());
        assertEquals(0, details.get("ackedEpoch").asLong());
        assertEquals(T0 + 400, events().get(0).waitingSince, "from 1/1's own publication");
        ack("billing", "d", 0, 4, watermark); // behind the position: stale
        assertEquals("ATTEMPT#1", kinds());
        ack("billing", "d", 1, 1, watermark);
        assertEquals("ATTEMPT#1,CLOSED", kinds());
    }

    @Test
    void anAckAheadOfWhatWasPublishedAcknowledgesEverything() throws Exception {
        open(List.of("billing"));
        watermark(T0);
        publish("d", 1, T0);
        ack("billing", "d", 0, 9, T0 + 5);
        publish("d", 5, T0 + 10); // published after the ack that covers it
        advance(T0 + 100_000);
        assertTrue(events().isEmpty());
        assertEquals(0, h.numKeyedStateEntries());
    }

    @Test
    void aRestoreBetweenAttemptsResumesAtTheNextAttempt() throws Exception {
        open(List.of("billing"));
        watermark(T0 - 1000);
        publish("d", 1, T0);
        advance(T0 + 80_000);
        assertEquals("ATTEMPT#1,ATTEMPT#2", kinds());
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        open(List.of("billing", "archive"), snapshot); // a consumer added on the way: the state stays valid
        assertEquals(1, h.numEventTimeTimers(), "the timer is restored");
        advance(T0 + 400_000);
        assertEquals("ATTEMPT#3,EXHAUSTED", kinds(), "never attempt 1 again");
        assertTrue(alerts().isEmpty(), "no second UNCONSUMED");
        publish("d", 2, watermark); // billing is parked; archive is owed this one
        advance(watermark + 41_000);
        assertEquals("ATTEMPT#3,EXHAUSTED,ATTEMPT#1", kinds());
        assertEquals("archive", events().get(2).consumer);
    }

    /**
     * Restored from a build whose scheduler was keyed by consumer (its state does not restore): the
     * tracker tells the scheduler of every open episode and parking, once, so that the backlog is
     * whole again; a later restore of this build's state tells it nothing.
     */
    @Test
    void anUpgradeFromTheSchedulerKeyedByConsumerRegistersOpenEpisodesAndParkingsOnce() throws Exception {
        open(List.of("billing", "dashboard"), null, true);
        watermark(T0 - 1000);
        publish("parked", 1, T0);
        ack("dashboard", "parked", 0, 1, T0);
        advance(T0 + 400_000); // billing's attempts exhausted: parked
        publish("open", 1, watermark);
        ack("dashboard", "open", 0, 1, watermark);
        advance(watermark + 45_000); // billing's deadline passed: an episode, attempt 1
        publish("pending", 1, watermark); // pending for both: not in a backlog
        assertEquals("ATTEMPT#1,ATTEMPT#2,ATTEMPT#3,EXHAUSTED,ATTEMPT#1", kinds());
        OperatorSubtaskState earlier = h.snapshot(1, 1);
        h.close();

        open(List.of("billing", "dashboard"), earlier);
        List<String> told = events().stream()
                .map(e -> e.kind + " " + e.consumer + " " + e.deviceId + " " + e.epoch + "/" + e.seq + " #" + e.attempt)
                .sorted()
                .collect(Collectors.toList());
        assertEquals(
                List.of("OPEN billing open 0/1 #1", "PARKED billing parked 0/1 #3"), told, "as the tracker had them");
        assertTrue(alerts().isEmpty(), "told, not alerted");
        OperatorSubtaskState now = h.snapshot(2, 2);
        h.close();
        open(List.of("billing", "dashboard"), now);
        assertEquals(List.of(), events(), "this build's state: nothing to tell");
    }

    /** The AckCoalescer's batch: every consumer's ack of a device applied at once, each as alone. */
    @Test
    void aBatchOfSeveralConsumersAcksIsAppliedAsEachAlone() throws Exception {
        open(List.of("billing", "dashboard", "archive"));
        watermark(T0 - 1000);
        publish("d", 1, T0);
        publish("d", 2, T0 + 10);
        h.processElement2(
                new AckBatch("d", new Ack[] {
                    new Ack("billing", "d", 0, 2, T0 + 20),
                    new Ack("nobody", "d", 0, 2, T0 + 20), // not listed: counted and ignored
                    new Ack("dashboard", "d", 0, 1, T0 + 20), // a partial ack
                    new Ack("archive", "d", 0, 2, T0 + 20)
                }),
                T0 + 20);
        advance(T0 + 60_000);
        assertEquals("ATTEMPT#1", kinds(), "only dashboard still owes version 2");
        assertEquals("dashboard", events().get(0).consumer);
        assertEquals(2, events().get(0).state.seq);
    }

    @Test
    void aParkedConsumerComesBackWithAnAck() throws Exception {
        open(List.of("billing"));
        watermark(T0 - 1000);
        publish("d", 1, T0);
        advance(T0 + 400_000);
        assertEquals("ATTEMPT#1,ATTEMPT#2,ATTEMPT#3,EXHAUSTED", kinds());
        publish("d", 2, watermark);
        publish("d", 3, watermark + 1);
        ack("billing", "d", 0, 2, watermark + 2);
        assertEquals("ATTEMPT#1,ATTEMPT#2,ATTEMPT#3,EXHAUSTED,CLOSED", kinds());
        advance(watermark + 45_000);
        assertEquals("ATTEMPT#1,ATTEMPT#2,ATTEMPT#3,EXHAUSTED,CLOSED,ATTEMPT#1", kinds(), "3 is tracked as usual");
        assertEquals(3, events().get(5).seq);
        assertEquals(2, alerts().size());
    }

    @Test
    void theEndOfEventTimeIsNotADeadlineAndARestoredJobCarriesOn() throws Exception {
        open(List.of("billing"));
        watermark(T0);
        publish("d", 1, T0);
        publish("e", 1, T0);
        ack("billing", "e", 0, 1, T0 + 1);
        watermark(Long.MAX_VALUE); // flink stop --drain: every timer fires, and is spent
        assertTrue(events().isEmpty());
        assertTrue(alerts().isEmpty());
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        open(List.of("billing"), snapshot);
        assertEquals(
                2, h.numEventTimeTimers(), "armed again: the device that waits, and the one that is forgotten then");
        watermark(T0 + 39_000);
        assertTrue(events().isEmpty());
        watermark(T0 + 41_000);
        assertEquals("ATTEMPT#1", kinds());
        assertEquals("d", events().get(0).deviceId);
        assertEquals(1, h.numEventTimeTimers(), "e is forgotten");
    }

    @Test
    void aRestoreFromAnOrdinaryCheckpointKeepsItsTimersAsTheyWere() throws Exception {
        open(List.of("billing"));
        watermark(T0);
        publish("d", 1, T0);
        OperatorSubtaskState snapshot = h.snapshot(1, 1);
        h.close();
        open(List.of("billing"), snapshot);
        assertEquals(1, h.numEventTimeTimers());
        watermark(T0 + 41_000);
        assertEquals("ATTEMPT#1", kinds());
    }

    @Test
    void anEpochChangeDuringAnEpisodeIsCarriedAndAcknowledged() throws Exception {
        open(List.of("billing"));
        watermark(T0 - 1000);
        publish("d", 7, T0);
        advance(T0 + 41_000);
        assertEquals("ATTEMPT#1", kinds());
        h.processElement1(version("d", 1, 1, watermark), watermark); // the device reset
        advance(T0 + 100_000);
        assertEquals("ATTEMPT#1,ATTEMPT#2", kinds());
        assertEquals(1, events().get(1).state.epoch, "the attempt carries the new epoch's state");
        ack("billing", "d", 0, 7, watermark); // behind what attempt 2 carried: the episode goes on
        assertEquals("ATTEMPT#1,ATTEMPT#2", kinds());
        ack("billing", "d", 1, 1, watermark);
        assertEquals("ATTEMPT#1,ATTEMPT#2,CLOSED", kinds());
    }

    @Test
    void aJumpInEventTimeSendsOneAttemptAndLeavesTheConsumerItsAckWindow() throws Exception {
        open(List.of("billing"));
        watermark(T0 - 1000);
        publish("d", 1, T0);
        long jump = T0 + 3_600_000; // the job was down for an hour
        watermark(jump);
        assertEquals("ATTEMPT#1", kinds(), "not every attempt and the dead letter at once");
        assertEquals(1, alerts().size());
        advance(jump + 30_000 + 3_000);
        assertEquals("ATTEMPT#1", kinds(), "attempt 2 is at least ack timeout + 0.8 × backoff after the jump");
        advance(jump + 30_000 + 7_000);
        assertEquals("ATTEMPT#1,ATTEMPT#2", kinds());
    }

    @Test
    void aDeviceClockFarAheadCountsAtMostTheSkewPastTheWatermark() throws Exception {
        open(List.of("billing"));
        watermark(T0);
        h.processElement1(version("d", 0, 1, Long.MAX_VALUE - 10), T0);
        watermark(T0 + 300_000 + 39_000);
        assertTrue(events().isEmpty());
        advance(T0 + 300_000 + 42_000);
        assertEquals("ATTEMPT#1", kinds(), "deadline from watermark + 5 min skew");
    }

    @Test
    void beforeTheFirstWatermarkAFarAheadClockCountsFromTheWallClock() throws Exception {
        open(List.of("billing"));
        h.setProcessingTime(T0);
        h.processElement1(version("d", 0, 1, Long.MAX_VALUE - 10), T0); // no watermark yet
        assertEquals(1, h.numEventTimeTimers(), "a deadline, not none");
        watermark(T0 + 300_000 + 39_000);
        assertTrue(events().isEmpty());
        advance(T0 + 300_000 + 42_000);
        assertEquals("ATTEMPT#1", kinds());
    }

    @Test
    void aQuietDeviceIsForgottenOneDeadlineAfterItWentQuietAndKeepsItsPositionsUntilThen() throws Exception {
        open(List.of("billing"));
        watermark(T0);
        publish("d", 1, T0);
        ack("billing", "d", 0, 1, T0 + 39_000); // quiet at T0 + 39 s; its deadline timer is at T0 + 41 s
        ack("billing", "d", 0, 5, T0 + 39_500); // ahead of what was published
        advance(T0 + 60_000);
        assertEquals(1, h.numKeyedStateEntries(), "not forgotten when the deadline timer fired");
        publish("d", 5, T0 + 60_000); // covered by the ack ahead
        advance(T0 + 200_000);
        assertTrue(events().isEmpty(), "no UNCONSUMED for a version acknowledged ahead");
        assertTrue(alerts().isEmpty());
        assertEquals(0, h.numKeyedStateEntries());
        assertEquals(0, h.numEventTimeTimers());
    }

    @Test
    void aVersionPublishedWhileTheForgetTimerIsSetGetsItsDeadline() throws Exception {
        open(List.of("billing"));
        watermark(T0);
        publish("d", 1, T0);
        ack("billing", "d", 0, 1, T0 + 500);
        publish("d", 2, T0 + 30_000); // pending again; the earlier timer stays
        assertEquals(1, h.numEventTimeTimers());
        advance(T0 + 69_000);
        assertTrue(events().isEmpty());
        advance(T0 + 72_000);
        assertEquals("ATTEMPT#1", kinds());
        assertEquals(2, events().get(0).seq);
    }
}
