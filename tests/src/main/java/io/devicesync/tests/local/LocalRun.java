package io.devicesync.tests.local;

import io.devicesync.jobs.DeviceSyncJob;
import io.devicesync.jobs.JobParameters;
import io.devicesync.model.AlertType;
import io.devicesync.model.Codecs;
import io.devicesync.model.DeviceState;
import io.devicesync.tests.infra.EmbeddedDatabase;
import io.devicesync.tests.infra.EmbeddedKafka;
import io.devicesync.tests.infra.FlinkRest;
import io.devicesync.tests.infra.TopicReader;
import io.devicesync.tests.infra.Truth;
import io.devicesync.tests.sim.DeviceSimulator;
import io.devicesync.tests.sim.SimulatedConsumer;
import io.devicesync.tests.sim.SimulatorWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The README's first command: devicesync on an embedded Kafka broker and an embedded PostgreSQL,
 * fed by the device simulator, with the Flink web UI on http://localhost:8081. Prints a progress
 * line every few seconds and, when it stops (Ctrl-C or {@code --duration}), a consistency report.
 *
 * <p>Options (all optional): {@code --devices 1000 --rate 2000 --duplicate-rate 0.02
 * --reorder-rate 0.02 --loss-rate 0.003 --burst-loss-rate 0.0005 --burst-length 5
 * --reboot-rate 0.0002 --malformed-rate 0.0005 --log-retention 20 --seed 42 --duration 0
 * --progress-every 5 --consumers billing:healthy,dashboard:flaky,archive:down} ({@code --consumers none}: no
 * delivery tracking); any other {@code --name value} is a job parameter (e.g.
 * {@code --reorder.grace "1 s"}).
 */
public final class LocalRun {
    private static final Logger LOG = LoggerFactory.getLogger(LocalRun.class);

    private LocalRun() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> opts = new HashMap<>(Map.of(
                "devices",
                "1000",
                "rate",
                "2000",
                "duplicate-rate",
                "0.02",
                "reorder-rate",
                "0.02",
                "loss-rate",
                "0.003",
                "burst-loss-rate",
                "0.0005",
                "burst-length",
                "5",
                "reboot-rate",
                "0.0002",
                "malformed-rate",
                "0.0005",
                "log-retention",
                "20"));
        opts.put("seed", "42");
        opts.put("duration", "0");
        opts.put("progress-every", "5");
        opts.put("job", "local");
        opts.put("consumers", "billing:healthy,dashboard:flaky,archive:down");
        List<String> jobArgs = new ArrayList<>();
        for (int i = 0; i < argv.length; i++) {
            if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                throw new IllegalArgumentException("'" + argv[i] + "': expected --name value");
            }
            String name = argv[i].substring(2);
            if (opts.containsKey(name)) opts.put(name, argv[++i]);
            else {
                jobArgs.add(argv[i]);
                jobArgs.add(argv[++i]);
            }
        }
        DeviceSimulator.Options sim = new DeviceSimulator.Options();
        sim.devices = Integer.parseInt(opts.get("devices"));
        sim.duplicateRate = Double.parseDouble(opts.get("duplicate-rate"));
        sim.reorderRate = Double.parseDouble(opts.get("reorder-rate"));
        sim.lossRate = Double.parseDouble(opts.get("loss-rate"));
        sim.burstLossRate = Double.parseDouble(opts.get("burst-loss-rate"));
        sim.burstLength = Integer.parseInt(opts.get("burst-length"));
        sim.rebootRate = Double.parseDouble(opts.get("reboot-rate"));
        sim.malformedRate = Double.parseDouble(opts.get("malformed-rate"));
        sim.seed = Long.parseLong(opts.get("seed"));
        double rate = Double.parseDouble(opts.get("rate"));
        int logRetention = Integer.parseInt(opts.get("log-retention"));
        Duration duration = Duration.ofSeconds(Long.parseLong(opts.get("duration")));
        Duration progressEvery = Duration.ofSeconds(Long.parseLong(opts.get("progress-every")));
        boolean localJob = switch (opts.get("job")) {
            case "local" -> true;
            case "none" -> false;
            default ->
                throw new IllegalArgumentException("--job: use local (run the job here) or none (only Kafka, "
                        + "PostgreSQL and the simulator, for a job submitted to a cluster)");
        };

        List<DeliveryDemo.Spec> consumers = DeliveryDemo.parse(opts.get("consumers"));
        if (!consumers.isEmpty() && !jobArgs.contains("--delivery.consumers")) {
            jobArgs.addAll(List.of("--delivery.consumers", new DeliveryDemo(consumers).names()));
            // A demo needs to see deadlines and redispatches in seconds.
            for (String[] d : new String[][] {
                {"--delivery.ack-timeout", "5 s"},
                {"--redispatch.backoff", "2 s"},
                {"--redispatch.max-backoff", "10 s"},
                {"--redispatch.max-attempts", "3"},
                {"--backlog.threshold", Integer.toString(Math.max(1, sim.devices / 4))}
            }) {
                if (!jobArgs.contains(d[0])) jobArgs.addAll(List.of(d[0], d[1]));
            }
            // A consumer that goes down gets settings of its own (--delivery.consumer.<name>.*): a
            // longer ack window and a smaller redispatch budget than the others.
            for (DeliveryDemo.Spec c : consumers) {
                if (c.behaviour() != DeliveryDemo.Behaviour.DOWN) continue;
                for (String[] d : new String[][] {{"ack-timeout", "10 s"}, {"rate", "20"}}) {
                    String name = "--delivery.consumer." + c.name() + "." + d[0];
                    if (!jobArgs.contains(name)) jobArgs.addAll(List.of(name, d[1]));
                }
            }
        }
        Path work = Paths.get(".local-run").toAbsolutePath();
        for (String old : List.of("kafka", "pg", "checkpoints")) deleteRecursively(work.resolve(old)); // a fresh run
        Files.createDirectories(work.resolve("tmp"));
        new LocalRun.Session(work, sim, rate, logRetention, duration, progressEvery, jobArgs, localJob, consumers)
                .run();
    }

    static final class Session {
        final Path work;
        final DeviceSimulator.Options simOptions;
        final double rate;
        final int logRetention;
        final Duration duration;
        final Duration progressEvery;
        final List<String> jobArgs;
        final boolean localJob;
        final List<DeliveryDemo.Spec> consumers;
        DeliveryDemo delivery;
        volatile boolean stop;
        final CountDownLatch stopped = new CountDownLatch(1);

        Session(
                Path work,
                DeviceSimulator.Options sim,
                double rate,
                int logRetention,
                Duration duration,
                Duration progressEvery,
                List<String> jobArgs,
                boolean localJob,
                List<DeliveryDemo.Spec> consumers) {
            this.localJob = localJob;
            this.consumers = consumers;
            this.work = work;
            this.simOptions = sim;
            this.rate = rate;
            this.logRetention = logRetention;
            this.duration = duration;
            this.progressEvery = progressEvery;
            this.jobArgs = jobArgs;
        }

        void run() throws Exception {
            long started = System.nanoTime();
            say("devicesync local run: starting Kafka and PostgreSQL under " + work);
            try (EmbeddedKafka kafka = EmbeddedKafka.start(work.resolve("kafka"));
                    EmbeddedDatabase db = EmbeddedDatabase.start(work.resolve("pg"))) {
                kafka.createTopics(
                        4,
                        List.of(
                                "device-events",
                                "device-acks",
                                "device-state",
                                "device-alerts",
                                "device-events-dlq",
                                "device-redispatch",
                                "device-redispatch-dlq",
                                "device-audit"),
                        List.of("device-state", "device-audit"));
                List<String> args = new ArrayList<>(List.of(
                        "--kafka.bootstrap-servers",
                        kafka.bootstrapServers(),
                        "--kafka.starting-offsets",
                        "earliest",
                        "--snapshot.url",
                        db.url(),
                        "--snapshot.user",
                        EmbeddedDatabase.USER,
                        "--snapshot.password",
                        EmbeddedDatabase.PASSWORD));
                if (!jobArgs.contains("--audit.interval")) {
                    // A demo needs to see the audit work in seconds, not every 5 minutes.
                    args.addAll(List.of("--audit.interval", "10 s"));
                }
                args.addAll(jobArgs);
                JobParameters params = JobParameters.fromArgs(args.toArray(new String[0]));

                if (!localJob) {
                    runWithoutJob(kafka, db, params, args);
                    return;
                }
                Configuration conf = new Configuration();
                conf.set(RestOptions.PORT, 8081);
                conf.set(RestOptions.ADDRESS, "127.0.0.1");
                conf.set(RestOptions.BIND_ADDRESS, "127.0.0.1");
                conf.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
                conf.set(
                        CheckpointingOptions.CHECKPOINTS_DIRECTORY,
                        work.resolve("checkpoints").toUri().toString());
                conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
                // As flink-conf/config.yaml deploys it: unaligned, the guard's and tracker's timers interruptible.
                io.devicesync.tests.infra.DeployedConf.apply(conf);
                conf.set(PipelineOptions.GENERIC_TYPES, false);
                conf.set(CoreOptions.TMP_DIRS, work.resolve("tmp").toString());
                conf.set(MetricOptions.METRIC_FETCHER_UPDATE_INTERVAL, Duration.ofSeconds(2));
                StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironmentWithWebUI(conf);
                env.setParallelism(2);
                env.enableCheckpointing(5_000);
                DeviceSyncJob.build(env, params);
                JobClient job = env.executeAsync("devicesync (local)");
                String jobId = job.getJobID().toString();
                say("Kafka at " + kafka.bootstrapServers() + ", PostgreSQL at " + db.url() + " (user postgres)");
                say("Flink web UI: http://localhost:8081  (job " + jobId + ")");
                say("Simulating " + simOptions.devices + " devices at " + (long) rate + " increments/s: " + simOptions);
                say(
                        duration.isZero()
                                ? "Ctrl-C stops the run and prints a consistency report."
                                : "Runs for " + duration.toSeconds() + " s, then prints a consistency report.");

                if (!consumers.isEmpty()) {
                    say("Consumers acknowledging device-state: "
                            + consumers.stream()
                                    .map(c -> c.name() + " ("
                                            + c.behaviour().name().toLowerCase(Locale.ROOT) + ")")
                                    .toList()
                            + "; a down one stops acknowledging a quarter into the run and comes back a third later.");
                }

                installStopHook();
                DeviceSimulator simulator = new DeviceSimulator(simOptions);
                FlinkRest rest = new FlinkRest("http://127.0.0.1:8081");
                try (SimulatorWriter writer = new SimulatorWriter(
                                db.dataSource(), kafka.bootstrapServers(), "device-events", logRetention);
                        DeliveryDemo demo = new DeliveryDemo(consumers)) {
                    if (!consumers.isEmpty()) {
                        demo.start(kafka.bootstrapServers(), started, duration);
                        delivery = demo;
                    }
                    simulate(simulator, writer, started, rest, jobId);
                    report(kafka, db, rest, jobId, new Progress(started, delivery), params.auditInterval);
                    if (delivery != null) {
                        for (SimulatedConsumer c : demo.consumers) c.setAcking(true);
                        delivery.report(kafka.bootstrapServers());
                    }
                } finally {
                    job.cancel().get();
                }
            } finally {
                stopped.countDown();
            }
        }

        /** {@code --job none}: Kafka, PostgreSQL and the simulator for a job that runs on a cluster. */
        void runWithoutJob(EmbeddedKafka kafka, EmbeddedDatabase db, JobParameters params, List<String> args)
                throws Exception {
            say("Kafka at " + kafka.bootstrapServers() + ", PostgreSQL at " + db.url() + " (user postgres)");
            say("Submit the job jar with these parameters:");
            List<String> shown = new ArrayList<>(args);
            int pw = shown.indexOf("--snapshot.password");
            if (pw >= 0) {
                // Passed by environment instead of printed: secrets are never printed.
                shown.remove(pw + 1);
                shown.remove(pw);
            }
            say("  "
                    + String.join(
                            " ",
                            shown.stream()
                                    .map(a -> a.contains(" ") ? "\"" + a + "\"" : a)
                                    .toList()));
            say(
                    "with the password in the environment: DEVICESYNC_SNAPSHOT_PASSWORD (the embedded database's is 'postgres').");
            say("Simulating " + simOptions.devices + " devices at " + (long) rate + " increments/s: " + simOptions);
            installStopHook();
            long started = System.nanoTime();
            DeviceSimulator simulator = new DeviceSimulator(simOptions);
            try (SimulatorWriter writer =
                    new SimulatorWriter(db.dataSource(), kafka.bootstrapServers(), "device-events", logRetention)) {
                simulate(simulator, writer, started, null, null);
                report(kafka, db, null, null, null, params.auditInterval);
            } finally {
                stopped.countDown();
            }
        }

        void installStopHook() {
            Runtime.getRuntime()
                    .addShutdownHook(new Thread(
                            () -> {
                                stop = true;
                                try {
                                    stopped.await();
                                } catch (InterruptedException e) {
                                    Thread.currentThread().interrupt();
                                }
                            },
                            "devicesync-local-stop"));
        }

        /** Runs the simulator at the rate until stopped; prints progress when there is a job to ask. */
        void simulate(DeviceSimulator simulator, SimulatorWriter writer, long started, FlinkRest rest, String jobId)
                throws Exception {
            long tick = 200;
            int perTick = Math.max(1, (int) Math.round(rate * tick / 1000.0));
            long next = System.currentTimeMillis();
            long nextProgress = next + progressEvery.toMillis();
            Progress progress = new Progress(started, delivery);
            while (!stop && (duration.isZero() || System.nanoTime() - started < duration.toNanos())) {
                writer.write(simulator.next(perTick, System.currentTimeMillis()));
                if (delivery != null) delivery.tick();
                next += tick;
                long now = System.currentTimeMillis();
                if (now >= nextProgress) {
                    if (rest != null) progress.print(rest, jobId);
                    nextProgress = now + progressEvery.toMillis();
                }
                long wait = next - System.currentTimeMillis();
                if (wait > 0) Thread.sleep(wait); // paces the simulator, not a test
                else next = System.currentTimeMillis();
            }
            writer.write(simulator.drain());
            say("Simulator stopped after " + (simulator.delivered + simulator.lost) + " increments ("
                    + simulator.lost + " lost, " + simulator.duplicated + " duplicated, " + simulator.reordered
                    + " reordered, " + simulator.reboots + " reboots, " + simulator.malformed + " malformed).");
        }

        /** Waits a little for the job to settle, then compares every device with the database. */
        void report(
                EmbeddedKafka kafka,
                EmbeddedDatabase db,
                FlinkRest rest,
                String jobId,
                Progress progress,
                Duration auditInterval)
                throws Exception {
            // The input is idle now: tail losses are found by the audit within two intervals.
            Duration wait = auditInterval.multipliedBy(2).plusSeconds(20);
            say("Consistency report: the input is idle; waiting up to " + wait.toSeconds()
                    + " s (two audit intervals) for device-state to equal device_snapshot ...");
            Map<String, Truth.Version> truth = Truth.read(db.dataSource());
            Map<String, DeviceState> last = new HashMap<>();
            long deadline = System.nanoTime() + wait.toNanos();
            long nextProgress = System.nanoTime() + progressEvery.toNanos();
            List<String> diverging;
            try (TopicReader reader = new TopicReader(kafka.bootstrapServers(), "device-state")) {
                do {
                    reader.poll(Duration.ofMillis(500)).forEach(r -> {
                        DeviceState s = Codecs.readDeviceState(r.value());
                        last.put(s.deviceId, s);
                    });
                    diverging = diverging(truth, last);
                    if (rest != null && System.nanoTime() > nextProgress) {
                        progress.print(rest, jobId);
                        nextProgress = System.nanoTime() + progressEvery.toNanos();
                    }
                } while (!diverging.isEmpty() && System.nanoTime() < deadline);
            }
            if (rest != null) progress.print(rest, jobId);
            int equal = truth.size() - diverging.size();
            say(String.format(
                    Locale.ROOT,
                    "Consistency: %d of %d devices equal the database (%.2f%%).",
                    equal,
                    truth.size(),
                    truth.isEmpty() ? 100.0 : 100.0 * equal / truth.size()));
            if (!diverging.isEmpty()) {
                say("Not equal (" + diverging.size() + "): still waiting for a repair or an audit (see device-audit and"
                        + " device-alerts):");
                diverging.stream().limit(10).forEach(d -> say("  " + d));
            }
            alertReport(kafka.bootstrapServers());
        }

        /** What device-alerts holds, by type: published one by one, and folded into summaries by the AlertPolicy. */
        static void alertReport(String bootstrap) {
            Map<String, long[]> byType = new java.util.TreeMap<>(); // published, summarized, summaries
            long suppressed = 0;
            try (TopicReader alerts = new TopicReader(bootstrap, "device-alerts")) {
                for (var r : DeliveryDemo.readAll(alerts)) {
                    io.devicesync.model.Alert a = Codecs.readAlert(r.value());
                    if (a.type == AlertType.ALERT_SUMMARY) {
                        var d = io.devicesync.model.Json.parse(
                                a.details.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                        long[] n =
                                byType.computeIfAbsent(d.get("summarizedType").asText(), t -> new long[3]);
                        n[1] += d.get("count").asLong();
                        n[2]++;
                    } else {
                        byType.computeIfAbsent(a.type.name(), t -> new long[3])[0]++;
                        if (a.type == AlertType.DATABASE_RECOVERED) {
                            suppressed += io.devicesync.model.Json.parse(
                                            a.details.getBytes(java.nio.charset.StandardCharsets.UTF_8))
                                    .get("suppressed")
                                    .asLong();
                        }
                    }
                }
            }
            long summarized = byType.values().stream().mapToLong(n -> n[1]).sum();
            say("Alerts on device-alerts by type (" + summarized
                    + " folded into ALERT_SUMMARY records by the AlertPolicy):");
            if (byType.isEmpty()) say("  none");
            byType.forEach((type, n) -> say(String.format(
                    Locale.ROOT,
                    "  %-22s %,9d published one by one%s",
                    type,
                    n[0],
                    n[1] == 0 ? "" : String.format(Locale.ROOT, ", %,d summarized in %,d summaries", n[1], n[2]))));
            if (suppressed > 0) say("  RESYNC_FAILED not published while the database was unavailable: " + suppressed);
        }

        static List<String> diverging(Map<String, Truth.Version> truth, Map<String, DeviceState> last) {
            List<String> out = new ArrayList<>();
            truth.forEach((id, t) -> {
                DeviceState s = last.get(id);
                if (s == null) out.add(id + ": nothing published; database at " + t.epoch() + "/" + t.seq());
                else if (s.epoch != t.epoch()
                        || s.seq != t.seq()
                        || !Truth.canonical(s.state).equals(t.state())) {
                    out.add(id + ": published " + s.epoch + "/" + s.seq + ", database " + t.epoch() + "/" + t.seq());
                }
            });
            out.sort(Comparator.naturalOrder());
            return out;
        }
    }

    /** The progress line, from the job's metrics as the web UI shows them. */
    static final class Progress {
        static final List<String> METRICS = List.of(
                "eventsIn",
                "invalidRecords",
                "duplicatesDropped",
                "gapsDetected",
                "deviceResets",
                "lookupsIssued",
                "lookupsFromLog",
                "lookupsFromSnapshot",
                "repairsCompleted",
                "repairsFailed",
                "devicesWaitingForRepair",
                "versionsPublished",
                "auditsRequested",
                "tailLossesRepaired");
        final long started;
        final DeliveryDemo delivery;
        long lastEvents;
        long lastAt = System.nanoTime();

        Progress(long started, DeliveryDemo delivery) {
            this.started = started;
            this.delivery = delivery;
        }

        void print(FlinkRest rest, String jobId) {
            try {
                Map<String, Long> m = rest.sums(jobId, METRICS);
                long now = System.nanoTime();
                long events = m.get("eventsIn");
                double perSecond = (events - lastEvents) / Math.max(0.001, (now - lastAt) / 1e9);
                lastEvents = events;
                lastAt = now;
                long s = (now - started) / 1_000_000_000L;
                say(String.format(
                        Locale.ROOT,
                        "[%02d:%02d] events in %,d (%,.0f/s) | invalid %,d | duplicates dropped %,d | gaps %,d | resets %,d"
                                + " | repairs %,d (log %,d, snapshot %,d, failed %,d) | waiting for repair %,d"
                                + " | audits %,d (tail losses %,d) | published %,d",
                        s / 60,
                        s % 60,
                        events,
                        perSecond,
                        m.get("invalidRecords"),
                        m.get("duplicatesDropped"),
                        m.get("gapsDetected"),
                        m.get("deviceResets"),
                        m.get("repairsCompleted"),
                        m.get("lookupsFromLog"),
                        m.get("lookupsFromSnapshot"),
                        m.get("repairsFailed"),
                        m.get("devicesWaitingForRepair"),
                        m.get("auditsRequested"),
                        m.get("tailLossesRepaired"),
                        m.get("versionsPublished")));
                if (delivery != null) say(delivery.progress(rest, jobId));
            } catch (IOException | RuntimeException e) {
                say("(metrics not available yet: " + e.getMessage() + ")");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static void say(String line) {
        LOG.info(line);
    }

    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
