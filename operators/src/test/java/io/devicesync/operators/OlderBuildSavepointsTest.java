package io.devicesync.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Ack;
import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.operators.delivery.AckBatch;
import io.devicesync.operators.delivery.BacklogReport;
import io.devicesync.operators.delivery.DeliveryBacklog;
import io.devicesync.operators.delivery.DeliveryEvent;
import io.devicesync.operators.delivery.DeliverySchedule;
import io.devicesync.operators.delivery.DeliveryTracker;
import io.devicesync.operators.delivery.DeliveryTrackerOperator;
import io.devicesync.operators.sync.SequenceGuard;
import io.devicesync.operators.util.Tags;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Snapshots of the tracker and the guard written by the build of commit 8f4564d (the writer is
 * {@code src/test/resources/savepoints/BuildSavepoints-8f4564d.java.txt}, run in a checkout of that
 * commit) restore into this build on both backends and carry on from where they were: the upgrade
 * path the README's upgrade notes promise. The reconciler's are {@code
 * ReconcilerStateMigrationTest}'s. That build's scheduler was keyed by consumer: under its uid now
 * runs the DeliveryBacklog, which takes over its BACKLOG state (the scheduler keyed by device starts
 * anew, told by the tracker of every open episode and parking: {@code DeliveryTrackerTest}).
 */
class OlderBuildSavepointsTest {
    static final String BUILD = "8f4564d";
    static final long T0 = 1_763_800_000_123L;
    static final DeliverySchedule SCHEDULE = new DeliverySchedule(
            Duration.ofSeconds(30), Duration.ofSeconds(10), 3, Duration.ofSeconds(5), Duration.ofSeconds(60));

    static OperatorSubtaskState read(String operator, String build, String backend) throws Exception {
        return TestData.snapshot(operator, build, backend);
    }

    static StateBackend backend(String name) {
        return TestData.backend(name);
    }

    /**
     * The tracker had: d1 at 0/2 (published at T0 and T0 + 1 s), billing acked 0/2, dashboard
     * nothing; d2 at 0/1 acked by both. Restored, dashboard's deadline passes: one UNCONSUMED and
     * an attempt carrying d1's latest document; billing and d2 have nothing due; an ack closes it.
     */
    @ParameterizedTest(name = "{0}, snapshot again at once: {1}")
    @CsvSource({"rocksdb,false", "rocksdb,true", "hashmap,false", "hashmap,true"})
    void theTrackerOf8f4564dRestores(String backend, boolean snapshotAgain) throws Exception {
        OperatorSubtaskState from = read("tracker", BUILD, backend);
        if (snapshotAgain) {
            // Restored and at once snapshot again, before any device is touched (on heap the values
            // are still the old build's bytes then), and restored from that.
            try (var first = tracker(backend)) {
                first.initializeState(from);
                first.open();
                from = first.snapshot(2, T0 + 3000);
            }
        }
        try (var h = tracker(backend)) {
            h.initializeState(from);
            h.open();
            h.setProcessingTime(T0 + 3000);
            for (long t = T0; t <= T0 + 45_000; t += 1000) h.processBothWatermarks(new Watermark(t));
            List<DeliveryEvent> events = h.extractOutputValues();
            assertEquals(
                    "ATTEMPT dashboard d1 0/1 #1 {\"seq\":2}",
                    events.stream().map(OlderBuildSavepointsTest::describe).collect(Collectors.joining("; ")));
            var alerts = h.getSideOutput(Tags.ALERTS).stream()
                    .map(StreamRecord::getValue)
                    .map(a -> a.type + " " + a.consumer + " " + a.deviceId)
                    .collect(Collectors.toList());
            assertEquals(List.of(AlertType.UNCONSUMED.name() + " dashboard d1"), alerts);
            h.processElement2(AckBatch.of(new Ack("dashboard", "d1", 0, 2, T0 + 46_000)), T0 + 46_000);
            List<DeliveryEvent> after = h.extractOutputValues();
            assertEquals(2, after.size());
            assertEquals("CLOSED dashboard d1 0/1 #1 -", describe(after.get(1)));
        }
    }

    private static KeyedTwoInputStreamOperatorTestHarness<String, DeviceState, AckBatch, DeliveryEvent> tracker(
            String backend) throws Exception {
        var h = new KeyedTwoInputStreamOperatorTestHarness<String, DeviceState, AckBatch, DeliveryEvent>(
                new DeliveryTrackerOperator(new DeliveryTracker(
                        List.of("billing", "dashboard"), SCHEDULE, Duration.ofDays(30), Duration.ofMinutes(5))),
                s -> s.deviceId,
                a -> a.deviceId,
                Types.STRING);
        h.setStateBackend(backend(backend));
        h.setup();
        return h;
    }

    private static String describe(DeliveryEvent e) {
        return e.kind + " " + e.consumer + " " + e.deviceId + " " + e.epoch + "/" + e.seq + " #" + e.attempt + " "
                + (e.state == null ? "-" : new String(e.state.state, StandardCharsets.UTF_8));
    }

    /**
     * That build's scheduler (billing: rate 1/s, threshold 1) had three devices in billing's
     * backlog, so its BACKLOG (episode 1) was open. The DeliveryBacklog restored under its uid keeps
     * that BACKLOG open (no second one for the same backlog), clears it once the counts reported fall
     * to half the threshold, with the same episode, and drops what that scheduler kept.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void theSchedulerOf8f4564dHandsItsOpenBacklogToTheDeliveryBacklog(String backend) throws Exception {
        OperatorSubtaskState snapshot;
        try (var h = backlog(backend, read("scheduler", BUILD, backend))) {
            h.setProcessingTime(1_000_500);
            h.processElement(new BacklogReport("billing", 0, 3), 0); // the harness's one key group
            assertEquals(List.of(), h.extractOutputValues(), "the BACKLOG of 8f4564d is still open: not raised again");
            h.processElement(new BacklogReport("billing", 0, 0), 0);
            List<Alert> out = h.extractOutputValues();
            assertEquals(1, out.size());
            assertEquals(AlertType.BACKLOG_CLEARED, out.get(0).type);
            assertEquals(1, backlogEpisode(out.get(0)), "the episode that build opened");
            snapshot = h.snapshot(2, 1_000_600);
        }
        // Restored again: that build's state was taken over once and cleared; this build's goes on.
        try (var h = backlog(backend, snapshot)) {
            h.setProcessingTime(1_000_700);
            h.processElement(new BacklogReport("billing", 0, 3), 0);
            List<Alert> out = h.extractOutputValues();
            assertEquals(1, out.size(), "a new backlog: a new BACKLOG");
            assertEquals(AlertType.BACKLOG, out.get(0).type);
            assertEquals(2, backlogEpisode(out.get(0)));
        }
    }

    /** A DeliveryBacklog (billing and dashboard, threshold 1) restored from {@code from}. */
    private static KeyedOneInputStreamOperatorTestHarness<String, BacklogReport, Alert> backlog(
            String backend, OperatorSubtaskState from) throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<String, BacklogReport, Alert>(
                new org.apache.flink.streaming.api.operators.KeyedProcessOperator<>(
                        new DeliveryBacklog(List.of("billing", "dashboard"), 1L)),
                r -> r.consumer,
                Types.STRING);
        h.setStateBackend(backend(backend));
        h.setup();
        h.initializeState(from);
        h.open();
        return h;
    }

    private static long backlogEpisode(Alert a) {
        return io.devicesync.model.Json.parse(a.details.getBytes(StandardCharsets.UTF_8))
                .get("backlogEpisode")
                .asLong();
    }

    /** The guard had forwarded g 0/1 and 0/2 and held 0/4; restored, 0/3 releases both. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void theGuardOf8f4564dRestores(String backend) throws Exception {
        try (var h = new KeyedTwoInputStreamOperatorTestHarness<String, Increment, AuditRecord, Increment>(
                new KeyedCoProcessOperator<>(
                        new SequenceGuard(Duration.ofMillis(1000), 1000, Duration.ofHours(1), Duration.ofDays(30))),
                i -> i.deviceId,
                a -> a.deviceId,
                Types.STRING)) {
            h.setStateBackend(backend(backend));
            h.setup();
            h.initializeState(read("guard", BUILD, backend));
            h.open();
            Increment three = new Increment("g", 0, 3, T0 + 30, "{\"s\":3}".getBytes(StandardCharsets.UTF_8));
            h.processElement1(three, T0 + 30);
            List<Long> seqs = h.extractOutputValues().stream().map(i -> i.seq).collect(Collectors.toList());
            assertEquals(List.of(3L, 4L), seqs, "the held 0/4 follows 0/3");
            assertTrue(
                    h.getSideOutput(Tags.LOOKUPS) == null
                            || h.getSideOutput(Tags.LOOKUPS).stream()
                                    .noneMatch(r -> r.getValue().deviceId.equals("g")
                                            && r.getValue().kind != io.devicesync.model.LookupRequest.Kind.AUDIT),
                    "no gap left to look up");
        }
    }
}
