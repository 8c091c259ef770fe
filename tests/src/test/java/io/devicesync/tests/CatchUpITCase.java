package io.devicesync.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Alert;
import io.devicesync.tests.sim.DeviceSimulator;
import io.devicesync.tests.sim.SimulatedConsumer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.flink.client.program.ClusterClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectClusterClient;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A job that starts behind a backlog (after a stop, an outage, a slow consumer group): event time
 * follows the data it reads, not the wall clock, so the catch-up raises nothing the data does not
 * justify (DESIGN.md, Event time and audits). The backlog spans 20 minutes of event time, many audit
 * intervals, and takes longer to read than the idle timeout; the database is current throughout.
 */
class CatchUpITCase extends EndToEnd {

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(4)
            .setConfiguration(noRestarts())
            .build());

    static final Duration BACKLOG = Duration.ofMinutes(20);
    /** Busy devices: a steady stream all through the backlog (what makes it long to read). */
    static final int BUSY = 20;

    static final int STEPS = 100;
    static final int PER_STEP = 1_000;
    /**
     * Sleepy devices: one increment at the start of the backlog and one at its end. In event time
     * they are quiet for 20 minutes with their next increment on its way (the database has it);
     * were event time to follow the wall clock, their quiet audits would find the database ahead
     * with the missing increment older than the audit: tail loss, repaired from the log.
     */
    static final int SLEEPY = 50;

    @Test
    void aCatchUpRaisesNoTailLossGapOrUnconsumedAndPublishesEveryIncrement(@InjectClusterClient ClusterClient<?> client)
            throws Exception {
        DeviceSimulator.Options o = DeliveryITCase.cleanStream(BUSY, 14);
        try (Scenario s = new Scenario(kafka, db, client.getWebInterfaceURL(), o, 100_000)) {
            DeviceSimulator.Options so = DeliveryITCase.cleanStream(SLEEPY, 15);
            so.prefix = o.prefix + "sleepy-";
            DeviceSimulator sleepy = new DeviceSimulator(so);
            s.otherDevices = SLEEPY;
            String acks = "acks-" + s.id;
            String redispatch = "redispatch-" + s.id;
            kafka.createTopics(4, List.of(acks, redispatch, "redispatch-dlq-" + s.id), List.of());

            // The backlog: 20 minutes of the fleet, recorded in the database as it happened.
            long start = System.currentTimeMillis() - BACKLOG.toMillis();
            long increments = SLEEPY * 2L + BUSY;
            s.writer.write(sleepy.cleanTail(start));
            long step = BACKLOG.toMillis() / STEPS;
            for (int k = 0; k < STEPS; k++) {
                DeviceSimulator.Batch b = s.sim.next(PER_STEP, start + k * step);
                increments += b.truth.size();
                s.writer.write(b);
            }
            s.writer.write(sleepy.cleanTail(start + BACKLOG.toMillis() - 1_000));
            s.writer.write(s.sim.cleanTail(start + BACKLOG.toMillis()));

            try (SimulatedConsumer billing =
                    new SimulatedConsumer(kafka.bootstrapServers(), "billing", s.state, redispatch, acks, 0, 1)) {
                billing.start();
                // The idle timeout of production's order (its default is 10 s), not the suite's 1 s: a
                // source task that reads nothing for that long while it catches up (a checkpoint of
                // its chained exactly-once writers, a slow fetch, on a loaded 2-core machine) can take
                // its partitions for idle, and event time jumps to the wall clock (README, Event time).
                s.startJob(
                        "--audit.interval",
                        "1 s",
                        "--watermark.idle-timeout",
                        "5 s",
                        "--delivery.consumers",
                        "billing",
                        "--topic.acks",
                        acks,
                        "--topic.redispatch",
                        redispatch,
                        "--topic.redispatch-dlq",
                        "redispatch-dlq-" + s.id);
                s.awaitStarted(); // INITIALIZING until then, which awaitConvergence takes for a failure
                // As deployed: unaligned checkpoints (with interruptible timers), a 1 s alignment timeout.
                var checkpoints = s.rest.get("/jobs/" + s.job.getJobID() + "/checkpoints/config");
                assertTrue(checkpoints.path("unaligned_checkpoints").asBoolean(), checkpoints.toString());
                assertEquals(
                        1_000, checkpoints.path("aligned_checkpoint_timeout").asLong(), checkpoints.toString());
                long startedAt = System.nanoTime();
                s.awaitConvergence();
                long catchUpMs = (System.nanoTime() - startedAt) / 1_000_000;
                s.quiesce();
                billing.check();
                s.assertStillRunning();

                Map<String, Long> alerts = s.alertsSeen.stream()
                        .collect(Collectors.groupingBy(a -> a.type.name(), TreeMap::new, Collectors.counting()));
                assertEquals(
                        Map.of(),
                        alerts,
                        "no alert at all: "
                                + s.alertsSeen.stream()
                                        .limit(5)
                                        .map(Alert::toString)
                                        .collect(Collectors.toList()));
                long published = s.sourcesByDevice.values().stream()
                        .mapToLong(List::size)
                        .sum();
                assertEquals(increments, published, "every increment published once");
                assertTrue(
                        s.sourcesByDevice.values().stream()
                                .flatMap(List::stream)
                                .allMatch("increment"::equals),
                        "every record from the stream, none repaired");
                assertTrue(
                        catchUpMs > 5_000,
                        "the backlog took longer to read than the idle timeout: " + catchUpMs + " ms");
                assertTrue(billing.acked.get() > 0);
                System.out.println("catch-up of " + increments + " increments over " + BACKLOG + " of event time: "
                        + catchUpMs + " ms");
            }
        }
    }
}
