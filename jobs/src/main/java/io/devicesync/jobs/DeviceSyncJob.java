package io.devicesync.jobs;

import io.devicesync.model.Ack;
import io.devicesync.model.AckRecord;
import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeadLetter;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.Redispatch;
import io.devicesync.model.SourceRecord;
import io.devicesync.operators.SyncFeedback;
import io.devicesync.operators.alerts.AlertPolicyFunction;
import io.devicesync.operators.alerts.AlertRouting;
import io.devicesync.operators.alerts.PolicyInput;
import io.devicesync.operators.bootstrap.BootstrapSource;
import io.devicesync.operators.delivery.AckBatchSerializer;
import io.devicesync.operators.delivery.AckCoalescer;
import io.devicesync.operators.delivery.AckRouter;
import io.devicesync.operators.delivery.DeliveryBacklog;
import io.devicesync.operators.delivery.DeliveryEvent;
import io.devicesync.operators.delivery.DeliverySchedule;
import io.devicesync.operators.delivery.DeliveryTracker;
import io.devicesync.operators.delivery.DeliveryTrackerOperator;
import io.devicesync.operators.delivery.RedispatchScheduler;
import io.devicesync.operators.input.InputRouter;
import io.devicesync.operators.input.InvalidInputAlerts;
import io.devicesync.operators.serde.Compact;
import io.devicesync.operators.sync.FusedSync;
import io.devicesync.operators.sync.FusedSyncOperator;
import io.devicesync.operators.sync.LookupRetry;
import io.devicesync.operators.sync.SnapshotLookup;
import io.devicesync.operators.sync.SourceOfTruth;
import io.devicesync.operators.util.Tags;
import io.devicesync.sinks.KafkaSinks;
import io.devicesync.sources.AckSource;
import io.devicesync.sources.AuditFeedbackSource;
import io.devicesync.sources.EventSource;
import io.devicesync.sources.EventTimeWatermarks;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamUtils;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The devicesync job. {@link #main} is what a cluster runs; {@link #defineWorkflow} is the pipeline,
 * shaped like the data-flow picture in DESIGN.md:
 *
 * <pre>
 * device-events → Validate input → SequenceGuard → StateReconciler → device-state
 *                      │ dead letters  ↑  │ lookups ↘        ↑ results   │ audits
 *                      ▼               │  │      SnapshotLookup          ▼
 *               device-events-dlq      │  └──── alerts ──────────→ device-alerts
 *                                      └── REPAIR_PENDING ◄── device-audit
 * </pre>
 */
public final class DeviceSyncJob {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceSyncJob.class);

    private DeviceSyncJob() {}

    public static void main(String[] args) throws Exception {
        JobParameters params;
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        try {
            params = JobParameters.fromArgs(args);
            configure(env, params);
        } catch (IllegalArgumentException e) {
            // The message names the parameter; no stack trace from deep inside.
            System.err.println("devicesync: " + e.getMessage());
            throw new IllegalArgumentException("devicesync: " + e.getMessage());
        }
        build(env, params);
        env.execute("devicesync");
    }

    /**
     * The number of key groups, fixed for the life of the job's state: a savepoint can be restored
     * at any parallelism up to it, never with another value. Set explicitly (Flink would otherwise
     * derive it from the first parallelism, 128 for small ones, and a later change of the
     * parallelism could not raise it). 720 divides evenly by 1-6, 8, 9, 10, 12, 15, 16 … so devices
     * spread evenly over those parallelisms.
     */
    public static final int MAX_PARALLELISM = 720;

    /**
     * How long, and for how many devices at most, the acks are gathered before the exchange to the
     * tracker (AckCoalescer): a version its consumers acknowledge within it costs the tracker one
     * read-modify-write, not one per consumer; an ack and the deadlines behind it wait that much.
     */
    static final long ACK_WINDOW_MS = 500;

    static final int ACK_WINDOW_DEVICES = 10_000;

    /**
     * Checkpointing and the max parallelism, if the cluster configuration did not set them; refuses
     * (naming the parameter) what the cluster's settings and the parameters cannot run together.
     */
    public static void configure(StreamExecutionEnvironment env, JobParameters params) {
        if (env.getMaxParallelism() <= 0) env.setMaxParallelism(MAX_PARALLELISM);
        boolean clusterCheckpoints = env.getCheckpointConfig().isCheckpointingEnabled();
        if (!clusterCheckpoints) {
            // At-least-once sinks need no aligned barriers either: the guard drops what is replayed.
            env.enableCheckpointing(
                    params.checkpointInterval.toMillis(),
                    params.sinkDeliveryGuarantee == DeliveryGuarantee.AT_LEAST_ONCE
                            ? CheckpointingMode.AT_LEAST_ONCE
                            : CheckpointingMode.EXACTLY_ONCE);
        } else if (params.sinkDeliveryGuarantee == DeliveryGuarantee.EXACTLY_ONCE
                && env.getCheckpointConfig().getCheckpointingConsistencyMode() != CheckpointingMode.EXACTLY_ONCE) {
            // Transactions committed on checkpoints that are not exactly-once would repeat outputs
            // after a restore while promising not to: refuse at submission, naming both settings.
            throw new IllegalArgumentException(
                    "--sink.delivery-guarantee: exactly-once sinks need exactly-once checkpoints,"
                            + " but the cluster checkpoints "
                            + env.getCheckpointConfig().getCheckpointingConsistencyMode()
                            + " (execution.checkpointing.mode); set one of them to match");
        }
        if (!params.deliveryConsumers.isEmpty()) {
            var conf = env.getConfiguration();
            String backend = conf.get(org.apache.flink.configuration.ConfigOptions.key("state.backend.type")
                    .stringType()
                    .defaultValue(""));
            String timers = conf.get(
                    org.apache.flink.configuration.ConfigOptions.key("state.backend.rocksdb.timer-service.factory")
                            .stringType()
                            .defaultValue("ROCKSDB"));
            if (backend.equalsIgnoreCase("rocksdb") && timers.equalsIgnoreCase("HEAP")) {
                // Flink writes its own heap timers into RocksDB's checkpoints by hand, no other
                // priority queue: the redispatch queues would be in savepoints only.
                throw new IllegalArgumentException("--delivery.consumers: the cluster's"
                        + " state.backend.rocksdb.timer-service.factory is HEAP, which keeps the redispatch queues"
                        + " out of RocksDB's checkpoints; use ROCKSDB (the default)");
            }
        }
        TransactionTimeout.check(
                params.sinkDeliveryGuarantee,
                params.transactionTimeoutMs,
                params.kafkaProperties.containsKey("transaction.timeout.ms"),
                Duration.ofMillis(env.getCheckpointConfig().getCheckpointInterval()),
                clusterCheckpoints ? "the cluster's execution.checkpointing.interval" : "--checkpoint.interval");
        LOG.info(
                "devicesync: sinks {}, checkpoints {} every {} ms",
                params.sinkDeliveryGuarantee,
                env.getCheckpointConfig().getCheckpointingConsistencyMode(),
                env.getCheckpointConfig().getCheckpointInterval());
        // No operator of the job changes a record it was given or has emitted (keyed inputs arrive
        // over the network as fresh objects; the async lookup copies what it queues; the
        // redispatch scheduler keeps an attempt's document, which nothing changes once published),
        // so chained operators may pass records without a copy through the serializer.
        env.getConfig().enableObjectReuse();
        if (env.getConfig().getAutoWatermarkInterval() <= 0) {
            // Watermarks are periodic here: without them event time, and every timer, would stall.
            env.getConfig().setAutoWatermarkInterval(200);
        }
    }

    /** The whole job on Kafka and PostgreSQL as the parameters say. */
    public static void build(StreamExecutionEnvironment env, JobParameters p) {
        LOG.info("devicesync parameters: {}", p);
        DataStream<SourceRecord> records = env.fromSource(
                        EventSource.create(p.bootstrapServers, p.topicEvents, p.groupId, p.startingOffsets, p.kafka()),
                        EventTimeWatermarks.strategy(
                                p.watermarkOutOfOrderness, p.watermarkIdleTimeout, p.watermarkMaxFutureSkew),
                        "Kafka: " + p.topicEvents)
                .uid(Uids.SOURCE_EVENTS);
        DataStream<AuditRecord> auditFeedback = env.fromSource(
                        AuditFeedbackSource.create(
                                p.bootstrapServers, p.topicAudit, p.groupId + "-audit-feedback", p.kafka()),
                        AuditFeedbackSource.watermarks(),
                        "Kafka: " + p.topicAudit + " (repairs pending)")
                .uid(Uids.SOURCE_AUDIT_FEEDBACK);
        String tx = p.groupId;
        Outputs outputs = new Outputs(
                KafkaSinks.deviceState(
                        p.bootstrapServers, p.topicState, tx + "-state", p.kafka(), p.sinkDeliveryGuarantee),
                KafkaSinks.alerts(
                        p.bootstrapServers, p.topicAlerts, tx + "-alerts", p.kafka(), p.sinkDeliveryGuarantee),
                KafkaSinks.deadLetters(p.bootstrapServers, p.topicDlq, tx + "-dlq", p.kafka(), p.sinkDeliveryGuarantee),
                KafkaSinks.audits(p.bootstrapServers, p.topicAudit, tx + "-audit", p.kafka(), p.sinkDeliveryGuarantee),
                p.topicState,
                p.topicAlerts,
                p.topicDlq,
                p.topicAudit);
        DataStream<AckRecord> acks = null;
        if (!p.deliveryConsumers.isEmpty()) {
            acks = env.fromSource(
                            AckSource.create(
                                    p.bootstrapServers, p.topicAcks, p.groupId + "-acks", p.startingOffsets, p.kafka()),
                            AckSource.watermarks(
                                    p.watermarkOutOfOrderness, p.watermarkIdleTimeout, p.watermarkMaxFutureSkew),
                            "Kafka: " + p.topicAcks)
                    .uid(Uids.SOURCE_ACKS);
            outputs.withDelivery(
                    KafkaSinks.redispatch(
                            p.bootstrapServers,
                            p.topicRedispatch,
                            tx + "-redispatch",
                            p.kafka(),
                            p.sinkDeliveryGuarantee),
                    KafkaSinks.redispatchDeadLetters(
                            p.bootstrapServers,
                            p.topicRedispatchDlq,
                            tx + "-redispatch-dlq",
                            p.kafka(),
                            p.sinkDeliveryGuarantee),
                    p.topicRedispatch,
                    p.topicRedispatchDlq);
        }
        DataStream<Increment> seeds = null;
        if (p.bootstrapFromDatabase) {
            seeds = bootstrap(env, p, SnapshotLookup.postgres(lookupConfig(p), 1));
            alignedWithABootstrap(env);
        }
        defineWorkflow(
                records,
                auditFeedback,
                acks,
                seeds,
                new SnapshotLookup(lookupConfig(p)),
                p,
                checkpointInterval(env, p),
                outputs);
    }

    /**
     * With the bootstrap, the job checkpoints aligned (and so without interruptible timers), whatever
     * the cluster configures. The bootstrap's seeds join the increments into the SequenceGuard (a
     * union of two inputs, one of them bounded); with unaligned checkpoints on Flink 2.2.1 that
     * input was seen spinning once the bootstrap had finished, no checkpoint completing for minutes
     * (BootstrapITCase, once in five full runs). Removing {@code --bootstrap.from-database} once it
     * is done brings the cluster's setting back.
     */
    static void alignedWithABootstrap(StreamExecutionEnvironment env) {
        if (!env.getCheckpointConfig().isUnalignedCheckpointsEnabled()) return;
        env.getCheckpointConfig().enableUnalignedCheckpoints(false);
        LOG.info("devicesync: --bootstrap.from-database: checkpoints aligned (unaligned checkpoints and interruptible"
                + " timers off for this run; see README, Bootstrap from the database)");
    }

    /**
     * {@code --bootstrap.from-database}: the seeds of every device from {@code device_snapshot}
     * (one reader, no watermarks: event time waits for the last seed). A job that starts from a
     * savepoint or checkpoint ({@code execution.state-recovery.path}) only finishes a bootstrap that
     * state has under way.
     */
    public static DataStream<Increment> bootstrap(
            StreamExecutionEnvironment env, JobParameters p, SourceOfTruth.Factory db) {
        boolean restoring = env.getConfiguration()
                .getOptional(StateRecoveryOptions.SAVEPOINT_PATH)
                .isPresent();
        if (restoring) {
            LOG.info(
                    "--bootstrap.from-database true, but the job starts from state ({}): it only finishes a bootstrap"
                            + " under way in that state",
                    env.getConfiguration().get(StateRecoveryOptions.SAVEPOINT_PATH));
        }
        return env.fromSource(
                        new BootstrapSource(db, p.bootstrapChunkSize, p.bootstrapRowsPerSecond, restoring),
                        WatermarkStrategy.noWatermarks(),
                        "PostgreSQL: device_snapshot (bootstrap)",
                        Compact.INCREMENT)
                .setParallelism(1)
                .uid(Uids.SOURCE_BOOTSTRAP);
    }

    /**
     * The longest event-time jump an idle input makes in normal operation: the idle timeout (plus
     * the periodic watermark that notices it) and the out-of-orderness. Audits passed by a longer
     * jump (a stop, the end of a catch-up) are spread over the interval after it.
     */
    static Duration routineJump(JobParameters p, long watermarkIntervalMs) {
        return p.watermarkIdleTimeout.plus(p.watermarkOutOfOrderness).plusMillis(Math.max(0, watermarkIntervalMs));
    }

    /** One database attempt's deadline: the lookup's whole deadline, at most 10 s. */
    static Duration lookupAttemptDeadline(JobParameters p) {
        return Duration.ofMillis(Math.min(10_000L, p.snapshotTimeout.toMillis()));
    }

    /** The checkpoint interval the job runs with: the cluster's if it set one, else the parameter's. */
    public static Duration checkpointInterval(StreamExecutionEnvironment env, JobParameters p) {
        long ms = env.getCheckpointConfig().getCheckpointInterval();
        return ms > 0 ? Duration.ofMillis(ms) : p.checkpointInterval;
    }

    /** Where the job writes; tests may pass other sinks. */
    public static final class Outputs {
        final Sink<DeviceState> state;
        final Sink<Alert> alerts;
        final Sink<DeadLetter> deadLetters;
        final Sink<AuditRecord> audits;
        final String stateName;
        final String alertsName;
        final String deadLettersName;
        final String auditsName;
        Sink<Redispatch> redispatch;
        Sink<Redispatch> redispatchDeadLetters;
        String redispatchName;
        String redispatchDeadLettersName;

        /** The delivery sinks; needed when {@code --delivery.consumers} is set. */
        public Outputs withDelivery(
                Sink<Redispatch> redispatch,
                Sink<Redispatch> redispatchDeadLetters,
                String redispatchName,
                String redispatchDeadLettersName) {
            this.redispatch = redispatch;
            this.redispatchDeadLetters = redispatchDeadLetters;
            this.redispatchName = redispatchName;
            this.redispatchDeadLettersName = redispatchDeadLettersName;
            return this;
        }

        public Outputs(
                Sink<DeviceState> state,
                Sink<Alert> alerts,
                Sink<DeadLetter> deadLetters,
                Sink<AuditRecord> audits,
                String stateName,
                String alertsName,
                String deadLettersName,
                String auditsName) {
            this.state = state;
            this.alerts = alerts;
            this.deadLetters = deadLetters;
            this.audits = audits;
            this.stateName = stateName;
            this.alertsName = alertsName;
            this.deadLettersName = deadLettersName;
            this.auditsName = auditsName;
        }
    }

    /** How the lookups reach the database and guard the stream against it. */
    public static SnapshotLookup.Config lookupConfig(JobParameters p) {
        return new SnapshotLookup.Config(
                p.snapshotUrls,
                p.snapshotUser,
                p.snapshotPassword,
                p.snapshotPoolSize,
                p.resyncMaxLogFetch,
                lookupAttemptDeadline(p).toMillis(),
                p.snapshotMaxInFlight,
                p.snapshotBreakerFailures,
                p.snapshotBreakerOpen.toMillis(),
                p.snapshotBatchSize,
                p.snapshotBatchLinger.toMillis());
    }

    /**
     * The pipeline from parsed records to the outputs. Its edges are passed in: the sources, the
     * lookup (PostgreSQL in the job; a source of truth in memory in the workflow tests) and the sinks.
     * {@code acks} is read only when {@code --delivery.consumers} is set (it may be null otherwise).
     *
     * @param checkpointInterval what a read_committed consumer waits at most to see a version: part of its deadline
     */
    public static void defineWorkflow(
            DataStream<SourceRecord> records,
            DataStream<AuditRecord> auditFeedback,
            DataStream<AckRecord> acks,
            SnapshotLookup lookup,
            JobParameters p,
            Duration checkpointInterval,
            Outputs outputs) {
        defineWorkflow(records, auditFeedback, acks, null, lookup, p, checkpointInterval, outputs);
    }

    /**
     * The pipeline, with the bootstrap's seeds ({@code seeds}, null without a bootstrap): they join
     * the increments on their way to the SequenceGuard (see {@link #bootstrap}).
     */
    public static void defineWorkflow(
            DataStream<SourceRecord> records,
            DataStream<AuditRecord> auditFeedback,
            DataStream<AckRecord> acks,
            DataStream<Increment> seeds,
            SnapshotLookup lookup,
            JobParameters p,
            Duration checkpointInterval,
            Outputs outputs) {
        boolean delivery = !p.deliveryConsumers.isEmpty();
        if (delivery && (acks == null || outputs.redispatch == null)) {
            throw new IllegalArgumentException("--delivery.consumers needs the acks source and the redispatch sinks");
        }
        SingleOutputStreamOperator<Increment> increments = records.process(new InputRouter(), Compact.INCREMENT)
                .uid(Uids.INPUT_ROUTER)
                .name("Validate input");
        SingleOutputStreamOperator<Ack> validAcks = null;
        DataStream<DeadLetter> deadLetters = increments.getSideOutput(Tags.DEAD_LETTERS);
        if (delivery) {
            validAcks = acks.process(new AckRouter(), TypeInformation.of(Ack.class))
                    .uid(Uids.ACK_ROUTER)
                    .name("Validate acks");
            deadLetters = deadLetters.union(validAcks.getSideOutput(Tags.DEAD_LETTERS));
        }
        deadLetters.sinkTo(outputs.deadLetters).uid(Uids.SINK_DLQ).name("Kafka: " + outputs.deadLettersName);
        DataStream<Alert> invalidInputAlerts = deadLetters
                .keyBy(d -> d.reason, Types.STRING)
                .process(
                        new InvalidInputAlerts(p.invalidInputWindow, p.watermarkMaxFutureSkew),
                        TypeInformation.of(Alert.class))
                .uid(Uids.INVALID_INPUT_ALERTS)
                .name("Invalid input alerts");

        DataStream<Increment> guarded = seeds == null ? increments : increments.union(seeds);
        // The guard and the reconciler in one keyed step; its lookups are answered into it.
        SingleOutputStreamOperator<DeviceState> states = guarded.keyBy(i -> i.deviceId, Types.STRING)
                .connect(auditFeedback
                        .map(SyncFeedback::of, TypeInformation.of(SyncFeedback.class))
                        .name("Audit records read back")
                        .keyBy(SyncFeedback::deviceId, Types.STRING))
                .transform(
                        "DeviceSync",
                        Compact.DEVICE_STATE,
                        new FusedSyncOperator(
                                new FusedSync(
                                        p.reorderGrace,
                                        p.resyncMaxLogFetch,
                                        p.auditInterval,
                                        p.stateIdleTtl,
                                        routineJump(
                                                p,
                                                records.getExecutionEnvironment()
                                                        .getConfig()
                                                        .getAutoWatermarkInterval()),
                                        seeds != null,
                                        p.resyncMaxHeld,
                                        p.stateMaxDocumentBytes,
                                        lookupAttemptDeadline(p).multipliedBy(2)),
                                lookup,
                                p.snapshotTimeout.toMillis(),
                                new LookupRetry(p.snapshotRetries, p.snapshotRetryBackoff.toMillis()),
                                p.snapshotCapacity))
                .uid(Uids.DEVICE_SYNC)
                .name("DeviceSync");
        SingleOutputStreamOperator<DeviceState> ordered = states;
        states.sinkTo(outputs.state).uid(Uids.SINK_STATE).name("Kafka: " + outputs.stateName);
        states.getSideOutput(Tags.AUDITS)
                .sinkTo(outputs.audits)
                .uid(Uids.SINK_AUDIT)
                .name("Kafka: " + outputs.auditsName);

        DataStream<Alert> alerts = ordered.getSideOutput(Tags.ALERTS).union(invalidInputAlerts);

        if (delivery) {
            // Same key, same parallelism: every version stays on its subtask (its key group's), on a
            // local channel where slot sharing puts both subtasks in one TaskManager. A keyBy, not a forward edge:
            // Flink checkpoints every input of a task
            // with a pointwise input aligned, so the tracker's barrier would wait behind the versions
            // in flight and behind its whole loop of passed timers (an aligned barrier is input, not
            // mail: it does not interrupt the loop), for seconds during a fleet's attempts storm.
            KeyedStream<DeviceState, String> published = states.keyBy(s -> s.deviceId, Types.STRING);
            // Each consumer's own schedule, budget and backlog threshold (--delivery.consumer.<name>.*).
            Map<String, DeliverySchedule> schedules = new LinkedHashMap<>();
            Map<String, Integer> rates = new LinkedHashMap<>();
            Map<String, Long> thresholds = new LinkedHashMap<>();
            p.consumerSettings.forEach((c, cs) -> {
                schedules.put(
                        c,
                        new DeliverySchedule(
                                cs.ackTimeout, checkpointInterval, cs.maxAttempts, cs.backoff, cs.maxBackoff));
                rates.put(c, cs.rate);
                thresholds.put(c, cs.backlogThreshold);
            });
            SingleOutputStreamOperator<DeliveryEvent> deliveries = published
                    .connect(validAcks
                            .transform(
                                    "Coalesce acks",
                                    AckBatchSerializer.TYPE,
                                    new AckCoalescer(ACK_WINDOW_MS, ACK_WINDOW_DEVICES))
                            .uid(Uids.ACK_COALESCER)
                            .name("Coalesce acks")
                            .keyBy(b -> b.deviceId, Types.STRING))
                    .transform(
                            "DeliveryTracker",
                            TypeInformation.of(DeliveryEvent.class),
                            new DeliveryTrackerOperator(new DeliveryTracker(
                                    p.deliveryConsumers, schedules, p.stateIdleTtl, p.watermarkMaxFutureSkew)))
                    .uid(Uids.DELIVERY_TRACKER)
                    .name("DeliveryTracker");
            // Same key, same parallelism: the scheduler is chained to the tracker, each subtask
            // scheduling its own devices (no consumer is a hot key); the budget is split over them.
            int parallelism = deliveries.getParallelism() > 0
                    ? deliveries.getParallelism()
                    : records.getExecutionEnvironment().getParallelism();
            rates.forEach((c, rate) -> {
                if (rate < parallelism) {
                    throw new IllegalArgumentException("--redispatch.rate (or --" + JobParameters.CONSUMER_PREFIX + c
                            + ".rate): " + c + "'s budget of " + rate + " redispatches a second is below the job's"
                            + " parallelism " + parallelism + "; it is split over the subtasks and each needs at"
                            + " least 1: set it to at least " + parallelism);
                }
            });
            SingleOutputStreamOperator<Redispatch> redispatches = DataStreamUtils.reinterpretAsKeyedStream(
                            deliveries, e -> e.deviceId, Types.STRING)
                    .transform(
                            "RedispatchScheduler",
                            TypeInformation.of(Redispatch.class),
                            new RedispatchScheduler(p.deliveryConsumers, rates))
                    .uid(Uids.REDISPATCH_SCHEDULER_BY_DEVICE)
                    .name("RedispatchScheduler");
            redispatches.sinkTo(outputs.redispatch).uid(Uids.SINK_REDISPATCH).name("Kafka: " + outputs.redispatchName);
            redispatches
                    .getSideOutput(Tags.REDISPATCH_DEAD_LETTERS)
                    .sinkTo(outputs.redispatchDeadLetters)
                    .uid(Uids.SINK_REDISPATCH_DLQ)
                    .name("Kafka: " + outputs.redispatchDeadLettersName);
            // Each consumer's backlog over the job: at most one report per key group and second.
            SingleOutputStreamOperator<Alert> backlogAlerts = redispatches
                    .getSideOutput(RedispatchScheduler.BACKLOG_REPORTS)
                    .keyBy(r -> r.consumer, Types.STRING)
                    .process(new DeliveryBacklog(p.deliveryConsumers, thresholds), TypeInformation.of(Alert.class))
                    .uid(Uids.REDISPATCH_SCHEDULER) // the earlier builds' scheduler's: it takes over its BACKLOG
                    .name("DeliveryBacklog");
            alerts = alerts.union(
                    deliveries.getSideOutput(Tags.ALERTS), redispatches.getSideOutput(Tags.ALERTS), backlogAlerts);
        }
        // Storm control: one key per alert type (its budget is job-wide), see AlertPolicy. The
        // reconciler's alerts and breaker reports come routed, on one side output, in their order.
        alerts.flatMap(new AlertRouting(), TypeInformation.of(PolicyInput.class))
                .uid(Uids.ALERT_ROUTING)
                .name("Route alerts")
                .union(states.getSideOutput(AlertRouting.RECONCILER))
                .keyBy(in -> in.key, Types.STRING)
                .process(
                        new AlertPolicyFunction(p.alertsMaxPerMinute, p.alertsWindow.toMillis()),
                        TypeInformation.of(Alert.class))
                .uid(Uids.ALERT_POLICY)
                .name("AlertPolicy")
                .sinkTo(outputs.alerts)
                .uid(Uids.SINK_ALERTS)
                .name("Kafka: " + outputs.alertsName);
    }
}
