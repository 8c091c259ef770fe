package io.devicesync.tests.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.jobs.DeviceSyncJob;
import io.devicesync.jobs.JobParameters;
import io.devicesync.model.Json;
import io.devicesync.tests.infra.EmbeddedDatabase;
import io.devicesync.tests.infra.KafkaProcess;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.legacy.DiscardingSink;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The benchmark suite (README, "Benchmarks"): a real broker (in a JVM of its own, so that the CPU
 * measured is Flink's), the events topic preloaded with clean in-order increments, and jobs on an
 * in-process MiniCluster reading it from the start, alternating after warm-up runs: a parse-only
 * job (Kafka source → Jackson readTree → discard), the naive peer ({@link NaivePeer}), devicesync,
 * devicesync with at-least-once sinks,
 * devicesync with delivery tracking for three consumers that acknowledge everything they read,
 * and devicesync with those three consumers reading and acknowledging but no tracking
 * ({@code devicesync-consumed}: the machine as loaded as in the delivery runs, the job without the
 * tracker; delivery's cost to the job is delivery ÷ devicesync-consumed).
 * Prints, per variant, the medians over the runs of events/s (whole run, and the steady part from
 * 50 % to 90 % of the input), the ratio to parse-only, CPU per event from the process's own
 * accounting (whole run and steady part), the lookups on clean input, the slowest checkpoint and
 * the size of a full checkpoint per device (and beyond the document); then the end-to-end latency
 * at a fixed input rate ({@link LatencyRun}).
 *
 * <p>Options: {@code --events 2000000 --devices 100000 --runs 3 --warmup 2 --backend rocksdb|hashmap
 * --checkpoint-interval 10 --variants parse,naive,devicesync,devicesync-alos,delivery (and devicesync-consumed, delivery-alos) --latency-seconds 60
 * --latency-rate 0 (half the devicesync throughput measured) --latency-variants devicesync,devicesync-alos
 * --conf key=value,… (Flink configuration of the MiniCluster) --gaps 1000 --fleet 0 (devices of the fleet-scale run,
 * {@link FleetRun}) --fleet-audit-interval 120 (s) --fleet-after-intervals 2.5 --fleet-restore true (also the stop-and-restore run) --alert-storm 0 (alerts through the AlertPolicy, {@link AlertStormRun})
 * --delivery-down 0 (devices of the one-consumer-down run, {@link DeliveryDownRun}) --delivery-down-rate 1000
 * --delivery-down-seconds 300
 * --serializers 0 (seconds a serializer: when set, only {@link SerializerRun})
 * --results PATH}.
 */
public final class Benchmark {
    private Benchmark() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> o = new LinkedHashMap<>();
        o.put("events", "2000000");
        o.put("devices", "100000");
        o.put("runs", "3");
        o.put("backend", "rocksdb");
        o.put("checkpoint-interval", "10");
        o.put("variants", "parse,naive,devicesync,devicesync-alos,delivery");
        o.put("results", "");
        o.put("warmup", "2");
        o.put("latency-seconds", "60");
        o.put("latency-rate", "0");
        o.put("latency-variants", "devicesync,devicesync-alos");
        o.put("gaps", "1000");
        o.put("fleet", "0");
        o.put("fleet-audit-interval", "120");
        o.put("fleet-after-intervals", "2.5");
        o.put("fleet-restore", "true");
        o.put("alert-storm", "0");
        o.put("delivery-down", "0");
        o.put("delivery-down-rate", "1000");
        o.put("delivery-down-seconds", "300");
        o.put("serializers", "0");
        o.put("conf", "");
        for (int i = 0; i + 1 < argv.length; i += 2) {
            String name = argv[i].replaceFirst("^--", "");
            if (!o.containsKey(name))
                throw new IllegalArgumentException("--" + name + ": unknown option; options: " + o.keySet());
            o.put(name, argv[i + 1]);
        }
        double serializers = Double.parseDouble(o.get("serializers"));
        if (serializers > 0) {
            // Serializers only: no broker, no job (SerializerRun).
            say("hand-written serializers against Flink's POJO serializer, " + serializers + " s each:");
            for (SerializerRun.Row r : SerializerRun.run(serializers)) say("  " + r);
            return;
        }
        long events = Long.parseLong(o.get("events"));
        int devices = Integer.parseInt(o.get("devices"));
        int runs = Integer.parseInt(o.get("runs"));
        List<String> variants = Arrays.asList(o.get("variants").split(","));
        Path work = Paths.get(".bench-run").toAbsolutePath();
        if (Files.exists(work)) {
            try (Stream<Path> old = Files.list(work)) {
                for (Path f : old.toList())
                    if (!f.getFileName().toString().equals("tmp")) deleteRecursively(f); // a fresh run
            }
        }
        Files.createDirectories(work.resolve("tmp"));
        say("devicesync benchmark: " + o);
        try (KafkaProcess kafka = KafkaProcess.start(work.resolve("kafka"));
                EmbeddedDatabase db = EmbeddedDatabase.start(work.resolve("pg"))) {
            say("Kafka (own JVM) at " + kafka.bootstrapServers() + ", PostgreSQL at " + db.url());
            createTopics(kafka.bootstrapServers(), List.of("events"));
            long t = System.nanoTime();
            double documentBytes = preload(kafka.bootstrapServers(), "events", events, devices);
            o.put("document-bytes", String.format(Locale.ROOT, "%.1f", documentBytes));
            say(String.format(
                    Locale.ROOT,
                    "Preloaded %,d events of %,d devices in %.1f s",
                    events,
                    devices,
                    (System.nanoTime() - t) / 1e9));
            // The JIT compiles the job's code during its first runs (tens of CPU-seconds of C2 in a
            // profile): warm-up runs of each variant are measured but not counted.
            for (int r = 1; r <= Integer.parseInt(o.get("warmup")); r++) {
                for (String v : variants)
                    say(String.format(Locale.ROOT, "warm-up %d %-10s %s", r, v, run(v, -r, kafka, db, o, work)));
            }
            Map<String, List<Result>> results = new LinkedHashMap<>();
            for (int r = 1; r <= runs; r++) {
                for (String v : variants) {
                    Result res = run(v, r, kafka, db, o, work);
                    results.computeIfAbsent(v, k -> new ArrayList<>()).add(res);
                    say(String.format(Locale.ROOT, "run %d %-10s %s", r, v, res));
                }
            }
            List<LatencyRun.Result> latencies = new ArrayList<>();
            long latencySeconds = Long.parseLong(o.get("latency-seconds"));
            if (latencySeconds > 0) {
                double rate = Double.parseDouble(o.get("latency-rate"));
                if (rate <= 0) {
                    rate = median(results.getOrDefault("devicesync", List.of()), Result::steadyPerSecond) / 2;
                    if (rate <= 0)
                        throw new IllegalArgumentException(
                                "--latency-rate: needed when devicesync is not among --variants");
                }
                for (String v : o.get("latency-variants").split(",")) {
                    LatencyRun.Result l = LatencyRun.run(
                            v.trim(), rate, Duration.ofSeconds(latencySeconds), devices, kafka, db, o, work);
                    latencies.add(l);
                    say("latency " + l);
                }
            }
            String gapLine = "";
            int gaps = Integer.parseInt(o.get("gaps"));
            if (gaps > 0) {
                gapLine = GapRun.run(gaps, events, devices, kafka, db, o, work);
                say(gapLine);
            }
            String fleetLine = "";
            int fleet = Integer.parseInt(o.get("fleet"));
            if (fleet > 0) {
                fleetLine = FleetRun.run(
                        fleet, Duration.ofSeconds(Long.parseLong(o.get("fleet-audit-interval"))), kafka, db, o, work);
                say(fleetLine);
            }
            String stormLine = "";
            long storm = Long.parseLong(o.get("alert-storm"));
            if (storm > 0) {
                stormLine = AlertStormRun.run(storm, o, work);
                say(stormLine);
            }
            String downLine = "";
            int down = Integer.parseInt(o.get("delivery-down"));
            if (down > 0) {
                downLine = DeliveryDownRun.run(down, kafka, db, o, work);
                say(downLine);
            }
            String table = table(results, o)
                    + latencyTable(latencies, o)
                    + (gapLine.isEmpty() ? "" : "\n" + gapLine + "\n")
                    + fleetLine
                    + stormLine
                    + downLine;
            System.out.println();
            System.out.println(table);
            if (!o.get("results").isEmpty()) {
                Files.writeString(Paths.get(o.get("results")), header(o) + table);
                say("Written to " + o.get("results"));
            }
        }
    }

    /** One run's figures. */
    record Result(
            double wholePerSecond,
            double steadyPerSecond,
            double cpuMicrosPerEvent,
            double steadyCpuMicrosPerEvent,
            double brokerCpuMicrosPerEvent,
            long lookups,
            long acks,
            long ackBatches,
            long unconsumed,
            long redispatches,
            long maxCheckpointMs,
            long checkpointBytes,
            long finalCheckpointMs,
            String busy) {
        @Override
        public String toString() {
            return String.format(
                    Locale.ROOT,
                    "whole %,.0f/s, steady %,.0f/s, CPU %.1f µs/event (steady %.1f; the broker's process %.1f), lookups %,d, acks %,d"
                            + " (batches %,d), unconsumed %,d, redispatches %,d, slowest checkpoint %,d ms, checkpoint once all is in %,d bytes in %,d ms; busy %s",
                    wholePerSecond,
                    steadyPerSecond,
                    cpuMicrosPerEvent,
                    steadyCpuMicrosPerEvent,
                    brokerCpuMicrosPerEvent,
                    lookups,
                    acks,
                    ackBatches,
                    unconsumed,
                    redispatches,
                    maxCheckpointMs,
                    checkpointBytes,
                    finalCheckpointMs,
                    busy);
        }
    }

    /** The MiniCluster's configuration: the in-process reporter, the backend, and {@code --conf}. */
    static Configuration flinkConf(Map<String, String> o, Path work, String id) {
        Configuration conf = new Configuration();
        conf.setString("metrics.reporter.bench.factory.class", BenchReporter.Factory.class.getName());
        conf.set(StateBackendOptions.STATE_BACKEND, o.get("backend"));
        conf.set(
                CheckpointingOptions.CHECKPOINTS_DIRECTORY,
                work.resolve("checkpoints-" + id).toUri().toString());
        conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        conf.set(CoreOptions.TMP_DIRS, work.resolve("tmp").toString());
        // What a TaskManager of the cluster configuration gives RocksDB (flink-conf/config.yaml:
        // 4 GB, half of Flink's memory managed: about 1.7 GB for its two slots). The MiniCluster's
        // own default is a small fraction of it, and RocksDB then reads its files on most gets.
        // Until 2026-12-07 the benchmark gave it 512 MB (a TaskManager of Flink's own default
        // configuration): --conf taskmanager.memory.managed.size=512m measures as then.
        // (Not when --conf sizes it some other way: a size set here would override its fraction.)
        Map<String, String> extra = conf(o);
        if (extra.keySet().stream().noneMatch(k -> k.startsWith("taskmanager.memory.managed."))) {
            conf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, io.devicesync.tests.infra.DeployedConf.managedMemory());
        }
        // How the cluster configuration checkpoints (unaligned, interruptible timers, RocksDB's write
        // buffers): the job is measured as deployed; --conf overrides.
        io.devicesync.tests.infra.DeployedConf.apply(conf);
        extra.forEach(conf::setString);
        return conf;
    }

    /** {@code --conf key=value,…}, in its order. */
    static Map<String, String> conf(Map<String, String> o) {
        Map<String, String> c = new java.util.LinkedHashMap<>();
        for (String kv : o.get("conf").split(",")) {
            if (kv.isBlank()) continue;
            if (!kv.contains("=")) throw new IllegalArgumentException("--conf: '" + kv + "' is not key=value");
            c.put(
                    kv.substring(0, kv.indexOf('=')).trim(),
                    kv.substring(kv.indexOf('=') + 1).trim());
        }
        return c;
    }

    /**
     * The devicesync job as a user submits it, on {@code eventsTopic}, with output topics of its own.
     * A variant ending in {@code -alos} runs with {@code --sink.delivery-guarantee at-least-once}.
     */
    static void buildJob(
            StreamExecutionEnvironment env,
            String variant,
            String id,
            String eventsTopic,
            KafkaProcess kafka,
            EmbeddedDatabase db,
            Map<String, String> o,
            String... extraArgs)
            throws Exception {
        List<String> outputs = new ArrayList<>();
        for (String topic : List.of("state", "alerts", "dlq", "audit", "acks", "redispatch", "redispatch-dlq")) {
            outputs.add(topic + "-" + id);
        }
        createTopics(kafka.bootstrapServers(), outputs);
        List<String> args = new ArrayList<>(List.of(
                "--kafka.bootstrap-servers",
                kafka.bootstrapServers(),
                "--kafka.group-id",
                "bench-" + id,
                "--kafka.starting-offsets",
                "earliest",
                "--topic.events",
                eventsTopic,
                "--topic.state",
                "state-" + id,
                "--topic.alerts",
                "alerts-" + id,
                "--topic.dlq",
                "dlq-" + id,
                "--topic.audit",
                "audit-" + id,
                "--topic.acks",
                "acks-" + id,
                "--topic.redispatch",
                "redispatch-" + id,
                "--topic.redispatch-dlq",
                "redispatch-dlq-" + id,
                "--snapshot.url",
                db.url(),
                "--snapshot.user",
                EmbeddedDatabase.USER,
                "--snapshot.password",
                EmbeddedDatabase.PASSWORD,
                "--checkpoint.interval",
                o.get("checkpoint-interval") + " s"));
        if (variant.startsWith("delivery")) args.addAll(List.of("--delivery.consumers", "billing,dashboard,archive"));
        if (variant.endsWith("-alos")) args.addAll(List.of("--sink.delivery-guarantee", "at-least-once"));
        args.addAll(List.of(extraArgs));
        JobParameters p = JobParameters.fromArgs(args.toArray(new String[0]));
        DeviceSyncJob.configure(env, p);
        DeviceSyncJob.build(env, p);
    }

    /** The variants the three simulated consumers read and acknowledge (the delivery ones, and devicesync-consumed). */
    static boolean withConsumers(String variant) {
        return variant.startsWith("delivery") || variant.startsWith("devicesync-consumed");
    }

    static Result run(
            String variant, int runNo, KafkaProcess kafka, EmbeddedDatabase db, Map<String, String> o, Path work)
            throws Exception {
        long events = Long.parseLong(o.get("events"));
        String id = variant + "-" + (runNo < 0 ? "warmup" + -runNo : runNo);
        BenchReporter.reset();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(2, flinkConf(o, work, id));
        String counter;
        if (variant.equals("parse")) {
            env.enableCheckpointing(
                    Long.parseLong(o.get("checkpoint-interval")) * 1000, CheckpointingMode.EXACTLY_ONCE);
            counter = "parsedIn";
            env.fromSource(
                            KafkaSource.<byte[]>builder()
                                    .setBootstrapServers(kafka.bootstrapServers())
                                    .setTopics("events")
                                    .setGroupId("bench-" + id)
                                    .setStartingOffsets(OffsetsInitializer.earliest())
                                    .setDeserializer(org.apache.flink.connector.kafka.source.reader.deserializer
                                            .KafkaRecordDeserializationSchema.valueOnly(ByteArrayDeserializer.class))
                                    .build(),
                            WatermarkStrategy.noWatermarks(),
                            "Kafka: events")
                    .map(new ParseOnly())
                    .addSink(new DiscardingSink<>());
        } else if (variant.equals("naive")) {
            env.enableCheckpointing(
                    Long.parseLong(o.get("checkpoint-interval")) * 1000, CheckpointingMode.EXACTLY_ONCE);
            counter = "eventsIn";
            createTopics(kafka.bootstrapServers(), List.of("state-" + id));
            NaivePeer.build(env, kafka.bootstrapServers(), "events", "state-" + id, "bench-" + id, "naive-" + id);
        } else {
            counter = "eventsIn";
            String base = variant.replaceFirst("-alos$", "");
            if (!base.equals("devicesync") && !base.equals("delivery") && !base.equals("devicesync-consumed")) {
                throw new IllegalArgumentException("--variants: '" + variant
                        + "' is not parse, naive, devicesync, devicesync-alos, devicesync-consumed,"
                        + " delivery or delivery-alos");
            }
            buildJob(env, variant, id, "events", kafka, db, o); // creates the output topics, which the consumers read
            if (withConsumers(variant)) {
                // devicesync-consumed: they ack onto the acks topic, which this job does not read.
                kafka.startConsumers(
                        "state-" + id, "redispatch-" + id, "acks-" + id, List.of("billing", "dashboard", "archive"));
            }
        }
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long cpu0 = os.getProcessCpuTime();
        long brokerCpu0 = kafka.cpuNanos();
        long t0 = System.nanoTime();
        JobClient job = env.executeAsync("bench " + id);
        // [half, ninety, slowest checkpoint]: when the counter passed 50 % and 90 %, sampled every 20 ms.
        // [3], [4]: the process's CPU time at those two moments (the steady part's CPU per event).
        long[] seen = {-1, -1, -1, -1, -1};
        // How busy each task was when 90 % were in: the one near 1000 ms/s limits the run.
        java.util.concurrent.atomic.AtomicReference<String> busy =
                new java.util.concurrent.atomic.AtomicReference<>("");
        try {
            sampleUntil(Duration.ofMillis(20), Duration.ofMinutes(30), () -> {
                long n = BenchReporter.sum(counter);
                long now = System.nanoTime();
                seen[2] = Math.max(seen[2], BenchReporter.gaugeMax("lastCheckpointDuration"));
                if (seen[0] < 0 && n >= events / 2) {
                    seen[0] = now;
                    seen[3] = os.getProcessCpuTime();
                }
                if (seen[1] < 0 && n >= events * 9 / 10) {
                    seen[1] = now;
                    seen[4] = os.getProcessCpuTime();
                    busy.set(busySummary());
                }
                if (n >= events) return true;
                if (n == 0 && now - t0 > Duration.ofMinutes(2).toNanos()) {
                    throw new IllegalStateException(
                            variant + ": no event counted in 2 min (is the BenchReporter registered?)");
                }
                if (job.getJobStatus().get().isGloballyTerminalState()) {
                    throw new IllegalStateException(variant + ": the job ended after " + n + " events");
                }
                return false;
            });
        } catch (TimeoutException | ExecutionException e) {
            job.cancel().get();
            throw new IllegalStateException(
                    variant + ": "
                            + (e instanceof TimeoutException
                                    ? "not done in 30 min"
                                    : e.getCause().getMessage()),
                    e);
        }
        long half = seen[0];
        long ninety = seen[1];
        long maxCheckpointMs = seen[2];
        long t1 = System.nanoTime();
        long cpu1 = os.getProcessCpuTime();
        long brokerCpu1 = kafka.cpuNanos();
        long lookups = BenchReporter.sum("lookupsIssued");
        long acks = BenchReporter.sum("acksIn");
        // What crossed the acks' exchange: each a read-modify-write of a device's delivery state.
        long ackBatches = acks - BenchReporter.sum("invalidAcks") - BenchReporter.sum("acksCoalesced");
        long unconsumed = BenchReporter.sum("unconsumedEpisodes");
        long redispatches = BenchReporter.sum("redispatchesSent");
        // The state once every event is in: the next checkpoint that completes (not timed, and
        // not counted above: audits and deadlines fire while the job waits for it).
        long completed = BenchReporter.gaugeMax("numberOfCompletedCheckpoints");
        try {
            sampleUntil(
                    Duration.ofMillis(50),
                    Duration.ofSeconds(3 * Long.parseLong(o.get("checkpoint-interval")) + 30),
                    () -> BenchReporter.gaugeMax("numberOfCompletedCheckpoints") > completed);
        } catch (TimeoutException e) {
            // no checkpoint completed: the size reported is the last one's
        }
        long checkpointBytes = BenchReporter.gaugeMax("lastCheckpointFullSize");
        long finalCheckpointMs = BenchReporter.gaugeMax("lastCheckpointDuration");
        job.cancel().get();
        if (withConsumers(variant)) kafka.stopConsumers();
        return new Result(
                events / ((t1 - t0) / 1e9),
                (events * 4 / 10) / ((ninety - half) / 1e9),
                (cpu1 - cpu0) / 1e3 / events,
                (seen[4] - seen[3]) / 1e3 / (events * 4 / 10),
                brokerCpu0 < 0 || brokerCpu1 < 0 ? Double.NaN : (brokerCpu1 - brokerCpu0) / 1e3 / events,
                lookups,
                acks,
                ackBatches,
                unconsumed,
                redispatches,
                maxCheckpointMs,
                checkpointBytes,
                finalCheckpointMs,
                busy.get());
    }

    /** Busy time per task (ms/s, averaged over its subtasks), by the first operator of its chain. */
    static String busySummary() {
        StringBuilder b = new StringBuilder();
        BenchReporter.perTask("busyTimeMsPerSecond").forEach((task, ms) -> {
            String name = task.split(" -> ")[0].replaceAll(" \\(\\d+/\\d+\\).*", "");
            if (b.length() > 0) b.append(", ");
            b.append(String.format(Locale.ROOT, "%s %.0f", name, ms));
        });
        return b.toString();
    }

    /**
     * Samples {@code probe} every {@code period} on a timer thread until it returns true; throws
     * TimeoutException after {@code timeout}, ExecutionException with what the probe threw.
     */
    static void sampleUntil(Duration period, Duration timeout, Callable<Boolean> probe)
            throws InterruptedException, ExecutionException, TimeoutException {
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        CompletableFuture<Void> done = new CompletableFuture<>();
        timer.scheduleAtFixedRate(
                () -> {
                    try {
                        if (probe.call()) done.complete(null);
                    } catch (Exception e) {
                        done.completeExceptionally(e);
                    }
                },
                0,
                period.toMillis(),
                TimeUnit.MILLISECONDS);
        try {
            done.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } finally {
            timer.shutdownNow();
        }
    }

    /** Kafka source → Jackson readTree → discard: the floor any job on this topic pays. */
    static final class ParseOnly extends RichMapFunction<byte[], Integer> {
        private transient Counter in;

        @Override
        public void open(OpenContext ctx) {
            in = getRuntimeContext().getMetricGroup().counter("parsedIn");
        }

        @Override
        public Integer map(byte[] value) throws Exception {
            in.inc();
            JsonNode n = Json.MAPPER.readTree(value);
            return n.size();
        }
    }

    static String table(Map<String, List<Result>> results, Map<String, String> o) {
        double parseSteady = median(results.getOrDefault("parse", List.of()), Result::steadyPerSecond);
        double parseWhole = median(results.getOrDefault("parse", List.of()), Result::wholePerSecond);
        double dsSteady = median(results.getOrDefault("devicesync", List.of()), Result::steadyPerSecond);
        double naiveSteady = median(results.getOrDefault("naive", List.of()), Result::steadyPerSecond);
        double naiveWhole = median(results.getOrDefault("naive", List.of()), Result::wholePerSecond);
        StringBuilder b = new StringBuilder();
        int devices = Integer.parseInt(o.get("devices"));
        double documentBytes = Double.parseDouble(o.getOrDefault("document-bytes", "0"));
        b.append(
                "| variant | whole run (events/s) | steady 50–90 % (events/s) | ratio to parse-only (steady) | ratio to the"
                        + " naive peer (whole / steady) | CPU µs/event (whole / steady) | lookups | slowest checkpoint (ms) |"
                        + " checkpoint bytes per device (beyond the document) |\n");
        b.append("|---|---|---|---|---|---|---|---|---|\n");
        for (Map.Entry<String, List<Result>> e : results.entrySet()) {
            List<Result> rs = e.getValue();
            double steady = median(rs, Result::steadyPerSecond);
            double bytes = median(rs, r -> (double) r.checkpointBytes());
            b.append(String.format(
                    Locale.ROOT,
                    "| %s | %,.0f | %,.0f | %s | %s | %.1f / %.1f | %,.0f | %s | %s |%n",
                    e.getKey(),
                    median(rs, Result::wholePerSecond),
                    steady,
                    parseSteady > 0 ? String.format(Locale.ROOT, "%.2f", steady / parseSteady) : "–",
                    naiveSteady > 0 && !e.getKey().equals("parse")
                            ? String.format(
                                    Locale.ROOT,
                                    "%.2f / %.2f",
                                    median(rs, Result::wholePerSecond) / naiveWhole,
                                    steady / naiveSteady)
                            : "–",
                    median(rs, Result::cpuMicrosPerEvent),
                    median(rs, Result::steadyCpuMicrosPerEvent),
                    median(rs, r -> (double) r.lookups()),
                    rs.stream().allMatch(r -> r.maxCheckpointMs() < 0)
                            ? "–"
                            : String.format(Locale.ROOT, "%,.0f", median(rs, r -> (double) r.maxCheckpointMs())),
                    bytes > 0 && !e.getKey().equals("parse")
                            ? String.format(
                                    Locale.ROOT, "%,.0f (%,.0f)", bytes / devices, bytes / devices - documentBytes)
                            : "–"));
        }
        if (dsSteady > 0 && results.containsKey("delivery")) {
            double withDelivery = median(results.get("delivery"), Result::steadyPerSecond);
            b.append(String.format(
                    Locale.ROOT,
                    "%nCost of delivery tracking (3 consumers acking): delivery ÷ devicesync = %.2f (steady)"
                            + ", %.2f (whole run)%n",
                    withDelivery / dsSteady,
                    median(results.get("delivery"), Result::wholePerSecond)
                            / median(results.get("devicesync"), Result::wholePerSecond)));
            // The broker's process runs the simulated consumers too, on the same cores: with
            // delivery it takes a share of the machine the job does not have.
            double dsCpu = median(results.get("devicesync"), Result::cpuMicrosPerEvent);
            double deliveryCpu = median(results.get("delivery"), Result::cpuMicrosPerEvent);
            b.append(String.format(
                    Locale.ROOT,
                    "%nThe job's own CPU per event (whole run): devicesync %.1f µs, delivery %.1f µs, ratio %.2f;"
                            + " the broker's process (the broker, and the three simulated consumers with delivery)"
                            + " %.1f and %.1f µs per event on the same cores%n",
                    dsCpu,
                    deliveryCpu,
                    dsCpu / deliveryCpu,
                    median(results.get("devicesync"), Result::brokerCpuMicrosPerEvent),
                    median(results.get("delivery"), Result::brokerCpuMicrosPerEvent)));
        }
        if (results.containsKey("delivery") && results.containsKey("devicesync-consumed")) {
            // The same load on the machine (the broker and the three consumers), with and without
            // the tracking: what delivery costs the job itself.
            b.append(String.format(
                    Locale.ROOT,
                    "%nCost of delivery tracking with the consumers' load on both sides: delivery ÷"
                            + " devicesync-consumed = %.2f (steady), %.2f (whole run); the job's own CPU per event"
                            + " (whole run) %.1f µs against %.1f, ratio %.2f; the broker's process %.1f and %.1f µs"
                            + " per event%n",
                    median(results.get("delivery"), Result::steadyPerSecond)
                            / median(results.get("devicesync-consumed"), Result::steadyPerSecond),
                    median(results.get("delivery"), Result::wholePerSecond)
                            / median(results.get("devicesync-consumed"), Result::wholePerSecond),
                    median(results.get("delivery"), Result::cpuMicrosPerEvent),
                    median(results.get("devicesync-consumed"), Result::cpuMicrosPerEvent),
                    median(results.get("devicesync-consumed"), Result::cpuMicrosPerEvent)
                            / median(results.get("delivery"), Result::cpuMicrosPerEvent),
                    median(results.get("delivery"), Result::brokerCpuMicrosPerEvent),
                    median(results.get("devicesync-consumed"), Result::brokerCpuMicrosPerEvent)));
        }
        if (dsSteady > 0 && results.containsKey("devicesync-alos")) {
            double alos = median(results.get("devicesync-alos"), Result::steadyPerSecond);
            b.append(String.format(
                    Locale.ROOT,
                    "%nExactly-once tax: devicesync ÷ devicesync-alos = %.2f (steady), %.2f (whole run);"
                            + " CPU per event %.1f vs %.1f µs (steady)%n",
                    dsSteady / alos,
                    median(results.get("devicesync"), Result::wholePerSecond)
                            / median(results.get("devicesync-alos"), Result::wholePerSecond),
                    median(results.get("devicesync"), Result::steadyCpuMicrosPerEvent),
                    median(results.get("devicesync-alos"), Result::steadyCpuMicrosPerEvent)));
        }
        b.append(String.format(
                Locale.ROOT,
                "%nMedians of %s runs, alternating, after %s warm-up run(s) of each.%n",
                o.get("runs"),
                o.get("warmup")));
        return b.toString();
    }

    static String latencyTable(List<LatencyRun.Result> rs, Map<String, String> o) {
        if (rs.isEmpty()) return "";
        StringBuilder b = new StringBuilder(String.format(
                Locale.ROOT,
                "%nEnd-to-end latency, from the append to device-events to the"
                        + " commit that made the version visible on device-state (read_committed; %s s of input after %d s to settle;"
                        + " checkpoint interval %s s):%n%n",
                o.get("latency-seconds"),
                LatencyRun.SETTLE.toSeconds(),
                o.get("checkpoint-interval")));
        b.append(
                "| variant | input (events/s) | versions | p50 (ms) | p99 (ms) | max (ms) | longest source stall (ms) |\n");
        b.append("|---|---|---|---|---|---|---|\n");
        for (LatencyRun.Result r : rs) {
            b.append(String.format(
                    Locale.ROOT,
                    "| %s | %,.0f | %,d | %,d | %,d | %,d | %,d |%n",
                    r.variant(),
                    r.rate(),
                    r.versions(),
                    r.p50(),
                    r.p99(),
                    r.max(),
                    r.longestStall()));
        }
        return b.toString();
    }

    static double median(List<Result> rs, java.util.function.ToDoubleFunction<Result> f) {
        if (rs.isEmpty()) return 0;
        double[] v = rs.stream().mapToDouble(f).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    static String header(Map<String, String> o) throws IOException {
        String cpu = Files.readAllLines(Paths.get("/proc/cpuinfo")).stream()
                .filter(l -> l.startsWith("model name"))
                .findFirst()
                .map(l -> l.substring(l.indexOf(':') + 1).trim())
                .orElse("unknown CPU");
        return "# devicesync benchmark results\n\nMeasured " + LocalDate.now() + " on "
                + Runtime.getRuntime().availableProcessors()
                + " cores (" + cpu + "), Java " + System.getProperty("java.version") + ", with `" + o + "`.\n"
                + "Broker in its own JVM on the same machine; Flink MiniCluster at parallelism 2, exactly-once (at-least-once for"
                + " the -alos variants), " + managedMemory(o) + " of managed memory.\n\n";
    }

    /** RocksDB's managed memory in the runs: as --conf sets it, else a deployed TaskManager's. */
    static String managedMemory(Map<String, String> o) {
        for (Map.Entry<String, String> e : conf(o).entrySet()) {
            if (e.getKey().equals("taskmanager.memory.managed.size"))
                return MemorySize.parse(e.getValue()).toHumanReadableString();
            if (e.getKey().startsWith("taskmanager.memory.managed."))
                return "`" + e.getKey() + "=" + e.getValue() + "`";
        }
        return io.devicesync.tests.infra.DeployedConf.managedMemory().toHumanReadableString();
    }

    /** Clean in-order increments: round r gives every device its seq r. */
    /** Returns the average size of a device's document once every event is in (its last data). */
    static double preload(String bootstrap, String topic, long events, int devices) {
        Properties p = preloadProducer(bootstrap);
        long base = System.currentTimeMillis() - 60_000;
        int[] documentBytes = new int[devices]; // every data has the same members: the last one is the document
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            long n = 0;
            for (long round = 1; n < events; round++) {
                for (int d = 0; d < devices && n < events; d++, n++) {
                    String id = String.format(Locale.ROOT, "dev-%06d", d);
                    String data = "{\"temp\":" + (20 + (n % 100) / 10.0) + ",\"door\":\""
                            + (n % 2 == 0 ? "open" : "closed") + "\",\"n\":" + n + "}";
                    documentBytes[d] = data.length();
                    String value = "{\"deviceId\":\"" + id + "\",\"epoch\":0,\"seq\":" + round + ",\"ts\":"
                            + (base + round * 10) + ",\"data\":" + data + "}";
                    producer.send(new ProducerRecord<>(
                            topic, id.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8)));
                }
            }
        }
        return Arrays.stream(documentBytes).average().orElse(0);
    }

    /** A producer configured for preloading: batched, one ack. */
    static Properties preloadProducer(String bootstrap) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("acks", "1");
        p.put("linger.ms", "20");
        p.put("batch.size", "262144");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        return p;
    }

    static void createTopics(String bootstrap, List<String> topics) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(p)) {
            List<org.apache.kafka.clients.admin.NewTopic> all = new ArrayList<>();
            for (String t : topics) all.add(new org.apache.kafka.clients.admin.NewTopic(t, 4, (short) 1));
            try {
                admin.createTopics(all).all().get();
            } catch (ExecutionException e) {
                // a job restored onto the topics of the run it continues
                if (!(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException)) throw e;
            }
        }
    }

    static void say(String line) {
        System.out.println(line);
    }

    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        if (!Files.isDirectory(dir)) {
            Files.delete(dir);
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path f : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }
}
