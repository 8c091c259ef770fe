package io.devicesync.tests.bench;

import io.devicesync.tests.infra.EmbeddedDatabase;
import io.devicesync.tests.infra.FlinkRest;
import io.devicesync.tests.infra.KafkaProcess;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeoutException;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.WebOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.postgresql.PGConnection;

/**
 * Fleet scale (issue 14): {@code devices} devices, two clean versions each, written an hour ago
 * (the input a job finds after an hour's stop), the database current for every device. Two runs of
 * devicesync on it, each measuring the slowest checkpoint and the longest source stall:
 *
 * <ul>
 *   <li><b>end</b>: the job reads the input, then the input goes idle and event time jumps an hour
 *       to the wall clock: every device's audit is passed by the jump (spread over the next
 *       interval); measured while the input is read and for {@code --fleet-after-intervals} (2.5)
 *       audit intervals after it ends;
 *   <li><b>restore</b>: the job reads the input and is stopped with a savepoint at once (its audit
 *       timers armed, an hour in the past); restored onto the silent input, its event time jumps
 *       from nothing to the wall clock; measured for as long after the restore.
 * </ul>
 * Also reports the audits, the database queries that answered them, and the audits spread.
 */
final class FleetRun {
    private FleetRun() {}

    /** The MiniCluster's REST port, for the checkpoints' history and breakdown. */
    private static final int REST_PORT = freePort();

    /** A port free now (for a MiniCluster's REST endpoint). */
    static int freePort() {
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static String run(
            int devices,
            Duration auditInterval,
            KafkaProcess kafka,
            EmbeddedDatabase db,
            Map<String, String> o,
            Path work)
            throws Exception {
        String topic = "events-fleet";
        Benchmark.createTopics(kafka.bootstrapServers(), List.of(topic));
        long base = System.currentTimeMillis() - Duration.ofHours(1).toMillis();
        long t = System.nanoTime();
        long events = preload(kafka.bootstrapServers(), topic, devices, base);
        seedDatabase(db, devices);
        Benchmark.say(String.format(
                Locale.ROOT,
                "fleet: preloaded %,d events of %,d devices an hour old, database seeded, in %.1f s",
                events,
                devices,
                (System.nanoTime() - t) / 1e9));
        String[] args = {"--audit.interval", auditInterval.toSeconds() + " s"};
        // Long enough to cover the interval over which the jump's audits are spread, and more.
        Duration after = Duration.ofMillis(
                (long) (auditInterval.toMillis() * Double.parseDouble(o.get("fleet-after-intervals"))));

        // end: the input, then its end and the hour's jump.
        Measure end = new Measure();
        JobClient job = start("fleet-end", topic, kafka, db, o, work, null, args);
        end.untilAllIn(job, events);
        end.window(job, after, devices);
        job.cancel().get();
        Benchmark.say("fleet end: " + end);

        // restore: stopped with a savepoint once every event is in, restored onto the silent input.
        Measure input = new Measure();
        Measure restore = new Measure();
        long savepointMs = -1;
        if (!Boolean.parseBoolean(o.get("fleet-restore")))
            return table(devices, events, auditInterval, o, end, -1, input, restore);
        job = start("fleet-restore", topic, kafka, db, o, work, null, args);
        input.untilAllIn(job, events);
        long s0 = System.nanoTime();
        String savepoint = job.stopWithSavepoint(
                        false, work.resolve("savepoints-fleet").toUri().toString(), SavepointFormatType.CANONICAL)
                .get();
        savepointMs = (System.nanoTime() - s0) / 1_000_000;
        job = start("fleet-restore", topic, kafka, db, o, work, savepoint, args);
        restore.window(job, after, devices);
        job.cancel().get();
        Benchmark.say("fleet restore: input " + input + "; stop with savepoint " + savepointMs
                + " ms; after the restore " + restore);
        return table(devices, events, auditInterval, o, end, savepointMs, input, restore);
    }

    private static String table(
            int devices,
            long events,
            Duration auditInterval,
            Map<String, String> o,
            Measure end,
            long savepointMs,
            Measure input,
            Measure restore) {
        String all = String.format(
                Locale.ROOT,
                "%nFleet scale: %,d devices, %,d events written an hour before the run, audit interval %s,"
                        + " checkpoint interval %s s, the database current:%n%n"
                        + "| run | slowest checkpoint while the input is read (ms) | longest source stall (ms) | slowest checkpoint after"
                        + " the input ends / after the restore (ms) | checkpoints completed after | audits | audits spread after the jump"
                        + " | the jump's moves took (ms) | database queries per audit |%n|---|---|---|---|---|---|---|---|---|%n"
                        + "| end of input, then the hour's jump | %,d | %,d | %,d | %d | %,d | %,d | %,d | %.3f |%n"
                        + "| stop with savepoint (%,d ms), restore | %,d | %,d | %,d | %d | %,d | %,d | %,d | %.3f |%n",
                devices,
                events,
                auditInterval,
                o.get("checkpoint-interval"),
                end.inputCheckpointMs,
                end.longestStallMs,
                end.afterCheckpointMs,
                end.afterCheckpoints,
                end.audits,
                end.spread,
                end.movesMs,
                end.queriesPerAudit(),
                savepointMs,
                input.inputCheckpointMs,
                input.longestStallMs,
                restore.afterCheckpointMs,
                restore.afterCheckpoints,
                restore.audits,
                restore.spread,
                restore.movesMs,
                restore.queriesPerAudit());
        // Without the stop-and-restore run (--fleet-restore false), its row is left out.
        return savepointMs < 0 ? all.substring(0, all.lastIndexOf("| stop with savepoint")) : all;
    }

    /** What one job showed: checkpoints, stalls and audits. */
    static final class Measure {
        private final FlinkRest rest = new FlinkRest("http://127.0.0.1:" + REST_PORT);
        long inputCheckpointMs = -1;
        long longestStallMs;
        /** When the longest stall began (wall clock) and the checkpoints while the input was read. */
        long longestStallFromMs;

        List<FlinkRest.CheckpointTimes> inputDetail = List.of();
        long afterCheckpointMs = -1;
        long afterCheckpoints;
        /** The checkpoints of the window, each with its slowest vertex's breakdown (REST). */
        List<FlinkRest.CheckpointTimes> afterDetail = List.of();

        long audits;
        long spread;
        /** From the first audit the jump moved to the last ({@code devices} of them), -1 if not all in the window. */
        long movesMs = -1;

        long queries;

        double queriesPerAudit() {
            return audits == 0 ? 0 : (double) queries / audits;
        }

        /** Samples until every event is in: the slowest checkpoint and the longest time no event came in. */
        void untilAllIn(JobClient job, long events) throws Exception {
            long[] last = {0, System.nanoTime()}; // events seen, when they last grew
            long since = System.currentTimeMillis();
            Benchmark.sampleUntil(Duration.ofMillis(20), Duration.ofMinutes(30), () -> {
                long n = BenchReporter.sum("eventsIn");
                long now = System.nanoTime();
                inputCheckpointMs = Math.max(inputCheckpointMs, BenchReporter.gaugeMax("lastCheckpointDuration"));
                if (n > last[0]) {
                    long stall = (now - last[1]) / 1_000_000;
                    if (last[0] > 0 && stall > longestStallMs) {
                        longestStallMs = stall;
                        longestStallFromMs = System.currentTimeMillis() - stall;
                    }
                    last[0] = n;
                    last[1] = now;
                }
                if (job.getJobStatus().get().isGloballyTerminalState())
                    throw new IllegalStateException("the job ended");
                return n >= events;
            });
            audits = BenchReporter.sum("auditsRequested");
            inputDetail = rest.checkpointsSince(job.getJobID().toString(), since);
        }

        /**
         * Samples for {@code d}: the checkpoints triggered meanwhile, read from the REST API, and
         * the slowest of them; one still in progress at the end counts with its age (a checkpoint
         * stuck behind the jump must not look fast for want of completing).
         */
        void window(JobClient job, Duration d, long devices) throws Exception {
            long since = System.currentTimeMillis();
            long end = System.nanoTime() + d.toNanos();
            long[] moves = {-1}; // when the first audit was moved
            try {
                Benchmark.sampleUntil(Duration.ofMillis(200), d.plusSeconds(5), () -> {
                    if (job.getJobStatus().get().isGloballyTerminalState())
                        throw new IllegalStateException("the job ended");
                    long moved = BenchReporter.sum("auditsSpreadAfterJump");
                    long now = System.nanoTime();
                    if (moved > 0 && moves[0] < 0) moves[0] = now;
                    if (moved >= devices && movesMs < 0 && moves[0] >= 0) movesMs = (now - moves[0]) / 1_000_000;
                    return now >= end;
                });
            } catch (TimeoutException e) {
                // the window is over
            }
            afterDetail = rest.checkpointsSince(job.getJobID().toString(), since);
            afterCheckpoints = afterDetail.stream()
                    .filter(c -> c.status().equals("COMPLETED"))
                    .count();
            afterCheckpointMs = afterDetail.stream()
                    .mapToLong(FlinkRest.CheckpointTimes::durationMs)
                    .max()
                    .orElse(-1);
            audits = BenchReporter.sum("auditsRequested");
            spread = BenchReporter.sum("auditsSpreadAfterJump");
            queries = BenchReporter.sum("databaseQueries");
        }

        @Override
        public String toString() {
            return String.format(
                    Locale.ROOT,
                    "slowest checkpoint while reading %,d ms, longest stall %,d ms (from %tT.%<tL), slowest"
                            + " checkpoint after %,d ms (%d completed), audits %,d, spread %,d (moves took %,d ms),"
                            + " database queries %,d; checkpoints while reading: %s; checkpoints after: %s",
                    inputCheckpointMs,
                    longestStallMs,
                    longestStallFromMs,
                    afterCheckpointMs,
                    afterCheckpoints,
                    audits,
                    spread,
                    movesMs,
                    queries,
                    inputDetail,
                    afterDetail);
        }
    }

    static JobClient start(
            String id,
            String topic,
            KafkaProcess kafka,
            EmbeddedDatabase db,
            Map<String, String> o,
            Path work,
            String savepoint,
            String... args)
            throws Exception {
        BenchReporter.reset();
        Configuration conf = Benchmark.flinkConf(o, work, id);
        if (savepoint != null) conf.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
        conf.set(RestOptions.PORT, REST_PORT);
        conf.set(WebOptions.CHECKPOINTS_HISTORY_SIZE, 200);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, conf);
        Benchmark.buildJob(env, "devicesync", id, topic, kafka, db, o, args);
        return env.executeAsync("bench " + id + (savepoint == null ? "" : " (restored)"));
    }

    /** Two clean versions per device, an hour old, spread over a second of event time per round. */
    static long preload(String bootstrap, String topic, int devices, long base) {
        Properties p = Benchmark.preloadProducer(bootstrap);
        long n = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (int round = 1; round <= 2; round++) {
                for (int d = 0; d < devices; d++, n++) {
                    String id = String.format(Locale.ROOT, "dev-%07d", d);
                    long ts = base + (round - 1) * 1_000L + (long) d * 1_000 / devices;
                    String value = "{\"deviceId\":\"" + id + "\",\"epoch\":0,\"seq\":" + round + ",\"ts\":" + ts
                            + ",\"data\":{\"temp\":" + (20 + round) + "}}";
                    producer.send(new ProducerRecord<>(
                            topic, id.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8)));
                }
            }
        }
        return n;
    }

    /** Every device's snapshot at its last version (COPY: a million rows in seconds). */
    static void seedDatabase(EmbeddedDatabase db, int devices) throws Exception {
        seedDatabase(db, devices, 2, "{\"temp\":22}");
    }

    /** Every device's snapshot at version 0/{@code seq} with {@code state}. */
    static void seedDatabase(EmbeddedDatabase db, int devices, long seq, String state) throws Exception {
        try (Connection c = db.dataSource().getConnection()) {
            c.createStatement().execute("TRUNCATE device_snapshot, device_increment");
            StringBuilder b = new StringBuilder();
            var copy = c.unwrap(PGConnection.class).getCopyAPI();
            for (int d = 0; d < devices; d++) {
                b.append(String.format(Locale.ROOT, "dev-%07d", d))
                        .append("\t0\t")
                        .append(seq)
                        .append('\t')
                        .append(state)
                        .append('\n');
                if (b.length() > 1 << 20 || d == devices - 1) {
                    copy.copyIn(
                            "COPY device_snapshot (device_id, epoch, seq, state) FROM STDIN",
                            new StringReader(b.toString()));
                    b.setLength(0);
                }
            }
        }
    }
}
