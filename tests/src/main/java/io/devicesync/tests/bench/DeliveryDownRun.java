package io.devicesync.tests.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.tests.infra.EmbeddedDatabase;
import io.devicesync.tests.infra.FlinkRest;
import io.devicesync.tests.infra.KafkaProcess;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * A fleet with one consumer down (issue 16, "no hot key"): one version of each of
 * {@code --delivery-down} devices, two consumers, {@code billing} acknowledging everything and
 * {@code archive} nothing, with a schedule short enough that every device's attempts fall due and
 * are exhausted within the run (ack timeout 10 s, 3 attempts, backoff 2 s to 4 s). Parallelism 2.
 * Sampled every 5 s for {@code --delivery-down-seconds}: archive's backlog, each subtask's queued
 * attempts and dead letters, redispatches and dead letters sent, the heap after a GC, the slowest
 * checkpoint; at the end each subtask's share of the work and of the scheduler's checkpointed
 * state, the rates against the budget, and how the heap moved with the backlog.
 */
final class DeliveryDownRun {
    private DeliveryDownRun() {}

    private static final int REST_PORT = FleetRun.freePort();

    /** One sample. */
    private record Sample(
            double seconds,
            long eventsIn,
            long backlog,
            Map<Integer, Long> queued,
            Map<Integer, Long> sent,
            Map<Integer, Long> deadLetters,
            long heapMb,
            long checkpointMs) {}

    static String run(int devices, KafkaProcess kafka, EmbeddedDatabase db, Map<String, String> o, Path work)
            throws Exception {
        String topic = "events-down";
        Benchmark.createTopics(kafka.bootstrapServers(), List.of(topic));
        long base = System.currentTimeMillis() - Duration.ofMinutes(1).toMillis();
        long events = preload(kafka.bootstrapServers(), topic, devices, base);
        FleetRun.seedDatabase(db, devices, 1, "{\"temp\":21}"); // what an audit finds: the same
        int rate = Integer.parseInt(o.get("delivery-down-rate"));
        long seconds = Long.parseLong(o.get("delivery-down-seconds"));
        Benchmark.say(String.format(
                Locale.ROOT,
                "delivery-down: %,d events of %,d devices preloaded; archive never acknowledges; budget %,d/s; %d s",
                events,
                devices,
                rate,
                seconds));
        String id = "down";
        BenchReporter.reset();
        Configuration conf = Benchmark.flinkConf(o, work, id);
        conf.set(RestOptions.PORT, REST_PORT);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, conf);
        Benchmark.buildJob(
                env,
                "devicesync",
                id,
                topic,
                kafka,
                db,
                o,
                "--delivery.consumers",
                "billing,archive",
                "--delivery.ack-timeout",
                "10 s",
                "--redispatch.max-attempts",
                "3",
                "--redispatch.backoff",
                "2 s",
                "--redispatch.max-backoff",
                "4 s",
                "--redispatch.rate",
                Integer.toString(rate),
                "--audit.interval",
                "24 h");
        kafka.startConsumers("state-" + id, "redispatch-" + id, "acks-" + id, List.of("billing"));
        FlinkRest rest = new FlinkRest("http://localhost:" + REST_PORT);
        JobClient job = env.executeAsync("bench delivery-down");
        String jobId = job.getJobID().toHexString();
        List<Sample> samples = new ArrayList<>();
        java.util.Set<Long> explained = new java.util.HashSet<>();
        long t0 = System.nanoTime();
        try {
            // A sample every 5 s on the benchmark's timer thread, until the run's time is up.
            Benchmark.sampleUntil(Duration.ofSeconds(5), Duration.ofSeconds(seconds + 60), () -> {
                if (System.nanoTime() - t0 < Duration.ofSeconds(5).toNanos()) return false; // the first at 5 s
                if (job.getJobStatus().get().isGloballyTerminalState())
                    throw new IllegalStateException("delivery-down: the job ended");
                System.gc();
                long heap =
                        ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() >> 20;
                long checkpoint = BenchReporter.gaugeMax("lastCheckpointDuration");
                Sample s = new Sample(
                        (System.nanoTime() - t0) / 1e9,
                        BenchReporter.sum("eventsIn"),
                        sum(BenchReporter.perSubtask("backlog", "archive")),
                        BenchReporter.perSubtask("redispatchesQueued", "archive"),
                        BenchReporter.perSubtask("redispatchesSent", "archive"),
                        BenchReporter.perSubtask("redispatchesExhausted", "archive"),
                        heap,
                        checkpoint);
                samples.add(s);
                explainSlowCheckpoints(rest, jobId, explained);
                Benchmark.say(String.format(
                                Locale.ROOT,
                                "delivery-down %5.0f s: in %,d, acks %,d, episodes %,d, backlog %,d, queued %s, sent %s, dead"
                                        + " letters %s, heap %,d MB, last checkpoint %,d ms",
                                s.seconds,
                                s.eventsIn,
                                BenchReporter.sum("acksApplied"),
                                BenchReporter.sum("unconsumedEpisodes"),
                                s.backlog,
                                s.queued,
                                s.sent,
                                s.deadLetters,
                                s.heapMb,
                                s.checkpointMs)
                        + "; busy " + Benchmark.busySummary() + "; backpressured "
                        + perTask("backPressuredTimeMsPerSecond"));
                return System.nanoTime() - t0 >= Duration.ofSeconds(seconds).toNanos();
            });
            String state = stateBySubtask(rest, jobId);
            long slowest =
                    samples.stream().mapToLong(Sample::checkpointMs).max().orElse(-1);
            return table(devices, rate, samples, slowest, state);
        } finally {
            job.cancel().get();
            kafka.stopConsumers();
        }
    }

    /** One version per device, a minute old, over a second of event time. */
    static long preload(String bootstrap, String topic, int devices, long base) {
        java.util.Properties p = Benchmark.preloadProducer(bootstrap);
        try (var producer = new org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]>(p)) {
            for (int d = 0; d < devices; d++) {
                String id = String.format(Locale.ROOT, "dev-%07d", d);
                long ts = base + (long) d * 1_000 / devices;
                String value =
                        "{\"deviceId\":\"" + id + "\",\"epoch\":0,\"seq\":1,\"ts\":" + ts + ",\"data\":{\"temp\":21}}";
                producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(
                        topic,
                        id.getBytes(java.nio.charset.StandardCharsets.UTF_8),
                        value.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
            }
        }
        return devices;
    }

    /** A task gauge by task (the tasks above 50 ms/s). */
    private static String perTask(String gauge) {
        StringBuilder b = new StringBuilder();
        BenchReporter.perTask(gauge).forEach((task, ms) -> {
            if (ms >= 50) b.append(String.format(Locale.ROOT, "%s %.0f, ", task.replaceAll(" ->.*", ""), ms));
        });
        return b.length() == 0 ? "-" : b.substring(0, b.length() - 2);
    }

    private static long sum(Map<Integer, Long> m) {
        long n = 0;
        for (long v : m.values()) n += v;
        return n;
    }

    /**
     * Each completed checkpoint over 3 s, once: for each vertex over 1 s, each subtask's start delay
     * (the barrier's way to it), alignment, synchronous and asynchronous parts, and whether it went
     * unaligned (what the web UI's checkpoint details show).
     */
    private static void explainSlowCheckpoints(FlinkRest rest, String jobId, java.util.Set<Long> explained) {
        try {
            for (JsonNode c : rest.get("/jobs/" + jobId + "/checkpoints").path("history")) {
                long cid = c.path("id").asLong();
                if (!"COMPLETED".equals(c.path("status").asText())
                        || c.path("end_to_end_duration").asLong() < 3_000
                        || !explained.add(cid)) continue;
                JsonNode d = rest.get("/jobs/" + jobId + "/checkpoints/details/" + cid);
                StringBuilder b = new StringBuilder(String.format(
                        Locale.ROOT,
                        "delivery-down: checkpoint %d took %,d ms (%,d MB, %,d MB persisted in flight):",
                        cid,
                        c.path("end_to_end_duration").asLong(),
                        c.path("state_size").asLong() >> 20,
                        c.path("persisted_data").asLong() >> 20));
                java.util.Iterator<Map.Entry<String, JsonNode>> tasks =
                        d.path("tasks").fields();
                Map<String, String> names = vertexNames(rest, jobId);
                while (tasks.hasNext()) {
                    Map.Entry<String, JsonNode> t = tasks.next();
                    if (t.getValue().path("end_to_end_duration").asLong() < 1_000) continue;
                    JsonNode st =
                            rest.get("/jobs/" + jobId + "/checkpoints/details/" + cid + "/subtasks/" + t.getKey());
                    b.append("\n    ")
                            .append(names.getOrDefault(t.getKey(), t.getKey()).replaceAll(" ->.*", ""))
                            .append(':');
                    for (JsonNode s : st.path("subtasks")) {
                        b.append(String.format(
                                Locale.ROOT,
                                " [%d: total %,d, start delay %,d, alignment %,d, sync %,d, async %,d, %s, %,d MB]",
                                s.path("index").asInt(),
                                s.path("end_to_end_duration").asLong(),
                                s.path("start_delay").asLong(),
                                s.path("alignment").path("duration").asLong(),
                                s.path("checkpoint").path("sync").asLong(),
                                s.path("checkpoint").path("async").asLong(),
                                s.path("unaligned_checkpoint").asBoolean() ? "unaligned" : "aligned",
                                s.path("state_size").asLong() >> 20));
                    }
                }
                Benchmark.say(b.toString());
            }
        } catch (Exception e) {
            Benchmark.say("delivery-down: checkpoint details not read: " + e);
        }
    }

    /** The job's vertices' names (a chain's, whole) by vertex id. */
    private static Map<String, String> vertexNames(FlinkRest rest, String jobId) throws Exception {
        Map<String, String> names = new java.util.HashMap<>();
        for (JsonNode v : rest.get("/jobs/" + jobId).get("vertices"))
            names.put(v.get("id").asText(), v.get("name").asText());
        return names;
    }

    /** The scheduler's chain's checkpointed state by subtask in the latest completed checkpoint. */
    private static String stateBySubtask(FlinkRest rest, String jobId) throws Exception {
        long cid = rest.latestCompletedCheckpointId(jobId);
        if (cid < 0) return "no checkpoint completed";
        String vertex = null;
        for (Map.Entry<String, String> v : vertexNames(rest, jobId).entrySet()) {
            if (v.getValue().contains("RedispatchScheduler")) vertex = v.getKey();
        }
        if (vertex == null) return "no RedispatchScheduler vertex";
        JsonNode d = rest.get("/jobs/" + jobId + "/checkpoints/details/" + cid + "/subtasks/" + vertex);
        List<String> parts = new ArrayList<>();
        for (JsonNode s : d.get("subtasks")) {
            parts.add(String.format(
                    Locale.ROOT,
                    "subtask %d %,d MB",
                    s.get("index").asInt(),
                    s.path("state_size").asLong() >> 20));
        }
        return String.join(", ", parts) + " (the tracker's and the scheduler's chain, checkpoint " + cid + ")";
    }

    /** Dead letters per second from the first sample with some to the last sample with a change. */
    private static double deadRate(List<Sample> samples) {
        Sample from = null;
        Sample to = null;
        for (Sample s : samples) {
            long n = sum(s.deadLetters);
            if (from == null && n > 0) from = s;
            if (from != null && (to == null || n > sum(to.deadLetters))) to = s;
        }
        if (from == null || to == from) return 0;
        return (sum(to.deadLetters) - sum(from.deadLetters)) / (to.seconds - from.seconds);
    }

    /** The largest part over the mean part: 1.0 is an even split. */
    private static double skew(Map<Integer, Long> m) {
        if (m.isEmpty()) return Double.NaN;
        long max = 0;
        for (long v : m.values()) max = Math.max(max, v);
        double mean = sum(m) / (double) m.size();
        return mean == 0 ? Double.NaN : max / mean;
    }

    private static Map<Integer, Long> minus(Map<Integer, Long> a, Map<Integer, Long> b) {
        Map<Integer, Long> out = new java.util.TreeMap<>();
        a.forEach((k, v) -> out.put(k, v - b.getOrDefault(k, 0L)));
        return out;
    }

    private static String table(int devices, int rate, List<Sample> samples, long slowest, String state) {
        if (samples.size() < 3) return "delivery-down: too few samples\n";
        Sample first = null;
        Sample peak = samples.get(0);
        for (Sample s : samples) {
            if (first == null && s.backlog >= devices / 10) first = s;
            if (sum(s.queued) >= sum(peak.queued)) peak = s;
        }
        Sample last = samples.get(samples.size() - 1);
        if (first == null) first = samples.get(0);
        Map<Integer, Long> sent = minus(last.sent, first.sent);
        Map<Integer, Long> dead = minus(last.deadLetters, first.deadLetters);
        double span = last.seconds - first.seconds;
        long heapMin = Long.MAX_VALUE;
        long heapMax = 0;
        for (Sample s : samples) {
            if (s.seconds < first.seconds) continue;
            heapMin = Math.min(heapMin, s.heapMb);
            heapMax = Math.max(heapMax, s.heapMb);
        }
        return String.format(
                Locale.ROOT,
                "\n### One consumer down, %,d devices (parallelism 2, budget %,d/s)\n\n"
                        + "| measure | value |\n|---|---|\n"
                        + "| backlog at the end (archive) | %,d |\n"
                        + "| queued at the peak, by subtask | %s (largest / mean %.2f) |\n"
                        + "| redispatches sent from %.0f s to %.0f s, by subtask | %s (largest / mean %.2f) |\n"
                        + "| dead letters from %.0f s to %.0f s, by subtask | %s (largest / mean %.2f) |\n"
                        + "| redispatches per second, job-wide, from the peak on | %.0f (budget %,d) |\n"
                        + "| dead letters per second, job-wide, once they flow | %.0f (a budget of their own, %,d) |\n"
                        + "| heap after GC, from a backlog of %,d on | %,d to %,d MB |\n"
                        + "| slowest checkpoint seen | %,d ms |\n"
                        + "| checkpointed state at the end | %s |\n",
                devices,
                rate,
                last.backlog,
                peak.queued,
                skew(peak.queued),
                first.seconds,
                last.seconds,
                sent,
                skew(sent),
                first.seconds,
                last.seconds,
                dead,
                skew(dead),
                sum(minus(last.sent, peak.sent)) / Math.max(1, last.seconds - peak.seconds),
                rate,
                deadRate(samples),
                rate,
                first.backlog,
                heapMin,
                heapMax,
                slowest,
                state);
    }
}
