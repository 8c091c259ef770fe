package io.devicesync.tests.workflow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.jobs.DeviceSyncJob;
import io.devicesync.jobs.JobParameters;
import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeadLetter;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.IncrementCodec;
import io.devicesync.model.Json;
import io.devicesync.model.SourceRecord;
import io.devicesync.model.Versions;
import io.devicesync.operators.sync.InMemorySourceOfTruth;
import io.devicesync.operators.sync.SnapshotLookup;
import io.devicesync.tests.infra.Truth;
import io.devicesync.tests.sim.DeviceSimulator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The middle tier: the whole job graph ({@link DeviceSyncJob#defineWorkflow}) on a MiniCluster,
 * with bounded sources and an in-memory source of truth instead of Kafka and PostgreSQL. Fast
 * enough for many seeds; the end-to-end tests prove the real edges.
 */
class WorkflowITCase {
    private static final long T0 = 1_763_800_000_000L;

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(2)
            .setConfiguration(new Configuration().set(RestartStrategyOptions.RESTART_STRATEGY, "none"))
            .build());

    /**
     * Duplicates, reorders, losses alone and in bursts, device resets and malformed records, over
     * ten seconds of event time; the database knows everything (it leads the stream). At the end of
     * the input every device's last published version equals the truth, versions only ever grow,
     * every malformed record is a dead letter, and every gap was alerted.
     */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
    void theWholeGraphConvergesOnBoundedInput(long seed) throws Exception {
        DeviceSimulator.Options o = new DeviceSimulator.Options();
        o.devices = 300;
        o.lossRate = 0.03;
        o.burstLossRate = 0.01;
        o.rebootRate = 0.01;
        o.seed = seed;
        DeviceSimulator sim = new DeviceSimulator(o);
        InMemorySourceOfTruth truth = new InMemorySourceOfTruth();
        List<SourceRecord> input = new ArrayList<>();
        long ts = T0;
        int malformed = 0;
        for (int b = 0; b <= 20; b++) {
            DeviceSimulator.Batch batch = b < 20 ? sim.next(300, ts) : sim.cleanTail(ts);
            for (Increment i : batch.truth) truth.log(i);
            for (DeviceSimulator.Device d : batch.touched.values())
                truth.snapshot(d.id, d.epoch, d.seq, Json.bytes(d.state));
            for (DeviceSimulator.WireRecord w : batch.wire) {
                IncrementCodec.Parsed parsed = IncrementCodec.parse(w.key, w.value);
                if (parsed.isValid()) {
                    input.add(SourceRecord.of(parsed.increment));
                } else {
                    malformed++;
                    input.add(SourceRecord.rejected(
                            new DeadLetter(w.key, w.value, parsed.rejectReason, "events", 0, input.size(), ts)));
                }
            }
            ts += 500;
        }

        String run = UUID.randomUUID().toString();
        CollectingSink<DeviceState> states = new CollectingSink<>("state-" + run);
        CollectingSink<Alert> alerts = new CollectingSink<>("alerts-" + run);
        CollectingSink<DeadLetter> dlq = new CollectingSink<>("dlq-" + run);
        CollectingSink<AuditRecord> audits = new CollectingSink<>("audit-" + run);
        SharedTruth shared = new SharedTruth(run, truth);
        try {
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(
                    new Configuration().set(PipelineOptions.GENERIC_TYPES, false));
            env.setParallelism(2);
            JobParameters p = JobParameters.fromArgs(new String[] {
                "--kafka.bootstrap-servers",
                "unused:9092",
                "--snapshot.url",
                "postgresql://unused:5432/x",
                "--reorder.grace",
                "1 s",
                "--audit.interval",
                "2 s"
            });
            DataStream<SourceRecord> records = env.fromData(input, TypeInformation.of(SourceRecord.class))
                    .assignTimestampsAndWatermarks(
                            WatermarkStrategy.<SourceRecord>forBoundedOutOfOrderness(Duration.ofMillis(200))
                                    .withTimestampAssigner((r, previous) -> r.eventTime()))
                    .setParallelism(1); // one ordered input, as one Kafka partition carries each device
            // No device-audit read back here: an empty stream (a collection source cannot be empty).
            DataStream<AuditRecord> noFeedback = records.flatMap(
                            (SourceRecord r, Collector<AuditRecord> out) -> {}, TypeInformation.of(AuditRecord.class))
                    .name("no audit feedback");
            DeviceSyncJob.defineWorkflow(
                    records,
                    noFeedback,
                    null,
                    new SnapshotLookup(DeviceSyncJob.lookupConfig(p), shared),
                    p,
                    p.checkpointInterval,
                    new DeviceSyncJob.Outputs(states, alerts, dlq, audits, "state", "alerts", "dlq", "audit"));
            env.execute("workflow-" + seed);

            Map<String, DeviceState> last = new HashMap<>();
            List<String> regressions = new ArrayList<>();
            for (DeviceState s : states.collected()) {
                DeviceState prev = last.put(s.deviceId, s);
                if (prev != null && Versions.compare(s.epoch, s.seq, prev.epoch, prev.seq) <= 0) {
                    regressions.add(s.deviceId + ": " + Versions.format(prev.epoch, prev.seq) + " then "
                            + Versions.format(s.epoch, s.seq));
                }
            }
            assertEquals(List.of(), regressions, "versions strictly increase per device");
            List<String> diverging = new ArrayList<>();
            for (DeviceSimulator.Device d : sim.devices()) {
                DeviceState s = last.get(d.id);
                if (s == null
                        || s.epoch != d.epoch
                        || s.seq != d.seq
                        || !Truth.canonical(s.state).equals(Truth.canonical(Json.bytes(d.state)))) {
                    diverging.add(d.id + ": " + (s == null ? "nothing" : Versions.format(s.epoch, s.seq)) + " vs truth "
                            + Versions.format(d.epoch, d.seq));
                }
            }
            assertEquals(List.of(), diverging, "every device equals the truth at the end of the input");
            assertEquals(malformed, dlq.collected().size(), "every malformed record is a dead letter");
            assertTrue(malformed == 0 || alerts.collected().stream().anyMatch(a -> a.type == AlertType.INVALID_INPUT));
            Set<String> ids = new HashSet<>();
            for (Alert a : alerts.collected()) assertTrue(ids.add(a.alertId), "alert ids unique: " + a);
            assertTrue(sim.lost == 0 || alerts.collected().stream().anyMatch(a -> a.type == AlertType.SEQUENCE_GAP));
        } finally {
            states.forget();
            alerts.forget();
            dlq.forget();
            audits.forget();
            shared.forget();
        }
    }
}
