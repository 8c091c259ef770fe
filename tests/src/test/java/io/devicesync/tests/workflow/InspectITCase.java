package io.devicesync.tests.workflow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.jobs.DeviceSyncJob;
import io.devicesync.jobs.JobParameters;
import io.devicesync.jobs.Uids;
import io.devicesync.jobs.tools.Inspect;
import io.devicesync.jobs.tools.StateInspector;
import io.devicesync.model.Ack;
import io.devicesync.model.AckRecord;
import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeadLetter;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.devicesync.model.Redispatch;
import io.devicesync.model.SourceRecord;
import io.devicesync.operators.sync.InMemorySourceOfTruth;
import io.devicesync.operators.sync.SnapshotLookup;
import io.devicesync.tests.infra.FlinkRest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.CommonTestUtils;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Inspect command on a real savepoint: the job's whole graph ({@link DeviceSyncJob#defineWorkflow})
 * on a MiniCluster with RocksDB, known input from sources that stay open after it (so no end of
 * input fires the timers), an in-memory source of truth, stopped with a canonical savepoint once
 * its outputs show the input processed; then {@link StateInspector#inspect} reads the savepoint and
 * shows exactly the state that input leaves.
 */
@Timeout(180) // waitForAllTaskRunning has no deadline of its own
class InspectITCase {
    private static final long T0 = 1_763_800_000_000L;
    private static final long GRACE = 10_000;
    private static final long AUDIT = 60_000;
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(2)
            .setConfiguration(new Configuration()
                    .set(RestartStrategyOptions.RESTART_STRATEGY, "none")
                    .set(MetricOptions.METRIC_FETCHER_UPDATE_INTERVAL, Duration.ofMillis(200)))
            .build());

    /**
     * meter-00001 sends 0/1..0/3 (billing acknowledges 0/2); meter-00042 sends 0/1, 0/2, 0/4, 0/5
     * (0/3 lost: 0/4 and 0/5 held by the guard, the grace running); fridge-0007 is first seen at
     * epoch 1 (a lookup: the database's snapshot 1/1).
     */
    @Test
    void aSavepointOfKnownInputShowsExactlyTheStateItLeaves(@InjectMiniCluster MiniCluster cluster, @TempDir Path tmp)
            throws Exception {
        String savepoint = runAndSavepoint(cluster, tmp, true);

        String text = StateInspector.inspect(new Inspect.Options(savepoint, "meter-00042"));
        JsonNode report = Json.MAPPER.readTree(text);
        assertEquals("meter-00042", report.path("device").asText());
        JsonNode guard = report.path("operators").path(Uids.DEVICE_SYNC);
        assertTrue(
                guard.path("inSavepoint").asBoolean()
                        && guard.path("holdsDevice").asBoolean(),
                text);
        for (String earlier : List.of(Uids.SEQUENCE_GUARD, Uids.STATE_RECONCILER)) {
            assertFalse(
                    report.path("operators").path(earlier).path("inSavepoint").asBoolean(), earlier);
        }
        JsonNode g = guard.path("state").path("device").path("guard");
        assertEquals(0, g.path("epoch").asLong());
        assertEquals(2, g.path("seq").asLong(), "the last version forwarded");
        assertEquals(2, g.path("heldCount").asInt());
        long grace = T0 + 500 + GRACE; // from 0/4's time
        long audit = slotAfter("meter-00042", T0 + 300); // armed by the first increment
        assertEquals(grace, g.path("graceTimer").asLong());
        assertEquals(audit, g.path("auditTimer").asLong());
        assertEquals(T0 + 600, g.path("lastSeen").asLong());
        assertEquals(
                "[{\"epoch\":0,\"seq\":4,\"ts\":" + (T0 + 500) + ",\"data\":{\"kwh\":4}},"
                        + "{\"epoch\":0,\"seq\":5,\"ts\":" + (T0 + 600) + ",\"data\":{\"kwh\":5}}]",
                Json.MAPPER.writeValueAsString(guard.path("state").path("guardHeld")),
                "the held increments, in order");
        assertEquals(
                List.of(grace, audit),
                longs(guard.path("state").path("eventTimeTimers")),
                "its grace and audit timers");

        JsonNode reconciler = report.path("operators").path(Uids.DEVICE_SYNC).path("state");
        JsonNode r = reconciler.path("device").path("reconciler");
        assertTrue(r.path("published").asBoolean());
        assertEquals(
                List.of(0L, 2L, T0 + 400),
                List.of(
                        r.path("epoch").asLong(),
                        r.path("seq").asLong(),
                        r.path("ts").asLong()));
        assertEquals("{\"kwh\":2}", Json.MAPPER.writeValueAsString(r.path("document")));
        assertEquals(0, r.path("heldCount").asInt());
        assertEquals(0, r.path("waitingSince").asLong());
        assertEquals(0, reconciler.path("reconcilerHeld").size());

        JsonNode tracker = report.path("operators").path(Uids.DELIVERY_TRACKER);
        assertTrue(
                tracker.path("inSavepoint").asBoolean()
                        && tracker.path("holdsDevice").asBoolean(),
                text);
        JsonNode billing =
                tracker.path("state").path("delivery").path("consumers").path(0);
        assertEquals("billing", billing.path("name").asText());
        assertEquals("PENDING", billing.path("status").asText());
        assertTrue(billing.path("acked").isNull(), "billing acknowledged nothing of meter-00042");
        assertEquals("{\"epoch\":0,\"seq\":1}", Json.MAPPER.writeValueAsString(billing.path("firstUnacknowledged")));
        long timer = tracker.path("state").path("delivery").path("timer").asLong();
        assertEquals(List.of(timer), longs(tracker.path("state").path("eventTimeTimers")), "the tracker's one timer");
        assertTrue(
                timer >= billing.path("due").asLong() && timer % 1000 == 0, "the deadline, rounded up to the second");

        // meter-00001: its document keeps the text the device wrote; billing is at 0/2 of 0/3.
        String text1 = StateInspector.inspect(new Inspect.Options(savepoint, "meter-00001"));
        JsonNode one = Json.MAPPER.readTree(text1);
        JsonNode r1 = one.path("operators")
                .path(Uids.DEVICE_SYNC)
                .path("state")
                .path("device")
                .path("reconciler");
        assertEquals(
                List.of(0L, 3L),
                List.of(r1.path("epoch").asLong(), r1.path("seq").asLong()));
        assertTrue(text1.matches("(?s).*\"document\": \\{\\s*\"temp\": 21\\.50\\s*}.*"), text1);
        assertEquals(
                List.of(slotAfter("meter-00001", T0)),
                longs(one.path("operators").path(Uids.DEVICE_SYNC).path("state").path("eventTimeTimers")),
                "its audit timer");
        JsonNode billing1 = one.path("operators")
                .path(Uids.DELIVERY_TRACKER)
                .path("state")
                .path("delivery")
                .path("consumers")
                .path(0);
        assertEquals("{\"epoch\":0,\"seq\":2}", Json.MAPPER.writeValueAsString(billing1.path("acked")));
        assertEquals("{\"epoch\":0,\"seq\":3}", Json.MAPPER.writeValueAsString(billing1.path("firstUnacknowledged")));
        JsonNode latest1 =
                one.path("operators").path(Uids.DELIVERY_TRACKER).path("state").path("delivery-latest");
        assertEquals(3, latest1.path("seq").asLong());

        // fridge-0007: the snapshot the lookup brought.
        JsonNode fridge = Json.MAPPER.readTree(StateInspector.inspect(new Inspect.Options(savepoint, "fridge-0007")));
        JsonNode rf = fridge.path("operators")
                .path(Uids.DEVICE_SYNC)
                .path("state")
                .path("device")
                .path("reconciler");
        assertEquals(
                List.of(1L, 1L),
                List.of(rf.path("epoch").asLong(), rf.path("seq").asLong()));
        assertEquals("{\"door\":\"closed\",\"temp\":3.0}", Json.MAPPER.writeValueAsString(rf.path("document")));

        // A device the job never saw: every operator is there, none holds it.
        JsonNode none = Json.MAPPER.readTree(StateInspector.inspect(new Inspect.Options(savepoint, "meter-99999")));
        for (String uid : List.of(Uids.DEVICE_SYNC, Uids.DELIVERY_TRACKER)) {
            assertTrue(none.path("operators").path(uid).path("inSavepoint").asBoolean(), uid);
            assertFalse(none.path("operators").path(uid).path("holdsDevice").asBoolean(), uid);
        }

        // The fleet: three devices in each operator, every one counted in the histogram.
        JsonNode fleet = Json.MAPPER.readTree(StateInspector.inspect(new Inspect.Options(savepoint, null)));
        for (String uid : List.of(Uids.DEVICE_SYNC, Uids.DELIVERY_TRACKER)) {
            JsonNode op = fleet.path("operators").path(uid);
            assertEquals(3, op.path("devices").asLong(), uid + ": " + fleet);
            long inBuckets = 0;
            for (JsonNode b : op.path("sizeHistogram")) {
                long upTo = b.path("bytesUpTo").asLong();
                assertEquals(1, Long.bitCount(upTo), "power-of-two buckets");
                inBuckets += b.path("devices").asLong();
            }
            assertEquals(3, inBuckets, uid);
            assertTrue(op.path("bytes").asLong() > 0, uid);
        }
    }

    /** Delivery off: the tracker's uid is not in the savepoint, and the report says so. */
    @Test
    void anOperatorMissingFromTheSavepointIsReportedAbsent(@InjectMiniCluster MiniCluster cluster, @TempDir Path tmp)
            throws Exception {
        String savepoint = runAndSavepoint(cluster, tmp, false);
        JsonNode report = Json.MAPPER.readTree(StateInspector.inspect(new Inspect.Options(savepoint, "meter-00001")));
        assertFalse(
                report.path("operators")
                        .path(Uids.DELIVERY_TRACKER)
                        .path("inSavepoint")
                        .asBoolean(),
                report.toString());
        assertTrue(
                report.path("operators")
                        .path(Uids.DEVICE_SYNC)
                        .path("holdsDevice")
                        .asBoolean(),
                report.toString());
        JsonNode fleet = Json.MAPPER.readTree(StateInspector.inspect(new Inspect.Options(savepoint, null)));
        assertFalse(fleet.path("operators")
                .path(Uids.DELIVERY_TRACKER)
                .path("inSavepoint")
                .asBoolean());
        assertEquals(
                3,
                fleet.path("operators").path(Uids.DEVICE_SYNC).path("devices").asLong());

        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> StateInspector.inspect(
                        new Inspect.Options(tmp.resolve("nothing-here").toString(), null)));
        assertTrue(e.getMessage().startsWith("--savepoint: "), e.getMessage());
    }

    /** Runs the graph on the known input until its outputs show it processed; returns the savepoint's path. */
    private static String runAndSavepoint(MiniCluster cluster, Path tmp, boolean delivery) throws Exception {
        InMemorySourceOfTruth truth = new InMemorySourceOfTruth();
        List<SourceRecord> input = new ArrayList<>();
        input.add(inc(truth, "meter-00001", 0, 1, T0, "{\"temp\":4.5,\"door\":\"open\"}"));
        input.add(inc(truth, "meter-00001", 0, 2, T0 + 100, "{\"door\":null}"));
        input.add(inc(truth, "meter-00001", 0, 3, T0 + 200, "{\"temp\":21.50}"));
        input.add(inc(truth, "meter-00042", 0, 1, T0 + 300, "{\"kwh\":1}"));
        input.add(inc(truth, "meter-00042", 0, 2, T0 + 400, "{\"kwh\":2}"));
        inc(truth, "meter-00042", 0, 3, T0 + 450, "{\"kwh\":3}"); // lost on the way
        input.add(inc(truth, "meter-00042", 0, 4, T0 + 500, "{\"kwh\":4}"));
        input.add(inc(truth, "meter-00042", 0, 5, T0 + 600, "{\"kwh\":5}"));
        input.add(inc(truth, "fridge-0007", 1, 1, T0 + 700, "{\"door\":\"closed\"}"));
        truth.snapshot("fridge-0007", 1, 1, "{\"door\":\"closed\",\"temp\":3.0}".getBytes(StandardCharsets.UTF_8));

        String run = UUID.randomUUID().toString();
        CollectingSink<DeviceState> states = new CollectingSink<>("state-" + run);
        CollectingSink<Alert> alerts = new CollectingSink<>("alerts-" + run);
        CollectingSink<DeadLetter> dlq = new CollectingSink<>("dlq-" + run);
        CollectingSink<AuditRecord> audits = new CollectingSink<>("audit-" + run);
        CollectingSink<Redispatch> redispatch = new CollectingSink<>("redispatch-" + run);
        CollectingSink<Redispatch> redispatchDlq = new CollectingSink<>("redispatch-dlq-" + run);
        SharedTruth shared = new SharedTruth(run, truth);
        ListThenIdleSource<SourceRecord> events = new ListThenIdleSource<>("events-" + run, input, true);
        ListThenIdleSource<AckRecord> acks = new ListThenIdleSource<>(
                "acks-" + run, List.of(AckRecord.of(new Ack("billing", "meter-00001", 0, 2, T0 + 1_000))), false);
        JobClient job = null;
        try {
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(new Configuration()
                    .set(PipelineOptions.GENERIC_TYPES, false)
                    .set(StateBackendOptions.STATE_BACKEND, "rocksdb"));
            // One subtask each: a device's increments reach the guard in the order of the input
            // (at two, the router after the one source would rebalance them), so the state is exact.
            env.setParallelism(1);
            env.getConfig().setAutoWatermarkInterval(50);
            List<String> args = new ArrayList<>(List.of(
                    "--kafka.bootstrap-servers",
                    "unused:9092",
                    "--snapshot.url",
                    "postgresql://unused:5432/x",
                    "--reorder.grace",
                    GRACE + " ms",
                    "--audit.interval",
                    AUDIT + " ms"));
            if (delivery) args.addAll(List.of("--delivery.consumers", "billing"));
            JobParameters p = JobParameters.fromArgs(args.toArray(new String[0]));
            DataStream<SourceRecord> records = env.fromSource(
                            events,
                            WatermarkStrategy.<SourceRecord>forBoundedOutOfOrderness(Duration.ofMillis(200))
                                    .withTimestampAssigner((r, previous) -> r.eventTime()),
                            "events",
                            TypeInformation.of(SourceRecord.class))
                    .setParallelism(1);
            DataStream<AuditRecord> noFeedback = records.flatMap(
                            (SourceRecord r, Collector<AuditRecord> out) -> {}, TypeInformation.of(AuditRecord.class))
                    .name("no audit feedback");
            DataStream<AckRecord> ackRecords = !delivery
                    ? null
                    : env.fromSource(
                                    acks,
                                    WatermarkStrategy.<AckRecord>forBoundedOutOfOrderness(Duration.ofMillis(200))
                                            .withTimestampAssigner((a, previous) -> a.eventTime()),
                                    "acks",
                                    TypeInformation.of(AckRecord.class))
                            .setParallelism(1);
            DeviceSyncJob.Outputs outputs =
                    new DeviceSyncJob.Outputs(states, alerts, dlq, audits, "state", "alerts", "dlq", "audit");
            if (delivery) outputs.withDelivery(redispatch, redispatchDlq, "redispatch", "redispatch-dlq");
            DeviceSyncJob.defineWorkflow(
                    records,
                    noFeedback,
                    ackRecords,
                    new SnapshotLookup(DeviceSyncJob.lookupConfig(p), shared),
                    p,
                    p.checkpointInterval,
                    outputs);
            job = env.executeAsync("inspect-" + run);

            Progress.await(
                    "the input published",
                    () -> {
                        Map<String, String> last = new HashMap<>();
                        for (DeviceState s : states.collected()) last.put(s.deviceId, s.epoch + "/" + s.seq);
                        return "0/3".equals(last.get("meter-00001"))
                                && "0/2".equals(last.get("meter-00042"))
                                && "1/1".equals(last.get("fridge-0007"));
                    },
                    DEADLINE);
            if (delivery) {
                // After the publications have reached the tracker (the sink, chained to the
                // reconciler, sees them first; the tracker reads them over the network): billing's
                // ack then moves its position to 0/2. An ack ahead of every publication the tracker
                // has would find nothing pending and leave no position.
                awaitTrackerRecordsIn(cluster, job, 6);
                acks.release();
                Progress.await("the ack emitted", () -> acks.emitted() == 1, DEADLINE);
                // Coalesce acks gathers it for half a second before the tracker reads it (a
                // savepoint taken meanwhile would keep it in the coalescer's state, not the
                // tracker's): the ack's batch is the tracker's seventh record.
                awaitTrackerRecordsIn(cluster, job, 7);
            }
            // The savepoint's barrier follows every record emitted so far: its state holds their effects.
            return stopWithSavepoint(
                    cluster, job, tmp.resolve("savepoints").toUri().toString());
        } catch (Exception e) {
            if (job != null) job.cancel();
            throw e;
        } finally {
            for (CollectingSink<?> s : List.of(states, alerts, dlq, audits, redispatch, redispatchDlq)) s.forget();
            shared.forget();
            events.forget();
            acks.forget();
        }
    }

    /**
     * Waits until the DeliveryTracker has read {@code n} records, as its operator metric shows (the
     * web monitor fetches metrics every 200 ms here: the condition is read again at that pace,
     * with a deadline).
     */
    private static void awaitTrackerRecordsIn(MiniCluster cluster, JobClient job, long n) throws Exception {
        FlinkRest rest = new FlinkRest(cluster.getRestAddress().get().toString());
        String jobId = job.getJobID().toString();
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        long seen = -1;
        while (true) {
            for (JsonNode v : rest.get("/jobs/" + jobId).get("vertices")) {
                if (!v.get("name").asText().startsWith("DeliveryTracker")) continue;
                JsonNode values = rest.get("/jobs/" + jobId + "/vertices/"
                        + v.get("id").asText() + "/subtasks/metrics?agg=sum&get=DeliveryTracker.numRecordsIn");
                for (JsonNode m : values) seen = (long) m.get("sum").asDouble();
            }
            if (seen >= n) return;
            if (System.nanoTime() > deadline)
                throw new AssertionError("the tracker read " + seen + " records, not " + n);
            Thread.sleep(100); // the metric's next fetch; not a wait for the job itself
        }
    }

    /**
     * Stops the job with a canonical savepoint (no drain: no final watermark), once every task of
     * the graph runs: its outputs may show the input processed before the alert branch is deployed,
     * and a savepoint then is refused ("not all required tasks are currently running").
     */
    private static String stopWithSavepoint(MiniCluster cluster, JobClient job, String dir) throws Exception {
        CommonTestUtils.waitForAllTaskRunning(cluster, job.getJobID(), false);
        return job.stopWithSavepoint(false, dir, SavepointFormatType.CANONICAL).get();
    }

    private static SourceRecord inc(
            InMemorySourceOfTruth truth, String device, long epoch, long seq, long ts, String data) {
        Increment i = new Increment(device, epoch, seq, ts, data.getBytes(StandardCharsets.UTF_8));
        truth.log(i);
        return SourceRecord.of(i);
    }

    /** The guard's audit boundary for a device after {@code t} (GuardRules#slotAfter: a hash of the device offsets it). */
    private static long slotAfter(String device, long t) {
        long offset = Math.floorMod(device.hashCode(), AUDIT);
        return (Math.floorDiv(t - offset, AUDIT) + 1) * AUDIT + offset;
    }

    private static List<Long> longs(JsonNode array) {
        List<Long> out = new ArrayList<>();
        for (JsonNode n : array) out.add(n.asLong());
        return out;
    }
}
