package io.devicesync.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.RecordSource;
import io.devicesync.tests.infra.Truth;
import io.devicesync.tests.sim.DeviceSimulator;
import java.util.List;
import java.util.Map;
import org.apache.flink.client.program.ClusterClient;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectClusterClient;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code --bootstrap.from-database}: a fleet already in {@code device_snapshot} when the job first
 * starts, and a stream that goes on from where the database is (mid-sequence for every device),
 * while the bootstrap reads the table. On the real broker and database: no device the bootstrap
 * seeded is looked up, every device converges, no version is published twice or backwards; a
 * TaskManager killed in the middle of the bootstrap resumes it from its checkpoint.
 */
class BootstrapITCase extends EndToEnd {
    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(2)
            .setNumberSlotsPerTaskManager(2)
            .setConfiguration(CrashAndRescaleITCase.clusterConfiguration())
            .build());

    private static DeviceSimulator.Options options(int devices, long seed) {
        DeviceSimulator.Options o = new DeviceSimulator.Options();
        o.devices = devices;
        o.duplicateRate = 0.03;
        o.reorderRate = 0.03;
        o.lossRate = 0;
        o.rebootRate = 0;
        o.malformedRate = 0;
        o.seed = seed;
        return o;
    }

    /** The fleet's history, in the database only (the job was not there): every device at seq 1 or more. */
    private static int writeHistory(Scenario s, int batches) throws Exception {
        long ts = System.currentTimeMillis() - 3_600_000;
        s.writer.writeTruth(s.sim.cleanTail(ts));
        for (int b = 0; b < batches; b++) s.writer.writeTruth(s.sim.next(s.sim.devices().length, ts));
        return s.truthOfThisScenario().size();
    }

    /**
     * Each device's first publication is its seed: a snapshot at the version the database had at
     * the start, or later (the stream's rows reach the database while the bootstrap reads it).
     */
    private static void assertSeededFirst(Scenario s, Map<String, Truth.Version> history) {
        for (Map.Entry<String, Truth.Version> e : history.entrySet()) {
            List<String> published = s.publishedVersions.get(e.getKey());
            assertTrue(published != null && !published.isEmpty(), e.getKey() + " published");
            String first = published.get(0);
            long seq = Long.parseLong(first.substring(first.indexOf('/') + 1, first.indexOf(':')));
            assertTrue(
                    first.startsWith("0/")
                            && first.endsWith(":" + RecordSource.SNAPSHOT)
                            && seq >= e.getValue().seq(),
                    e.getKey() + ": first its seed (at " + e.getValue().seq() + " or later), then the stream: "
                            + published);
        }
    }

    /**
     * The guard's counters, once the web monitor shows at least {@code atLeast} devices seeded (it
     * fetches metrics every half second, so the sums may lag what was counted).
     */
    private static Map<String, Long> awaitSeeded(Scenario s, long atLeast) throws Exception {
        List<String> names = List.of("lookupsRequested", "devicesSeeded", "seedsSkipped");
        @SuppressWarnings("unchecked")
        Map<String, Long>[] m = new Map[1];
        s.awaitOrFail(
                () -> {
                    try {
                        m[0] = s.metrics(names.toArray(new String[0]));
                        return m[0].get("devicesSeeded") >= atLeast;
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                },
                () -> "the web monitor shows at least " + atLeast + " devices seeded: " + m[0]);
        return m[0];
    }

    @Test
    void seedsTheFleetWithoutALookupWhileTheStreamGoesOnAndConverges(@InjectClusterClient ClusterClient<?> client)
            throws Exception {
        try (Scenario s = new Scenario(kafka, db, client.getWebInterfaceURL(), options(400, 81), 1000)) {
            int fleet = writeHistory(s, 4);
            assertEquals(400, fleet);
            Map<String, Truth.Version> history = s.truthOfThisScenario();
            // The bootstrap reads the whole table: the rows of the class's other scenarios too.
            int rows = Truth.read(db.dataSource()).size();
            // 400 rows a second: the stream's batches go out while the bootstrap reads, so that some
            // devices are seeded before their new rows reach the database (their stream continues
            // the seed) and some after (the seed has the stream's versions, and those are stale).
            s.startJob(
                    "--bootstrap.from-database",
                    "true",
                    "--bootstrap.chunk-size",
                    "50",
                    "--bootstrap.rows-per-second",
                    "400");
            s.awaitStarted();
            for (int b = 0; b < 3; b++) {
                s.writer.write(s.sim.next(400, System.currentTimeMillis()));
                s.pollOutputs();
            }
            s.writer.write(s.sim.cleanTail(System.currentTimeMillis()));
            s.awaitConvergence();
            s.quiesce();
            s.assertStillRunning();
            Map<String, Long> m = awaitSeeded(s, rows);
            assertEquals(0, m.get("lookupsRequested"), "no device looked up: every one was seeded; " + m);
            assertEquals(rows, m.get("devicesSeeded"), "every device seeded once: " + m);
            assertEquals(0, m.get("seedsSkipped"), m.toString());
            assertSeededFirst(s, history);
            long continued = history.keySet().stream()
                    .filter(id -> s.sourcesByDevice.get(id).contains(RecordSource.INCREMENT.wire))
                    .count();
            assertTrue(continued > 0, "some devices' streams continued their seeds");
            CrashAndRescaleITCase.assertConsistent(s);
            System.out.printf(
                    "Bootstrap: %d devices continued their seeds; %d devices seeded, %s; %d versions published; alerts %s%n",
                    continued, fleet, m, s.stateReader.all().size(), CrashAndRescaleITCase.alertTypes(s));
        }
    }

    @Test
    void aTaskManagerKilledInTheMiddleOfTheBootstrapResumesItFromItsCheckpointAndEventTimeGoesOnAfterIt(
            @InjectMiniCluster MiniCluster cluster, @InjectClusterClient ClusterClient<?> client) throws Exception {
        try (Scenario s = new Scenario(kafka, db, client.getWebInterfaceURL(), options(1200, 83), 1000)) {
            s.allowRestarts = true;
            writeHistory(s, 2);
            Map<String, Truth.Version> history = s.truthOfThisScenario();
            // The bootstrap reads the whole table: the rows of the class's other scenarios too.
            int fleet = Truth.read(db.dataSource()).size();
            Configuration rocks = new Configuration();
            rocks.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
            rocks.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
            rocks.set(
                    CheckpointingOptions.CHECKPOINTS_DIRECTORY,
                    tmp.resolve("checkpoints-" + s.id).toUri().toString());
            // 100 rows a second: the bootstrap takes 12 s or more, long enough to be killed in its middle
            // after a checkpoint (the first may take seconds on a loaded machine).
            s.startJob(
                    rocks,
                    "--bootstrap.from-database",
                    "true",
                    "--bootstrap.chunk-size",
                    "20",
                    "--bootstrap.rows-per-second",
                    "100");
            String jobId = s.job.getJobID().toString();
            s.awaitStarted();
            s.writer.write(s.sim.next(300, System.currentTimeMillis()));
            long[] seededBefore = new long[1];
            long[] checkpoint = new long[1];
            s.awaitOrFail(
                    () -> {
                        try {
                            seededBefore[0] = s.metrics("devicesSeeded").get("devicesSeeded");
                            if (seededBefore[0] < fleet / 5) return false;
                            if (checkpoint[0] == 0) checkpoint[0] = s.rest.latestCompletedCheckpointId(jobId);
                            return s.rest.latestCompletedCheckpointId(jobId) > checkpoint[0];
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    },
                    () -> "a checkpoint completed with a fifth of the fleet seeded: " + seededBefore[0]);
            seededBefore[0] = s.metrics("devicesSeeded").get("devicesSeeded");
            assertTrue(
                    seededBefore[0] < fleet, "the bootstrap is still under way: " + seededBefore[0] + " of " + fleet);

            cluster.terminateTaskManager(0).get();
            cluster.startTaskManager();
            s.awaitOrFail(() -> CrashAndRescaleITCase.numRestarts(s) >= 1, () -> "the job restarts after the crash");
            s.simulate(2, 300);
            s.awaitConvergence();
            s.quiesce();
            s.assertStillRunning();
            Map<String, Long> m = awaitSeeded(s, 1);
            // The metrics are the restarted attempt's: it seeded only what the checkpoint had not.
            assertTrue(m.get("devicesSeeded") < fleet, "resumed, not read again from the start: " + m);
            assertTrue(m.get("devicesSeeded") > 0, "the rest seeded after the restart: " + m);
            assertEquals(0, m.get("seedsSkipped"), "no row read twice into the restored state: " + m);
            assertEquals(0, m.get("lookupsRequested"), m.toString());
            assertSeededFirst(s, history);
            CrashAndRescaleITCase.assertConsistent(s);

            // Once the bootstrap is done, its source is finished in every checkpoint: restored from
            // one, it must not hold event time back. A second crash, then a stream with losses,
            // whose gaps are declared only when event time passes their grace.
            long done = s.rest.latestCompletedCheckpointId(jobId);
            s.awaitOrFail(
                    () -> {
                        try {
                            return s.rest.latestCompletedCheckpointId(jobId) > done;
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    },
                    () -> "a checkpoint after the bootstrap ended");
            cluster.terminateTaskManager(1).get();
            cluster.startTaskManager();
            s.awaitOrFail(
                    () -> CrashAndRescaleITCase.numRestarts(s) >= 2, () -> "the job restarts after the second crash");
            s.sim.options().lossRate = 0.05;
            s.writer.write(s.sim.next(600, System.currentTimeMillis()));
            s.sim.options().lossRate = 0;
            s.writer.write(s.sim.cleanTail(System.currentTimeMillis()));
            s.awaitOrFail(
                    () -> {
                        s.pollOutputs();
                        return s.alertCount("SEQUENCE_GAP") > 0;
                    },
                    () -> "gaps declared after the restore: event time moves with the bootstrap finished");
            s.awaitConvergence();
            s.quiesce();
            s.assertStillRunning();
            CrashAndRescaleITCase.assertConsistent(s);
            System.out.printf(
                    "Bootstrap with a crash: %d of %d seeded before it, %s after the restore; restarts %d; "
                            + "after a second crash with the bootstrap done, %d gaps%n",
                    seededBefore[0], fleet, m, CrashAndRescaleITCase.numRestarts(s), s.alertCount("SEQUENCE_GAP"));
        }
    }
}
