package io.devicesync.tests.workflow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.jobs.DeviceSyncJob;
import io.devicesync.jobs.JobParameters;
import io.devicesync.jobs.Uids;
import io.devicesync.jobs.tools.Inspect;
import io.devicesync.jobs.tools.StateInspector;
import io.devicesync.jobs.tools.StateUpgrade;
import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeadLetter;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.devicesync.model.LookupResult;
import io.devicesync.model.SourceRecord;
import io.devicesync.operators.input.InputRouter;
import io.devicesync.operators.serde.Compact;
import io.devicesync.operators.sync.InMemorySourceOfTruth;
import io.devicesync.operators.sync.SequenceGuard;
import io.devicesync.operators.sync.SequenceGuardOperator;
import io.devicesync.operators.sync.SnapshotLookup;
import io.devicesync.operators.sync.StateReconciler;
import io.devicesync.operators.util.Tags;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.CommonTestUtils;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.AsyncDataStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The upgrade from the builds before DeviceSync: a job wired as those builds wired it (the
 * SequenceGuard, the SnapshotLookup and the StateReconciler under their uids) runs on known input
 * and stops with a savepoint; {@link StateUpgrade} rewrites it; the report of the new savepoint
 * shows each device's guard and reconciler state in DeviceSync's one value, its held increments and
 * timers; and this build's job, started from it, goes on from that state: the held messages' grace
 * ends, the gap is repaired, and a device's next version is applied to the document it had.
 */
@Timeout(240)
class UpgradeITCase {
    private static final long T0 = 1_763_800_000_000L;
    private static final long GRACE = 10_000;
    private static final long AUDIT = 60_000;
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(2)
            .setConfiguration(new Configuration().set(RestartStrategyOptions.RESTART_STRATEGY, "none"))
            .build());

    @Test
    void aSavepointOfTheEarlierBuildRestoresIntoDeviceSync(@InjectMiniCluster MiniCluster cluster, @TempDir Path tmp)
            throws Exception {
        String old = runEarlierBuild(cluster, tmp);
        String upgraded = tmp.resolve("upgraded").toUri().toString();
        StateUpgrade.upgrade(old, upgraded, "rocksdb", Inspect.DEFAULT_IDLE_TTL);

        JsonNode report = Json.MAPPER.readTree(StateInspector.inspect(new Inspect.Options(upgraded, "meter-00042")));
        JsonNode sync = report.path("operators").path(Uids.DEVICE_SYNC);
        assertTrue(sync.path("holdsDevice").asBoolean(), report.toString());
        for (String earlier : List.of(Uids.SEQUENCE_GUARD, Uids.STATE_RECONCILER)) {
            assertFalse(
                    report.path("operators").path(earlier).path("inSavepoint").asBoolean(), earlier);
        }
        JsonNode g = sync.path("state").path("device").path("guard");
        assertEquals(
                List.of(0L, 2L, 2L),
                List.of(
                        g.path("epoch").asLong(),
                        g.path("seq").asLong(),
                        g.path("heldCount").asLong()));
        long grace = T0 + 500 + GRACE;
        long audit = slotAfter("meter-00042", T0 + 300);
        assertEquals(grace, g.path("graceTimer").asLong());
        assertEquals(List.of(grace, audit), longs(sync.path("state").path("eventTimeTimers")), "the guard's timers");
        assertEquals(2, sync.path("state").path("guardHeld").size(), "the early messages 0/4 and 0/5");
        JsonNode r = sync.path("state").path("device").path("reconciler");
        assertEquals(2, r.path("seq").asLong());
        assertEquals("{\"kwh\":2}", Json.MAPPER.writeValueAsString(r.path("document")));

        // This build's job from the upgraded savepoint, with a database that knows only meter-00042's
        // lost 0/3: meter-00001's 0/4 applies to the document the savepoint had (0/1 to 0/3), which
        // nothing else could give it; 0/3 again is a duplicate.
        InMemorySourceOfTruth truth = new InMemorySourceOfTruth();
        truth.log(new Increment("meter-00042", 0, 3, T0 + 450, "{\"kwh\":3}".getBytes(StandardCharsets.UTF_8)));
        List<SourceRecord> more = List.of(
                record("meter-00001", 3, T0 + 200, "{\"temp\":99}"),
                record("meter-00001", 4, T0 + 40_000, "{\"x\":1}"));
        Map<String, String> last = runThisBuild(cluster, upgraded, truth, more);
        assertEquals("{\"temp\":21.50,\"x\":1}", last.get("meter-00001/0/4"));
        assertFalse(last.containsKey("meter-00001/0/3"), "0/3 again: a duplicate");
        assertEquals("{\"kwh\":5}", last.get("meter-00042/0/5"), "the held 0/4 and 0/5 after the repaired gap");
        assertTrue(last.containsKey("meter-00042/0/3"), "the gap repaired from the database: " + last);
    }

    /** The earlier builds' graph, with their uids; stopped with a savepoint once the input is published. */
    private static String runEarlierBuild(MiniCluster cluster, Path tmp) throws Exception {
        InMemorySourceOfTruth truth = new InMemorySourceOfTruth();
        List<SourceRecord> input = new ArrayList<>();
        input.add(record("meter-00001", 1, T0, "{\"temp\":4.5,\"door\":\"open\"}"));
        input.add(record("meter-00001", 2, T0 + 100, "{\"door\":null}"));
        input.add(record("meter-00001", 3, T0 + 200, "{\"temp\":21.50}"));
        input.add(record("meter-00042", 1, T0 + 300, "{\"kwh\":1}"));
        input.add(record("meter-00042", 2, T0 + 400, "{\"kwh\":2}"));
        input.add(record("meter-00042", 4, T0 + 500, "{\"kwh\":4}")); // 0/3 lost on the way
        input.add(record("meter-00042", 5, T0 + 600, "{\"kwh\":5}"));
        String run = UUID.randomUUID().toString();
        CollectingSink<DeviceState> states = new CollectingSink<>("state-" + run);
        SharedTruth shared = new SharedTruth(run, truth);
        ListThenIdleSource<SourceRecord> events = new ListThenIdleSource<>("events-" + run, input, true);
        JobClient job = null;
        try {
            StreamExecutionEnvironment env = environment(null);
            JobParameters p = params();
            DataStream<SourceRecord> records = source(env, events, "test-events-before");
            SingleOutputStreamOperator<Increment> increments = records.process(new InputRouter(), Compact.INCREMENT)
                    .uid(Uids.INPUT_ROUTER)
                    .name("Validate input");
            DataStream<AuditRecord> noFeedback = records.flatMap(
                    (SourceRecord r, Collector<AuditRecord> out) -> {}, TypeInformation.of(AuditRecord.class));
            SingleOutputStreamOperator<Increment> ordered = increments
                    .keyBy(i -> i.deviceId, Types.STRING)
                    .connect(noFeedback.keyBy(a -> a.deviceId, Types.STRING))
                    .transform(
                            "SequenceGuard",
                            Compact.INCREMENT,
                            new SequenceGuardOperator(new SequenceGuard(
                                    p.reorderGrace, p.resyncMaxLogFetch, p.auditInterval, p.stateIdleTtl)))
                    .uid(Uids.SEQUENCE_GUARD);
            DataStream<LookupResult> results = AsyncDataStream.unorderedWait(
                            ordered.getSideOutput(Tags.LOOKUPS),
                            new SnapshotLookup(DeviceSyncJob.lookupConfig(p), shared),
                            10_000,
                            TimeUnit.MILLISECONDS,
                            100)
                    .returns(TypeInformation.of(LookupResult.class))
                    .uid(Uids.SNAPSHOT_LOOKUP);
            ordered.keyBy(i -> i.deviceId, Types.STRING)
                    .connect(results.keyBy(x -> x.request.deviceId, Types.STRING))
                    .process(
                            new StateReconciler(p.resyncMaxHeld, p.stateIdleTtl, p.stateMaxDocumentBytes),
                            Compact.DEVICE_STATE)
                    .uid(Uids.STATE_RECONCILER)
                    .sinkTo(states)
                    .uid(Uids.SINK_STATE);
            job = env.executeAsync("earlier-build-" + run);
            Progress.await(
                    "the input published",
                    () -> {
                        Map<String, String> last = new HashMap<>();
                        for (DeviceState s : states.collected()) last.put(s.deviceId, s.epoch + "/" + s.seq);
                        return "0/3".equals(last.get("meter-00001")) && "0/2".equals(last.get("meter-00042"));
                    },
                    DEADLINE);
            CommonTestUtils.waitForAllTaskRunning(cluster, job.getJobID(), false);
            return job.stopWithSavepoint(false, tmp.resolve("old").toUri().toString(), SavepointFormatType.CANONICAL)
                    .get();
        } catch (Exception e) {
            if (job != null) job.cancel();
            throw e;
        } finally {
            states.forget();
            shared.forget();
            events.forget();
        }
    }

    /** This build's job from {@code savepoint}: each device's published versions by "device/epoch/seq", with their documents. */
    private static Map<String, String> runThisBuild(
            MiniCluster cluster, String savepoint, InMemorySourceOfTruth truth, List<SourceRecord> input)
            throws Exception {
        String run = UUID.randomUUID().toString();
        CollectingSink<DeviceState> states = new CollectingSink<>("state-" + run);
        CollectingSink<Alert> alerts = new CollectingSink<>("alerts-" + run);
        CollectingSink<DeadLetter> dlq = new CollectingSink<>("dlq-" + run);
        CollectingSink<AuditRecord> audits = new CollectingSink<>("audit-" + run);
        SharedTruth shared = new SharedTruth(run, truth);
        ListThenIdleSource<SourceRecord> events = new ListThenIdleSource<>("events-" + run, input, true);
        JobClient job = null;
        try {
            StreamExecutionEnvironment env = environment(savepoint);
            JobParameters p = params();
            // Another source (its own uid): the earlier run's position in its list is not this one's.
            DataStream<SourceRecord> records = source(env, events, "test-events-after");
            DataStream<AuditRecord> noFeedback = records.flatMap(
                    (SourceRecord r, Collector<AuditRecord> out) -> {}, TypeInformation.of(AuditRecord.class));
            DeviceSyncJob.defineWorkflow(
                    records,
                    noFeedback,
                    null,
                    new SnapshotLookup(DeviceSyncJob.lookupConfig(p), shared),
                    p,
                    p.checkpointInterval,
                    new DeviceSyncJob.Outputs(states, alerts, dlq, audits, "state", "alerts", "dlq", "audit"));
            job = env.executeAsync("this-build-" + run);
            Map<String, String> last = new HashMap<>();
            try {
                Progress.await(
                        "meter-00001's 0/4 and meter-00042's 0/5 published",
                        () -> {
                            for (DeviceState s : states.collected()) {
                                last.put(
                                        s.deviceId + "/" + s.epoch + "/" + s.seq,
                                        new String(s.state, StandardCharsets.UTF_8));
                            }
                            return last.containsKey("meter-00001/0/4") && last.containsKey("meter-00042/0/5");
                        },
                        DEADLINE);
            } catch (AssertionError e) {
                throw new AssertionError(
                        e.getMessage() + ": published " + last + ", alerts " + alerts.collected() + ", audits "
                                + audits.collected(),
                        e);
            }
            job.cancel().get();
            return last;
        } catch (Exception e) {
            if (job != null) job.cancel();
            throw e;
        } finally {
            for (CollectingSink<?> s : List.of(states, alerts, dlq, audits)) s.forget();
            shared.forget();
            events.forget();
        }
    }

    private static StreamExecutionEnvironment environment(String savepoint) {
        Configuration c = new Configuration()
                .set(PipelineOptions.GENERIC_TYPES, false)
                .set(StateBackendOptions.STATE_BACKEND, "rocksdb");
        if (savepoint != null) {
            c.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
            // The test's source is not the job's (its state is a list's position): only it is left out.
            c.set(StateRecoveryOptions.SAVEPOINT_IGNORE_UNCLAIMED_STATE, true);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
        env.setParallelism(1);
        env.getConfig().setAutoWatermarkInterval(50);
        return env;
    }

    private static DataStream<SourceRecord> source(
            StreamExecutionEnvironment env, ListThenIdleSource<SourceRecord> s, String uid) {
        return env.fromSource(
                        s,
                        WatermarkStrategy.<SourceRecord>forBoundedOutOfOrderness(Duration.ofMillis(200))
                                .withTimestampAssigner((r, previous) -> r.eventTime()),
                        "events",
                        TypeInformation.of(SourceRecord.class))
                .uid(uid)
                .setParallelism(1);
    }

    private static JobParameters params() {
        return JobParameters.fromArgs(new String[] {
            "--kafka.bootstrap-servers",
            "unused:9092",
            "--snapshot.url",
            "postgresql://unused:5432/x",
            "--reorder.grace",
            GRACE + " ms",
            "--audit.interval",
            AUDIT + " ms"
        });
    }

    private static SourceRecord record(String device, long seq, long ts, String data) {
        return SourceRecord.of(new Increment(device, 0, seq, ts, data.getBytes(StandardCharsets.UTF_8)));
    }

    /** The guard's audit boundary for a device after {@code t} (as in InspectITCase). */
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
