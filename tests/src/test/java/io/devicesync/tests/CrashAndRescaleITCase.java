package io.devicesync.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.model.Alert;
import io.devicesync.model.Codecs;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.IncrementCodec;
import io.devicesync.model.RecordSource;
import io.devicesync.model.Versions;
import io.devicesync.tests.sim.DeviceSimulator;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.client.program.ClusterClient;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.execution.ExecutionState;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectClusterClient;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Faults the suite must prove: a TaskManager that dies mid-stream, and a job rescaled through
 * savepoints (2 → 3 → 1). Unlike the other IT classes, the MiniCluster here restarts a failed job
 * (fixed delay) and has two TaskManagers; state is in RocksDB with incremental checkpoints.
 * Outputs are read {@code read_committed}: whatever happens, no version of a device is published
 * twice or out of order, alert ids stay unique, and every device converges to the database.
 */
class CrashAndRescaleITCase extends EndToEnd {
    private static final String WAITING = "devicesWaitingForRepair";

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(2)
            .setNumberSlotsPerTaskManager(2)
            .setConfiguration(clusterConfiguration())
            .build());

    static Configuration clusterConfiguration() {
        Configuration c = new Configuration();
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        c.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 10);
        c.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofSeconds(1));
        c.set(MetricOptions.METRIC_FETCHER_UPDATE_INTERVAL, Duration.ofMillis(500));
        // Slots spread evenly over the TaskManagers: a job at parallelism 2 runs on both, so the
        // TaskManager the test kills runs part of it.
        c.set(TaskManagerOptions.TASK_MANAGER_LOAD_BALANCE_MODE, TaskManagerOptions.TaskManagerLoadBalanceMode.SLOTS);
        return c;
    }

    /** RocksDB with incremental checkpoints in this class's temporary folder, one folder per scenario. */
    private static Configuration rocksDb(Scenario s) {
        Configuration c = new Configuration();
        c.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
        c.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        c.set(
                CheckpointingOptions.CHECKPOINTS_DIRECTORY,
                tmp.resolve("checkpoints-" + s.id).toUri().toString());
        return c;
    }

    /**
     * A TaskManager dies while batches are still being written: after a checkpoint completed and
     * some output is committed, with gaps, resets and reorders in flight. The job restarts from its
     * last checkpoint (a replacement TaskManager joins, as a pod would be restarted) while the
     * stream goes on. Read committed, nothing is published twice, out of order or lost, every dead
     * letter is there once, alert ids stay unique, every device converges, and once it has no
     * subtask counts a device waiting for a repair.
     */
    @Test
    void recoversFromATaskManagerKilledMidStream(
            @InjectMiniCluster MiniCluster cluster, @InjectClusterClient ClusterClient<?> client) throws Exception {
        long t0 = System.nanoTime();
        DeviceSimulator.Options o = new DeviceSimulator.Options();
        o.devices = 200;
        o.duplicateRate = 0.03;
        o.reorderRate = 0.03;
        o.lossRate = 0.01;
        o.burstLossRate = 0.002;
        o.burstLength = 4;
        o.rebootRate = 0.002;
        o.malformedRate = 0.002;
        o.seed = 61;
        try (Scenario s = new Scenario(kafka, db, client.getWebInterfaceURL(), o, 1000)) {
            s.allowRestarts = true;
            s.startJob(rocksDb(s));
            String jobId = s.job.getJobID().toString();
            s.awaitStarted();
            for (int b = 0; b < 3; b++) s.writer.write(s.sim.next(400, System.currentTimeMillis()));
            s.awaitOrFail(
                    () -> {
                        s.pollOutputs();
                        return completedCheckpoints(s) >= 1 && s.last.size() > o.devices / 4;
                    },
                    () -> "a checkpoint completed and output committed before the crash: " + s.last.size()
                            + " devices");
            Set<String> taskManagers = s.rest.taskManagersOf(jobId);
            assertEquals(2, taskManagers.size(), "the job runs on both TaskManagers: " + taskManagers);
            long checkpointsBefore = completedCheckpoints(s);
            int committedBefore = s.stateReader.all().size();

            // The crash, right after a batch went out: the job is processing it.
            s.writer.write(s.sim.next(400, System.currentTimeMillis()));
            cluster.terminateTaskManager(0).get();
            cluster.startTaskManager();
            // The stream goes on while the job restarts and after: a batch per read of the outputs
            // (about 0.3 s), some 3 s in all.
            int writtenWhileDown = 0;
            for (int b = 0; b < 8; b++) {
                s.writer.write(s.sim.next(400, System.currentTimeMillis()));
                s.pollOutputs();
                if (!allRunning(cluster, s)) writtenWhileDown++;
            }
            s.writer.write(s.sim.cleanTail(System.currentTimeMillis()));

            s.awaitOrFail(() -> numRestarts(s) >= 1, () -> "the job restarts after the crash");
            s.awaitOrFail(
                    () -> {
                        s.pollOutputs();
                        return allRunning(cluster, s);
                    },
                    () -> "every task RUNNING again after the restart");
            s.awaitConvergence();
            s.quiesce();
            s.awaitOrFail(
                    () -> Arrays.equals(gauge(s), new long[] {0, 0}),
                    () -> "devicesWaitingForRepair [min, max] over the subtasks, everything converged: "
                            + Arrays.toString(gauge(s)));
            s.assertStillRunning();

            assertEquals(1, numRestarts(s), "exactly one restart, for the one crash (no restart loop after it)");
            JsonNode restored = s.rest.restoredFrom(jobId);
            assertNotNull(restored, "the job restored from a checkpoint");
            assertFalse(restored.get("is_savepoint").asBoolean(), "from its own checkpoint: " + restored);
            assertTrue(
                    restored.get("id").asLong() >= checkpointsBefore,
                    "from a checkpoint at least as recent as the " + checkpointsBefore + " completed before the crash: "
                            + restored);
            assertTrue(
                    s.rest.latestCompletedCheckpointId(jobId)
                            > restored.get("id").asLong(),
                    "checkpoints complete after the restore");
            assertTrue(committedBefore > 0, "output was committed before the crash");
            assertConsistent(s);
            assertEquals(
                    s.sim.malformed, s.dlqReader.all().size(), "every malformed record dead-lettered exactly once");
            System.out.printf(
                    "TaskManager crash: %d restart(s), restored checkpoint %d, %d of 8 batches written while "
                            + "the job was down; %d versions published for %d devices (%d more records read_uncommitted: the "
                            + "aborted output of the crashed attempt); alerts %s; test %d s%n",
                    numRestarts(s),
                    restored.get("id").asLong(),
                    writtenWhileDown,
                    s.stateReader.all().size(),
                    s.last.size(),
                    readUncommitted(s.state) - s.stateReader.all().size(),
                    alertTypes(s),
                    (System.nanoTime() - t0) / 1_000_000_000);
        }
    }

    /**
     * The job is stopped with a savepoint mid-stream at parallelism 2 and restored at 3, stopped
     * again mid-stream and restored at 1. Each savepoint holds devices waiting for a repair (their
     * database rows lag, so their gaps cannot be closed yet) and increments still on their way.
     * Across the three runs nothing is published twice, out of order or lost, alert ids stay unique,
     * every device converges in every run, and devicesWaitingForRepair is 0 on every subtask once
     * it has (the gauge is counted from the keyed state a subtask gets after the rescale).
     */
    @Test
    void rescalesThroughSavepointsFromTwoToThreeToOne(@InjectClusterClient ClusterClient<?> client) throws Exception {
        long t0 = System.nanoTime();
        DeviceSimulator.Options o = new DeviceSimulator.Options();
        o.devices = 300;
        o.duplicateRate = 0.03;
        o.reorderRate = 0.03;
        o.lossRate = 0.02;
        o.rebootRate = 0.003;
        o.malformedRate = 0;
        o.seed = 71;
        int[] parallelisms = {2, 3, 1};
        try (Scenario s = new Scenario(kafka, db, client.getWebInterfaceURL(), o, 1000)) {
            // Every fifth device's rows reach the database late during the mid-stream phases.
            Set<String> lagging = new HashSet<>();
            for (int i = 0; i < o.devices; i += 5) lagging.add(s.sim.devices()[i].id);
            List<DeviceSimulator.Batch> late = new ArrayList<>();
            Map<String, long[]> before = new HashMap<>();
            String savepoint = null;
            List<String> timings = new ArrayList<>();
            for (int run = 0; run < parallelisms.length; run++) {
                long runStart = System.nanoTime();
                int p = parallelisms[run];
                s.parallelism = p;
                Configuration conf = rocksDb(s);
                if (savepoint != null) conf.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
                s.startJob(conf);
                String jobId = s.job.getJobID().toString();
                s.awaitStarted();
                assertEquals(
                        Set.of(p),
                        new HashSet<>(s.rest.parallelismByVertex(jobId).values()),
                        "every vertex at parallelism " + p + ": " + s.rest.parallelismByVertex(jobId));
                if (savepoint != null) {
                    String from = savepoint;
                    s.awaitOrFail(() -> restoredFrom(s) != null, () -> "the restore from " + from + " is reported");
                    assertTrue(restoredFrom(s).get("is_savepoint").asBoolean(), "restored from the savepoint");
                    // Exactly the lagging devices whose gap or reset the stream revealed before the
                    // stop wait (graces that had not expired at the stop expire now): their held
                    // increments moved to this run's subtasks, and the gauge counts each once.
                    // Then the database catches up.
                    Set<String> expected = expectedWaiting(late, lagging, before);
                    assertTrue(expected.size() >= 3, "the savepoint holds devices waiting for a repair: " + expected);
                    s.awaitOrFail(
                            () -> metric(s, WAITING) == expected.size(),
                            () -> WAITING + " after the restore at "
                                    + p + ": " + metric(s, WAITING) + ", expected the " + expected.size()
                                    + " lagging devices "
                                    + "with a gap or a reset " + expected);
                    timings.add("p=" + p + " restored with " + expected.size() + " waiting");
                    for (DeviceSimulator.Batch b : late) s.writer.writeTruth(b, lagging::contains, d -> true);
                    late.clear();
                }

                // A lossy stream and a clean tail: everything converges, nothing waits any more.
                for (int b = 0; b < 3; b++) s.writer.write(s.sim.next(400, System.currentTimeMillis()));
                s.writer.write(s.sim.cleanTail(System.currentTimeMillis()));
                s.awaitConvergence();
                s.quiesce();
                s.awaitOrFail(
                        () -> Arrays.equals(gauge(s), new long[] {0, 0}),
                        () -> "devicesWaitingForRepair [min, max] over the " + p + " subtasks, everything converged: "
                                + Arrays.toString(gauge(s)));
                s.assertStillRunning();
                if (run == parallelisms.length - 1) {
                    timings.add("p=" + p + " " + (System.nanoTime() - runStart) / 1_000_000 + " ms");
                    break;
                }

                // Everything converged: each lagging device's version before the mid-stream phase.
                before.clear();
                for (String d : lagging) before.put(d, new long[] {s.last.get(d).epoch, s.last.get(d).seq});
                // Mid-stream: the database lags for some devices, so their gaps wait for it. The
                // job is stopped while they wait and while the last batches are still being read.
                for (int b = 0; b < 4; b++) {
                    DeviceSimulator.Batch batch = s.sim.next(400, System.currentTimeMillis());
                    late.add(batch);
                    s.writer.writeTruth(batch, d -> !lagging.contains(d), d -> true);
                    s.writer.publish(batch);
                    if (b == 1) {
                        s.awaitOrFail(() -> gauge(s)[1] > 0, () -> "devices waiting for a repair at parallelism " + p);
                    }
                }
                timings.add("p=" + p + " stopped with " + s.metrics(WAITING).get(WAITING) + " waiting");
                savepoint = s.job.stopWithSavepoint(
                                false,
                                tmp.resolve("savepoints-" + s.id).toUri().toString(),
                                SavepointFormatType.CANONICAL)
                        .get();
                timings.add("p=" + p + " " + (System.nanoTime() - runStart) / 1_000_000 + " ms");
            }
            assertConsistent(s);
            assertFalse(devicesWith(s, "RESYNC_FAILED").isEmpty(), "repairs failed while the database lagged");
            assertTrue(
                    s.sourcesByDevice.values().stream().flatMap(List::stream).anyMatch(src -> !src.equals("increment")),
                    "some versions came from repairs");
            System.out.printf(
                    "Rescale 2 -> 3 -> 1: %s; %d versions published for %d devices; alerts %s; test %d s%n",
                    timings,
                    s.stateReader.all().size(),
                    s.last.size(),
                    alertTypes(s),
                    (System.nanoTime() - t0) / 1_000_000_000);
        }
    }

    /**
     * What read-committed consumers must see whatever happened to the job: strictly increasing
     * versions per device, no (device, epoch, seq) twice, nothing lost (every version published
     * from an increment or the log follows the one before it: only a snapshot may jump), unique
     * alert ids.
     */
    static void assertConsistent(Scenario s) {
        assertTrue(s.orderViolations.isEmpty(), "versions strictly increase per device: " + s.orderViolations);
        Map<String, DeviceState> previous = new HashMap<>();
        List<String> skipped = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : s.stateReader.all()) {
            DeviceState d = Codecs.readDeviceState(r.value());
            DeviceState p = previous.put(d.deviceId, d);
            if (d.source() == RecordSource.SNAPSHOT) continue;
            boolean follows = p == null
                    ? d.seq == 1
                    : (d.epoch == p.epoch && d.seq == p.seq + 1) || (d.epoch > p.epoch && d.seq == 1);
            if (!follows) {
                skipped.add(d.deviceId + ": " + (p == null ? "nothing" : p.epoch + "/" + p.seq + " (" + p.source + ")")
                        + " then " + d.epoch + "/" + d.seq + " (" + d.source + ")");
            }
        }
        assertEquals(
                List.of(),
                skipped.stream().limit(10).collect(Collectors.toList()),
                skipped.size() + " version(s) published from an increment or the log without the one before it: lost");
        Map<String, Integer> copies = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : s.stateReader.all()) {
            DeviceState d = Codecs.readDeviceState(r.value());
            copies.merge(new String(r.key(), StandardCharsets.UTF_8) + "@" + d.epoch + "/" + d.seq, 1, Integer::sum);
        }
        List<String> twice = copies.entrySet().stream()
                .filter(e -> e.getValue() > 1)
                .map(Map.Entry::getKey)
                .limit(10)
                .collect(Collectors.toList());
        assertEquals(List.of(), twice, "no version published twice");
        assertEquals(copies.size(), s.stateReader.all().size());
        Map<String, Alert> byId = new HashMap<>();
        List<String> duplicates = new ArrayList<>();
        for (Alert a : s.alertsSeen) {
            Alert before = byId.put(a.alertId, a);
            if (before != null) duplicates.add(before + " / " + a);
        }
        assertEquals(List.of(), duplicates.stream().limit(5).collect(Collectors.toList()), "alert ids unique");
        assertEquals(
                devicesWith(s, "RESYNC_FAILED"),
                devicesWith(s, "RESYNC_RESOLVED"),
                "every device whose repair failed is resolved, and says so");
    }

    /**
     * The lagging devices that wait for a repair once the {@code late} batches were read and their
     * graces expired: those whose stream showed a gap (a version never delivered below one that
     * was) or moved to a higher epoch (a reset is confirmed by a lookup). The database has none
     * of their late rows, so none of these repairs can complete.
     */
    private static Set<String> expectedWaiting(
            List<DeviceSimulator.Batch> late, Set<String> lagging, Map<String, long[]> before) {
        Set<String> out = new TreeSet<>();
        for (String id : lagging) {
            long[] start = before.get(id);
            long[] max = start;
            List<long[]> truth = new ArrayList<>();
            Set<String> delivered = new HashSet<>();
            for (DeviceSimulator.Batch b : late) {
                for (Increment i : b.truth) if (i.deviceId.equals(id)) truth.add(new long[] {i.epoch, i.seq});
                for (DeviceSimulator.WireRecord w : b.wire) {
                    if (w.malformed) continue;
                    IncrementCodec.Parsed parsed = IncrementCodec.parse(w.key, w.value);
                    if (!parsed.isValid() || !parsed.increment.deviceId.equals(id)) continue;
                    Increment i = parsed.increment;
                    delivered.add(i.epoch + "/" + i.seq);
                    if (Versions.compare(i.epoch, i.seq, max[0], max[1]) > 0) max = new long[] {i.epoch, i.seq};
                }
            }
            long[] top = max;
            boolean reset = top[0] > start[0];
            boolean gap = truth.stream()
                    .anyMatch(v ->
                            !delivered.contains(v[0] + "/" + v[1]) && Versions.compare(v[0], v[1], top[0], top[1]) < 0);
            if (reset || gap) out.add(id);
        }
        return out;
    }

    private static Set<String> devicesWith(Scenario s, String type) {
        return s.alertsSeen.stream()
                .filter(a -> a.type.name().equals(type))
                .map(a -> a.deviceId)
                .collect(Collectors.toCollection(TreeSet::new));
    }

    static Map<String, Long> alertTypes(Scenario s) {
        return s.alertsSeen.stream()
                .collect(Collectors.groupingBy(a -> a.type.name(), java.util.TreeMap::new, Collectors.counting()));
    }

    private static long metric(Scenario s, String name) {
        try {
            s.pollOutputs();
            return s.metrics(name).get(name);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** How many records a read_uncommitted consumer sees on the topic (aborted transactions included). */
    private static long readUncommitted(String topic) {
        Properties p = new Properties();
        p.put("bootstrap.servers", kafka.bootstrapServers());
        p.put("enable.auto.commit", "false");
        p.put("isolation.level", "read_uncommitted");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> partitions = c.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(i -> new TopicPartition(topic, i.partition()))
                    .collect(Collectors.toList());
            c.assign(partitions);
            c.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = c.endOffsets(partitions, Duration.ofSeconds(30));
            long n = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (partitions.stream().anyMatch(tp -> c.position(tp) < end.get(tp)) && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    if (r.offset() < end.get(new TopicPartition(r.topic(), r.partition()))) n++;
                }
            }
            return n;
        }
    }

    private static long completedCheckpoints(Scenario s) {
        try {
            return s.rest.completedCheckpoints(s.job.getJobID().toString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static long numRestarts(Scenario s) {
        try {
            s.pollOutputs();
            return s.rest.numRestarts(s.job.getJobID().toString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Whether the job and every one of its subtasks are RUNNING, from the JobMaster itself (no REST cache). */
    static boolean allRunning(MiniCluster cluster, Scenario s) {
        try {
            AccessExecutionGraph g = cluster.getExecutionGraph(s.job.getJobID()).get();
            if (g.getState() != JobStatus.RUNNING) return false;
            for (AccessExecutionVertex v : g.getAllExecutionVertices()) {
                if (v.getExecutionState() != ExecutionState.RUNNING) return false;
            }
            return true;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static JsonNode restoredFrom(Scenario s) {
        try {
            s.pollOutputs();
            return s.rest.restoredFrom(s.job.getJobID().toString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** devicesWaitingForRepair: {min, max} over the subtasks ({-1, -1} until reported). */
    private static long[] gauge(Scenario s) {
        try {
            s.pollOutputs();
            long[] v = s.rest.minMax(s.job.getJobID().toString(), WAITING);
            return v == null ? new long[] {-1, -1} : v;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
