package io.devicesync.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.devicesync.jobs.DeviceSyncJob;
import io.devicesync.jobs.JobParameters;
import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.Codecs;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Versions;
import io.devicesync.tests.infra.EmbeddedDatabase;
import io.devicesync.tests.infra.EmbeddedKafka;
import io.devicesync.tests.infra.FlinkRest;
import io.devicesync.tests.infra.TopicReader;
import io.devicesync.tests.infra.Truth;
import io.devicesync.tests.sim.DeviceSimulator;
import io.devicesync.tests.sim.SimulatorWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * One end-to-end run: fresh topics, the job on the test's MiniCluster, the simulator, and readers
 * of every output. Waits on conditions with deadlines, never on sleeps.
 */
final class Scenario implements AutoCloseable {
    static final Duration DEADLINE = Duration.ofSeconds(150);

    final String id = UUID.randomUUID().toString().substring(0, 8);
    final String events = "events-" + id;
    final String state = "state-" + id;
    final String alerts = "alerts-" + id;
    final String dlq = "dlq-" + id;
    final String audit = "audit-" + id;
    final EmbeddedKafka kafka;
    final EmbeddedDatabase db;
    final DeviceSimulator sim;
    /** Devices of a second simulator of the test's own, named under this scenario's prefix too. */
    int otherDevices;

    final SimulatorWriter writer;
    final FlinkRest rest;
    JobClient job;

    /** The parallelism of the next {@link #startJob} (the max parallelism is the job's own, see there). */
    int parallelism = 2;
    /**
     * Whether the job may restart (a test with a restart strategy that kills a TaskManager): then
     * waits tolerate RESTARTING, INITIALIZING and CREATED, and fail only on any other status.
     */
    boolean allowRestarts;

    final TopicReader stateReader;
    final TopicReader alertReader;
    final TopicReader dlqReader;
    final TopicReader auditReader;
    final List<AuditRecord> auditsSeen = new ArrayList<>();
    /** The last published version of each device, and every out-of-order publication seen. */
    final Map<String, DeviceState> last = new HashMap<>();

    final List<String> orderViolations = new ArrayList<>();
    final Map<String, List<String>> sourcesByDevice = new HashMap<>();
    /** Every version published per device, with its source (for failure messages). */
    final Map<String, List<String>> publishedVersions = new HashMap<>();

    final List<Alert> alertsSeen = new ArrayList<>();

    Scenario(
            EmbeddedKafka kafka, EmbeddedDatabase db, String restUrl, DeviceSimulator.Options options, int logRetention)
            throws Exception {
        this.kafka = kafka;
        this.db = db;
        options.prefix = "d" + id + "-";
        this.sim = new DeviceSimulator(options);
        kafka.createTopics(4, List.of(events, state, alerts, dlq, audit), List.of(state, audit));
        this.writer = new SimulatorWriter(db.dataSource(), kafka.bootstrapServers(), events, logRetention);
        this.rest = new FlinkRest(restUrl);
        this.stateReader = new TopicReader(kafka.bootstrapServers(), state);
        this.alertReader = new TopicReader(kafka.bootstrapServers(), alerts);
        this.dlqReader = new TopicReader(kafka.bootstrapServers(), dlq);
        this.auditReader = new TopicReader(kafka.bootstrapServers(), audit);
    }

    List<String> args(String... extra) {
        List<String> a = new ArrayList<>(List.of(
                "--kafka.bootstrap-servers",
                kafka.bootstrapServers(),
                "--kafka.group-id",
                "devicesync-" + id,
                "--kafka.starting-offsets",
                "earliest",
                "--topic.events",
                events,
                "--topic.state",
                state,
                "--topic.alerts",
                alerts,
                "--topic.dlq",
                dlq,
                "--topic.audit",
                audit,
                "--audit.interval",
                "2 s",
                "--snapshot.url",
                db.url(),
                "--snapshot.user",
                EmbeddedDatabase.USER,
                "--snapshot.password",
                EmbeddedDatabase.PASSWORD,
                "--reorder.grace",
                "1 s",
                "--watermark.out-of-orderness",
                "200 ms",
                "--watermark.idle-timeout",
                "1 s",
                "--alerts.invalid-input-window",
                "2 s",
                "--snapshot.retry-backoff",
                "200 ms"));
        // A test's own parameters replace the defaults above.
        java.util.LinkedHashMap<String, String> byName = new java.util.LinkedHashMap<>();
        for (int i = 0; i + 1 < a.size(); i += 2) byName.put(a.get(i), a.get(i + 1));
        for (int i = 0; i + 1 < extra.length; i += 2) byName.put(extra[i], extra[i + 1]);
        List<String> out = new ArrayList<>();
        byName.forEach((k, v) -> {
            out.add(k);
            out.add(v);
        });
        return out;
    }

    void startJob(String... extra) throws Exception {
        startJob(new Configuration(), extra);
    }

    /** Starts the job with job-level configuration (state backend, a savepoint to restore...). */
    void startJob(Configuration conf, String... extra) throws Exception {
        // The job checkpoints as deployed (unaligned, interruptible timers, RocksDB's tuning): these
        // are job-level settings, read from the job's configuration, not the MiniCluster's.
        io.devicesync.tests.infra.DeployedConf.apply(conf);
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(parallelism);
        env.enableCheckpointing(500);
        JobParameters p = JobParameters.fromArgs(args(extra).toArray(new String[0]));
        // As in production: the job's max parallelism (its key groups), so that a savepoint taken
        // at one parallelism restores at another exactly as a deployment's would.
        DeviceSyncJob.configure(env, p);
        DeviceSyncJob.build(env, p);
        job = env.executeAsync("devicesync-" + id);
        seenRunning = false;
    }

    /** The job just started has been seen RUNNING: from then on, anything else is a restart or a stop. */
    private boolean seenRunning;

    /**
     * Waits until the job just started (or restarted) runs every task: meanwhile it is
     * INITIALIZING or CREATED (or RESTARTING, where restarts are allowed), not yet RUNNING, which
     * {@link #awaitOrFail} would take for a failure.
     */
    void awaitStarted() throws Exception {
        String jobId = job.getJobID().toString();
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (true) {
            JobStatus status = job.getJobStatus().get();
            if (status == JobStatus.RUNNING) {
                try {
                    if (rest.allTasksRunning(jobId)) return;
                } catch (java.io.IOException e) {
                    // not known to the web monitor yet
                }
            } else if (status != JobStatus.INITIALIZING
                    && status != JobStatus.CREATED
                    && !(allowRestarts && status == JobStatus.RESTARTING)) {
                fail("the job did not start: it is " + status + failureCause());
            }
            if (System.nanoTime() > deadline) fail("not within " + DEADLINE + ": every task of the job RUNNING");
            pollOutputs();
        }
    }

    /** Runs the simulator: {@code batches} batches of {@code size} increments, then a clean tail. */
    void simulate(int batches, int size) throws Exception {
        for (int b = 0; b < batches; b++) writer.write(sim.next(size, System.currentTimeMillis()));
        writer.write(sim.cleanTail(System.currentTimeMillis()));
    }

    /** Reads the outputs until every device's last published state equals the database. */
    void awaitConvergence() throws Exception {
        Map<String, Truth.Version> truth = truthOfThisScenario();
        assertEquals(sim.devices().length + otherDevices, truth.size(), "every simulated device is in the database");
        awaitOrFail(
                () -> {
                    pollOutputs();
                    return diverging(truth).isEmpty();
                },
                () -> diverging(truth).size() + " device(s) not equal to the database, e.g. "
                        + diverging(truth)
                                .subList(0, Math.min(5, diverging(truth).size())));
    }

    Map<String, Truth.Version> truthOfThisScenario() throws Exception {
        Map<String, Truth.Version> all = Truth.read(db.dataSource());
        all.keySet()
                .removeIf(k -> !k.startsWith(sim.devices()[0].id.substring(0, sim.devices()[0].id.indexOf('-') + 1)));
        return all;
    }

    List<String> diverging(Map<String, Truth.Version> truth) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, Truth.Version> e : truth.entrySet()) {
            DeviceState s = last.get(e.getKey());
            Truth.Version t = e.getValue();
            if (s == null) {
                out.add(e.getKey() + ": nothing published, database at " + Versions.format(t.epoch(), t.seq()));
            } else if (s.epoch != t.epoch()
                    || s.seq != t.seq()
                    || !Truth.canonical(s.state).equals(t.state())) {
                out.add(e.getKey() + ": published " + Versions.format(s.epoch, s.seq) + " " + Truth.canonical(s.state)
                        + ", database " + Versions.format(t.epoch(), t.seq()) + " " + t.state());
            }
        }
        return out;
    }

    void pollOutputs() {
        for (ConsumerRecord<byte[], byte[]> r : stateReader.poll(Duration.ofMillis(200))) {
            DeviceState s = Codecs.readDeviceState(r.value());
            assertEquals(s.deviceId, new String(r.key(), java.nio.charset.StandardCharsets.UTF_8), "key = deviceId");
            DeviceState prev = last.get(s.deviceId);
            if (prev != null && Versions.compare(s.epoch, s.seq, prev.epoch, prev.seq) <= 0) {
                orderViolations.add(s.deviceId + ": " + Versions.format(prev.epoch, prev.seq) + " then "
                        + Versions.format(s.epoch, s.seq));
            }
            last.put(s.deviceId, s);
            sourcesByDevice.computeIfAbsent(s.deviceId, k -> new ArrayList<>()).add(s.source);
            publishedVersions
                    .computeIfAbsent(s.deviceId, k -> new ArrayList<>())
                    .add(Versions.format(s.epoch, s.seq) + ":" + s.source);
        }
        for (ConsumerRecord<byte[], byte[]> r : alertReader.poll(Duration.ofMillis(50))) {
            alertsSeen.add(Codecs.readAlert(r.value()));
        }
        dlqReader.poll(Duration.ofMillis(50));
        for (ConsumerRecord<byte[], byte[]> r : auditReader.poll(Duration.ofMillis(50))) {
            auditsSeen.add(Codecs.readAudit(r.value()));
        }
    }

    /**
     * Lets the job settle before asserting that something did not happen: two more checkpoints
     * complete (everything processed before them is committed), then every output is read to its
     * end.
     */
    void quiesce() throws Exception {
        String jobId = job.getJobID().toString();
        long target = rest.completedCheckpoints(jobId) + 2;
        awaitOrFail(
                () -> {
                    pollOutputs();
                    try {
                        return rest.completedCheckpoints(jobId) >= target;
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                },
                () -> "two more checkpoints");
        awaitOrFail(
                () -> {
                    pollOutputs();
                    return stateReader.atEnd() && alertReader.atEnd() && dlqReader.atEnd() && auditReader.atEnd();
                },
                () -> "outputs read to their end");
    }

    long alertCount(String type) {
        return alertsSeen.stream().filter(a -> a.type.name().equals(type)).count();
    }

    Map<String, Long> metrics(String... names) throws Exception {
        return rest.sums(job.getJobID().toString(), List.of(names));
    }

    void awaitOrFail(BooleanSupplier condition, java.util.function.Supplier<String> why) throws Exception {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (!condition.getAsBoolean()) {
            JobStatus status = job.getJobStatus().get();
            if (status == JobStatus.RUNNING) {
                seenRunning = true;
            } else if (!seenRunning && (status == JobStatus.INITIALIZING || status == JobStatus.CREATED)) {
                // Just submitted: not running yet, not restarting either.
            } else if (!allowRestarts) {
                assertEquals(JobStatus.RUNNING, status, "the job keeps running (no restarts are allowed in tests)");
            } else if (status != JobStatus.RUNNING
                    && status != JobStatus.RESTARTING
                    && status != JobStatus.INITIALIZING
                    && status != JobStatus.CREATED) {
                fail("the job may restart but not stop: it is " + status + failureCause());
            }
            if (System.nanoTime() > deadline) fail("not within " + DEADLINE + ": " + why.get());
        }
    }

    private String failureCause() {
        try {
            job.getJobExecutionResult().get(10, java.util.concurrent.TimeUnit.SECONDS);
            return "";
        } catch (Exception e) {
            java.io.StringWriter w = new java.io.StringWriter();
            e.printStackTrace(new java.io.PrintWriter(w));
            return ", because: " + w;
        }
    }

    void assertStillRunning() throws Exception {
        assertEquals(JobStatus.RUNNING, job.getJobStatus().get());
        assertTrue(orderViolations.isEmpty(), "versions strictly increase per device: " + orderViolations);
    }

    @Override
    public void close() throws Exception {
        if (job != null) {
            try {
                job.cancel().get();
            } catch (Exception ignored) {
                // already finished or failed; the test said so
            }
        }
        stateReader.close();
        alertReader.close();
        dlqReader.close();
        auditReader.close();
        writer.close();
    }
}
