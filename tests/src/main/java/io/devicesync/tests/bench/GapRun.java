package io.devicesync.tests.bench;

import io.devicesync.tests.infra.EmbeddedDatabase;
import io.devicesync.tests.infra.KafkaProcess;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeoutException;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Database touches per gap: the same clean input as the throughput runs, less {@code gaps}
 * increments (each of another device, never its first or last), which are in PostgreSQL's
 * {@code device_increment} as a device's log would have them. Rounds are 5 s of event time apart,
 * so that a hole's grace ends while the input is read (for holes in the last rounds, once the idle
 * input's event time follows the wall clock). Counts the gaps the guard declared, the
 * lookups that reached the database, the database queries that answered them (a query answers a
 * batch of lookups' reads) and the repairs completed: one lookup per gap is the aim, and fewer
 * queries than lookups.
 * Audits are set to one a week so that almost only repairs touch the database: at one an hour, the
 * devices whose audit slot the run's few minutes of event time pass (about 5 % of them) were audited
 * too, and counted as lookups (the audits are reported apart, and not counted per gap).
 */
final class GapRun {
    private GapRun() {}

    static String run(
            int gaps,
            long events,
            int devices,
            KafkaProcess kafka,
            EmbeddedDatabase db,
            Map<String, String> o,
            java.nio.file.Path work)
            throws Exception {
        long rounds = events / devices;
        if (rounds < 3 || gaps > devices) {
            throw new IllegalArgumentException(
                    "--gaps: needs at most one gap per device and at least 3 events per device");
        }
        String topic = "events-gaps";
        Benchmark.createTopics(kafka.bootstrapServers(), List.of(topic));
        Set<Long> lost = new HashSet<>(); // device * rounds + round
        for (int k = 0; k < gaps; k++) {
            long device = (long) k * devices / gaps;
            long round = 2 + k % (rounds - 2); // never the first, never the last
            lost.add(device * rounds + round);
        }
        long base = System.currentTimeMillis() - rounds * 5_000 - 60_000;
        Properties p = new Properties();
        p.put("bootstrap.servers", kafka.bootstrapServers());
        p.put("acks", "1");
        p.put("linger.ms", "20");
        p.put("batch.size", "262144");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p);
                Connection c = db.dataSource().getConnection();
                PreparedStatement log =
                        c.prepareStatement("INSERT INTO device_increment (device_id, epoch, seq, data, ts)"
                                + " VALUES (?, 0, ?, ?::jsonb, ?) ON CONFLICT DO NOTHING")) {
            for (long round = 1; round <= rounds; round++) {
                for (int d = 0; d < devices; d++) {
                    String id = String.format(Locale.ROOT, "dev-%06d", d);
                    long ts = base + round * 5_000;
                    String data = "{\"temp\":" + (20 + (round % 100) / 10.0) + ",\"n\":" + round + "}";
                    if (lost.contains(d * rounds + round)) {
                        log.setString(1, id);
                        log.setLong(2, round);
                        log.setString(3, data);
                        log.setObject(4, OffsetDateTime.ofInstant(Instant.ofEpochMilli(ts), ZoneOffset.UTC));
                        log.addBatch();
                        continue;
                    }
                    String value = "{\"deviceId\":\"" + id + "\",\"epoch\":0,\"seq\":" + round + ",\"ts\":" + ts
                            + ",\"data\":" + data + "}";
                    producer.send(new ProducerRecord<>(
                            topic, id.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8)));
                }
            }
            log.executeBatch();
        }

        String id = "gaps";
        BenchReporter.reset();
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.createLocalEnvironment(2, Benchmark.flinkConf(o, work, id));
        Benchmark.buildJob(env, "devicesync", id, topic, kafka, db, o, "--audit.interval", "168 h");
        JobClient job = env.executeAsync("bench " + id);
        long expected = rounds * devices - gaps;
        try {
            long[] lastSay = {System.nanoTime()};
            Benchmark.sampleUntil(Duration.ofMillis(100), Duration.ofMinutes(5), () -> {
                if (job.getJobStatus().get().isGloballyTerminalState())
                    throw new IllegalStateException("gaps: the job ended");
                if (System.nanoTime() - lastSay[0] > 10_000_000_000L) {
                    lastSay[0] = System.nanoTime();
                    Benchmark.say(progress());
                }
                // every version published, the lost ones from the log (repairsCompleted counts only the
                // repairs that ended a wait: one that reaches the reconciler first ends none)
                return BenchReporter.sum("eventsIn") >= expected
                        && BenchReporter.sum("versionsPublished") >= rounds * devices;
            });
        } catch (TimeoutException e) {
            Benchmark.say("gaps: not every version published in 5 min; " + progress());
        }
        long detected = BenchReporter.sum("gapsDetected");
        long audits = BenchReporter.sum("auditsRequested");
        long lookups = BenchReporter.sum("lookupsIssued") - audits;
        long queries = BenchReporter.sum("databaseQueries");
        long repaired = BenchReporter.sum("repairsCompleted");
        long published = BenchReporter.sum("versionsPublished");
        job.cancel().get();
        return String.format(
                Locale.ROOT,
                "Database touches per gap: %,d increments lost of %,d (one each of %,d devices) → %,d gaps"
                        + " declared, %,d lookups (%.2f per gap; %,d audits besides), %,d database queries (%.2f per device"
                        + " looked up), %,d versions published of %,d (%,d of the repairs ended a wait).",
                gaps,
                rounds * devices,
                gaps,
                detected,
                lookups,
                detected > 0 ? (double) lookups / detected : 0,
                audits,
                queries,
                lookups + audits > 0 ? (double) queries / (lookups + audits) : 0,
                published,
                rounds * devices,
                repaired);
    }

    private static String progress() {
        return String.format(
                Locale.ROOT,
                "gaps: %,d events in, %,d gaps, %,d lookups requested, %,d audits, %,d issued (%,d database queries,"
                        + " %,d from the log, %,d failed attempts, %,d not found), %,d repairs, %,d published",
                BenchReporter.sum("eventsIn"),
                BenchReporter.sum("gapsDetected"),
                BenchReporter.sum("lookupsRequested"),
                BenchReporter.sum("auditsRequested"),
                BenchReporter.sum("lookupsIssued"),
                BenchReporter.sum("databaseQueries"),
                BenchReporter.sum("lookupsFromLog"),
                BenchReporter.sum("lookupAttemptsFailed"),
                BenchReporter.sum("lookupsNotFound"),
                BenchReporter.sum("repairsCompleted"),
                BenchReporter.sum("versionsPublished"));
    }
}
