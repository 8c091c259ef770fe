package io.devicesync.jobs;

import io.devicesync.model.DeadLetter;
import io.devicesync.operators.sync.PostgresSourceOfTruth;
import io.devicesync.sinks.KafkaSinks;
import io.devicesync.sources.EventSource.StartingOffsets;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.function.Function;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.util.TimeUtils;

/**
 * Every job parameter, typed, with its default and validation. A missing or wrong parameter is an
 * {@link IllegalArgumentException} whose message names it, raised before the job graph is built.
 * Credentials are kept out of {@link #toString()}.
 *
 * <p>Durations: the job counts whole milliseconds, so a duration between 0 and 1 ms is refused
 * everywhere (it would silently be 0). Periods, windows, timeouts and TTLs, which divide or
 * schedule, are at least 1 ms (the checkpoint interval at least Flink's 10 ms); the delays and
 * bounds where 0 means "none" (reorder grace, out-of-orderness, future skew, redispatch backoff)
 * may be 0.
 */
public final class JobParameters implements Serializable {
    private static final long serialVersionUID = 1L;

    public static final String ENV_USER = "DEVICESYNC_SNAPSHOT_USER";
    public static final String ENV_PASSWORD = "DEVICESYNC_SNAPSHOT_PASSWORD";

    public String bootstrapServers;
    public String groupId = "devicesync";
    public StartingOffsets startingOffsets = StartingOffsets.COMMITTED_OR_EARLIEST;
    /** {@code kafka.<property>} without the prefix, for every Kafka client. */
    public Properties kafkaProperties = new Properties();

    public String topicEvents = "device-events";
    public String topicAcks = "device-acks";
    public String topicState = "device-state";
    public String topicAlerts = "device-alerts";
    public String topicDlq = "device-events-dlq";
    public String topicRedispatch = "device-redispatch";
    public String topicRedispatchDlq = "device-redispatch-dlq";
    public String topicAudit = "device-audit";

    public List<String> snapshotUrls;
    public String snapshotUser;
    public String snapshotPassword;
    public int snapshotPoolSize = 4;
    /**
     * Lookups Flink's async operator may hold per subtask: waiting for the database, for a retry, or
     * done and waiting for an earlier one to finish (results cross a watermark only in order). Kept
     * large, so that lookups stuck on a hung database never fill it and backpressure the stream.
     */
    public int snapshotCapacity = 10_000;

    public Duration snapshotTimeout = Duration.ofSeconds(60);
    public int snapshotRetries = 8;
    public Duration snapshotRetryBackoff = Duration.ofMillis(500);
    /**
     * Lookups waiting for the database at once per subtask (in its pool's queue or running); more
     * are shed. Default: 1000 (at most half the capacity): a healthy database drains a burst of
     * gaps that size in a second or two, well within an attempt's deadline.
     */
    public int snapshotMaxInFlight;

    public int snapshotBreakerFailures = 5;
    public Duration snapshotBreakerOpen = Duration.ofSeconds(10);
    /** Reads of one kind (versions, snapshots, log ranges) answered by one database query at most. */
    public int snapshotBatchSize = PostgresSourceOfTruth.DEFAULT_BATCH_SIZE;
    /**
     * How long a batch waits for more reads after its first; it goes earlier once full. Small: every
     * read it holds waits that long at most (0: only the reads already queued join it).
     */
    public Duration snapshotBatchLinger = Duration.ofMillis(PostgresSourceOfTruth.DEFAULT_BATCH_LINGER_MS);

    /** The largest batch of reads. */
    public static final int MAX_SNAPSHOT_BATCH_SIZE = 10_000;
    /** The longest a read may wait for its batch. */
    public static final Duration MAX_SNAPSHOT_BATCH_LINGER = Duration.ofMillis(50);

    public Duration reorderGrace = Duration.ofSeconds(2);
    public long resyncMaxLogFetch = 1000;
    public int resyncMaxHeld = 10_000;
    public Duration auditInterval = Duration.ofMinutes(5);
    public Duration stateIdleTtl = Duration.ofDays(30);
    /**
     * The largest state document published; a larger version is held back with a STATE_TOO_LARGE
     * alert. Below Kafka's default 1 MB record limit, with room for the record's other fields.
     */
    public int stateMaxDocumentBytes = 512 * 1024;

    public List<String> deliveryConsumers = List.of();
    public Duration deliveryAckTimeout = Duration.ofSeconds(30);
    public int redispatchMaxAttempts = 5;
    public Duration redispatchBackoff = Duration.ofSeconds(5);
    public Duration redispatchMaxBackoff = Duration.ofMinutes(5);
    public int redispatchRate = 100;
    public long backlogThreshold = 1000;

    /** At most this many consumers may be listed: each costs state per device and metrics. */
    public static final int MAX_CONSUMERS = 64;
    /** The largest budget per consumer. */
    public static final int MAX_REDISPATCH_RATE = 100_000;

    public static final int MAX_REDISPATCH_ATTEMPTS = 100;

    public Duration watermarkOutOfOrderness = Duration.ofSeconds(1);
    public Duration watermarkIdleTimeout = Duration.ofSeconds(10);
    public Duration watermarkMaxFutureSkew = Duration.ofMinutes(5);
    /** INVALID_INPUT alerts aggregate rejected records per reason over this event-time window. */
    public Duration invalidInputWindow = Duration.ofMinutes(1);
    /** Alerts of one type published one by one per minute (job-wide); the rest go into an ALERT_SUMMARY. 0: all summarized. */
    public int alertsMaxPerMinute = 1000;
    /** The AlertPolicy's window: the budget counts and summaries fold per window (the contract's minute by default). */
    public Duration alertsWindow = Duration.ofMinutes(1);
    /** Used only when the cluster configuration does not enable checkpointing itself. */
    public Duration checkpointInterval = Duration.ofSeconds(30);
    /** Flink's shortest checkpoint interval. */
    public static final Duration MIN_CHECKPOINT_INTERVAL = Duration.ofMillis(10);
    /**
     * The sinks' {@code transaction.timeout.ms} ({@code --kafka.transaction.timeout.ms}, else the
     * job's default): checked against the checkpoint interval when the job is configured.
     */
    public int transactionTimeoutMs = Integer.parseInt(KafkaSinks.DEFAULT_TRANSACTION_TIMEOUT_MS);
    /** The producers' {@code max.request.size} ({@code --kafka.max.request.size}, else Kafka's default). */
    public int maxRequestSize = DEFAULT_MAX_REQUEST_SIZE;
    /** Kafka's default {@code max.request.size}. */
    public static final int DEFAULT_MAX_REQUEST_SIZE = 1024 * 1024;
    /**
     * What a device-state or redispatch record adds to its document, at most: key, deviceId
     * (escaped), version, time, source, the redispatch's consumer and attempt, headers.
     */
    public static final int STATE_RECORD_OVERHEAD = 4096;
    /**
     * How every Kafka sink writes: exactly-once (transactions committed on checkpoints; consumers
     * read_committed) or at-least-once (written at once, flushed on checkpoints; after a restore
     * a consumer may see a version, an alert or a redispatch again, never miss one).
     */
    public DeliveryGuarantee sinkDeliveryGuarantee = DeliveryGuarantee.EXACTLY_ONCE;
    /** At a first start, seed every device from device_snapshot (see the README's Bootstrap). */
    public boolean bootstrapFromDatabase;
    /** Rows of device_snapshot per bootstrap query. */
    public int bootstrapChunkSize = 1000;

    public static final int MAX_BOOTSTRAP_CHUNK_SIZE = 100_000;
    /** At most this many rows a second on average; 0: as fast as the job takes them. */
    public long bootstrapRowsPerSecond;

    /**
     * One parameter, declared once (see {@link #DECLARED}): its name, how its value is read into
     * the parameters (parsed and validated: a failure's message says why, and the caller names the
     * parameter), and how the logged settings show it (a secret never). Its default is the field's
     * initial value.
     */
    private record Param(String name, boolean secret, Reader read, Function<JobParameters, Object> shown) {}

    /** Reads a parameter's value (trimmed, except a secret's) into the parameters. */
    @FunctionalInterface
    private interface Reader {
        void read(JobParameters p, String value);
    }

    /**
     * Every parameter of the job, in the order they are read: one that another's validation
     * depends on comes first ({@code snapshot.capacity} before {@code snapshot.max-in-flight},
     * {@code redispatch.backoff} before {@code redispatch.max-backoff}). The README's parameter
     * table lists exactly these, with {@code kafka.<client property>} ({@code JobParametersTest}).
     */
    private static final Map<String, Param> DECLARED = new LinkedHashMap<>();

    static {
        declare("kafka.bootstrap-servers", (p, v) -> p.bootstrapServers = nonEmpty(v), p -> p.bootstrapServers);
        declare("kafka.group-id", (p, v) -> p.groupId = nonEmpty(v), p -> p.groupId);
        declare(
                "kafka.starting-offsets",
                (p, v) -> p.startingOffsets = switch (v) {
                    case "earliest" -> StartingOffsets.EARLIEST;
                    case "latest" -> StartingOffsets.LATEST;
                    case "committed-or-earliest" -> StartingOffsets.COMMITTED_OR_EARLIEST;
                    default -> throw new IllegalArgumentException("use earliest, latest or committed-or-earliest");
                },
                p -> p.startingOffsets);
        declare("topic.events", (p, v) -> p.topicEvents = nonEmpty(v), p -> p.topicEvents);
        declare("topic.acks", (p, v) -> p.topicAcks = nonEmpty(v), p -> p.topicAcks);
        declare("topic.state", (p, v) -> p.topicState = nonEmpty(v), p -> p.topicState);
        declare("topic.alerts", (p, v) -> p.topicAlerts = nonEmpty(v), p -> p.topicAlerts);
        declare("topic.dlq", (p, v) -> p.topicDlq = nonEmpty(v), p -> p.topicDlq);
        declare("topic.redispatch", (p, v) -> p.topicRedispatch = nonEmpty(v), p -> p.topicRedispatch);
        declare("topic.redispatch-dlq", (p, v) -> p.topicRedispatchDlq = nonEmpty(v), p -> p.topicRedispatchDlq);
        declare("topic.audit", (p, v) -> p.topicAudit = nonEmpty(v), p -> p.topicAudit);

        declare("snapshot.url", (p, v) -> p.snapshotUrls = urls(v), p -> p.snapshotUrls);
        declare("snapshot.user", (p, v) -> p.snapshotUser = nonEmpty(v), p -> p.snapshotUser);
        DECLARED.put(
                "snapshot.password",
                new Param(
                        "snapshot.password",
                        true,
                        (p, v) -> p.snapshotPassword = v,
                        p -> p.snapshotPassword == null ? "none" : "***"));
        declare("snapshot.pool-size", (p, v) -> p.snapshotPoolSize = positive(v), p -> p.snapshotPoolSize);
        declare("snapshot.capacity", (p, v) -> p.snapshotCapacity = positive(v), p -> p.snapshotCapacity);
        declare("snapshot.timeout", (p, v) -> p.snapshotTimeout = atLeastAMillisecond(v), p -> p.snapshotTimeout);
        declare(
                "snapshot.retries",
                (p, v) -> p.snapshotRetries = atLeast(Integer.parseInt(v), 0),
                p -> p.snapshotRetries);
        declare(
                "snapshot.retry-backoff",
                (p, v) -> p.snapshotRetryBackoff = atLeastAMillisecond(v),
                p -> p.snapshotRetryBackoff);
        declare(
                "snapshot.max-in-flight",
                (p, v) -> {
                    int n = atLeast(Integer.parseInt(v), 1);
                    if (n > p.snapshotCapacity) {
                        throw new IllegalArgumentException(
                                "must be at most --snapshot.capacity (" + p.snapshotCapacity + ")");
                    }
                    p.snapshotMaxInFlight = n;
                },
                p -> p.snapshotMaxInFlight);
        declare(
                "snapshot.breaker-failures",
                (p, v) -> p.snapshotBreakerFailures = positive(v),
                p -> p.snapshotBreakerFailures);
        declare(
                "snapshot.breaker-open",
                (p, v) -> p.snapshotBreakerOpen = atLeastAMillisecond(v),
                p -> p.snapshotBreakerOpen);
        declare(
                "snapshot.batch-size",
                (p, v) -> p.snapshotBatchSize = atMost(atLeast(Integer.parseInt(v), 1), MAX_SNAPSHOT_BATCH_SIZE),
                p -> p.snapshotBatchSize);
        declare(
                "snapshot.batch-linger",
                (p, v) -> {
                    Duration d = noneOrAtLeastAMillisecond(v);
                    if (d.compareTo(MAX_SNAPSHOT_BATCH_LINGER) > 0) {
                        throw new IllegalArgumentException(
                                "must be at most " + MAX_SNAPSHOT_BATCH_LINGER.toMillis() + " ms");
                    }
                    if (d.toNanos() % 1_000_000 != 0) throw new IllegalArgumentException("must be whole milliseconds");
                    p.snapshotBatchLinger = d;
                },
                p -> p.snapshotBatchLinger);

        declare("reorder.grace", (p, v) -> p.reorderGrace = noneOrAtLeastAMillisecond(v), p -> p.reorderGrace);
        declare(
                "resync.max-log-fetch",
                (p, v) -> p.resyncMaxLogFetch = atLeast(Long.parseLong(v), 0L),
                p -> p.resyncMaxLogFetch);
        declare("resync.max-held", (p, v) -> p.resyncMaxHeld = positive(v), p -> p.resyncMaxHeld);
        declare("audit.interval", (p, v) -> p.auditInterval = atLeastAMillisecond(v), p -> p.auditInterval);
        declare("state.idle-ttl", (p, v) -> p.stateIdleTtl = atLeastAMillisecond(v), p -> p.stateIdleTtl);
        declare(
                "state.max-document-bytes",
                (p, v) -> p.stateMaxDocumentBytes = atMost(atLeast(Integer.parseInt(v), 1024), 64 * 1024 * 1024),
                p -> p.stateMaxDocumentBytes);

        declare("delivery.consumers", (p, v) -> p.deliveryConsumers = consumers(v), p -> p.deliveryConsumers);
        declare(
                "delivery.ack-timeout",
                (p, v) -> p.deliveryAckTimeout = atLeastAMillisecond(v),
                p -> p.deliveryAckTimeout);
        declare(
                "redispatch.max-attempts",
                (p, v) -> p.redispatchMaxAttempts = atMost(atLeast(Integer.parseInt(v), 1), MAX_REDISPATCH_ATTEMPTS),
                p -> p.redispatchMaxAttempts);
        declare(
                "redispatch.backoff",
                (p, v) -> p.redispatchBackoff = noneOrAtLeastAMillisecond(v),
                p -> p.redispatchBackoff);
        declare(
                "redispatch.max-backoff",
                (p, v) -> {
                    Duration d = noneOrAtLeastAMillisecond(v);
                    if (d.compareTo(p.redispatchBackoff) < 0) {
                        throw new IllegalArgumentException(
                                "must be at least --redispatch.backoff (" + p.redispatchBackoff + ")");
                    }
                    p.redispatchMaxBackoff = d;
                },
                p -> p.redispatchMaxBackoff);
        declare(
                "redispatch.rate",
                (p, v) -> p.redispatchRate = atMost(atLeast(Integer.parseInt(v), 1), MAX_REDISPATCH_RATE),
                p -> p.redispatchRate);
        declare(
                "backlog.threshold",
                (p, v) -> p.backlogThreshold = atLeast(Long.parseLong(v), 1L),
                p -> p.backlogThreshold);

        declare(
                "watermark.out-of-orderness",
                (p, v) -> p.watermarkOutOfOrderness = noneOrAtLeastAMillisecond(v),
                p -> p.watermarkOutOfOrderness);
        declare(
                "watermark.idle-timeout",
                (p, v) -> p.watermarkIdleTimeout = atLeastAMillisecond(v),
                p -> p.watermarkIdleTimeout);
        declare(
                "watermark.max-future-skew",
                (p, v) -> p.watermarkMaxFutureSkew = noneOrAtLeastAMillisecond(v),
                p -> p.watermarkMaxFutureSkew);
        declare(
                "checkpoint.interval",
                (p, v) -> {
                    Duration d = parseDuration(v);
                    if (d.compareTo(MIN_CHECKPOINT_INTERVAL) < 0)
                        throw new IllegalArgumentException("must be at least 10 ms (Flink's minimum)");
                    p.checkpointInterval = d;
                },
                p -> p.checkpointInterval);
        declare(
                "sink.delivery-guarantee",
                (p, v) -> p.sinkDeliveryGuarantee = switch (v) {
                    case "exactly-once" -> DeliveryGuarantee.EXACTLY_ONCE;
                    case "at-least-once" -> DeliveryGuarantee.AT_LEAST_ONCE;
                    default -> throw new IllegalArgumentException("use exactly-once or at-least-once");
                },
                p -> p.sinkDeliveryGuarantee);
        declare(
                "alerts.invalid-input-window",
                (p, v) -> p.invalidInputWindow = atLeastAMillisecond(v),
                p -> p.invalidInputWindow);
        declare(
                "alerts.max-per-minute",
                (p, v) -> p.alertsMaxPerMinute = atLeast(Integer.parseInt(v), 0),
                p -> p.alertsMaxPerMinute);
        declare("alerts.window", (p, v) -> p.alertsWindow = atLeastAMillisecond(v), p -> p.alertsWindow);
        declare(
                "bootstrap.from-database",
                (p, v) -> p.bootstrapFromDatabase = switch (v) {
                    case "true" -> true;
                    case "false" -> false;
                    default -> throw new IllegalArgumentException("use true or false");
                },
                p -> p.bootstrapFromDatabase);
        declare(
                "bootstrap.chunk-size",
                (p, v) -> p.bootstrapChunkSize = atMost(atLeast(Integer.parseInt(v), 1), MAX_BOOTSTRAP_CHUNK_SIZE),
                p -> p.bootstrapChunkSize);
        declare(
                "bootstrap.rows-per-second",
                (p, v) -> p.bootstrapRowsPerSecond = atLeast(Long.parseLong(v), 0L),
                p -> p.bootstrapRowsPerSecond);
    }

    private static void declare(String name, Reader read, Function<JobParameters, Object> shown) {
        if (DECLARED.put(name, new Param(name, false, read, shown)) != null)
            throw new IllegalStateException(name + " declared twice");
    }

    /** The parameters this job knows, besides {@code kafka.<client property>}: every one declared. */
    static final Set<String> KNOWN = java.util.Collections.unmodifiableSet(DECLARED.keySet());

    /** {@code --delivery.consumer.<name>.<setting>}: one listed consumer's own value over the job-wide one. */
    public static final String CONSUMER_PREFIX = "delivery.consumer.";

    static final List<String> CONSUMER_SETTINGS =
            List.of("ack-timeout", "max-attempts", "backoff", "max-backoff", "rate", "backlog-threshold");

    /** One consumer's delivery settings: the job-wide values, with its own overrides. */
    public static final class ConsumerSettings implements Serializable {
        private static final long serialVersionUID = 1L;
        public Duration ackTimeout;
        public int maxAttempts;
        public Duration backoff;
        public Duration maxBackoff;
        public int rate;
        public long backlogThreshold;

        @Override
        public String toString() {
            return "{ackTimeout=" + ackTimeout + ", maxAttempts=" + maxAttempts + ", backoff=" + backoff
                    + ", maxBackoff=" + maxBackoff + ", rate=" + rate + ", backlogThreshold=" + backlogThreshold + "}";
        }
    }

    /** Every listed consumer's settings, in the order of {@code --delivery.consumers}. */
    public Map<String, ConsumerSettings> consumerSettings = new LinkedHashMap<>();

    /**
     * Reads the per-consumer overrides, after the job-wide values: refused, by name, for a consumer
     * not listed, a setting that does not exist, or a value the job-wide parameter would refuse.
     */
    private static void readConsumerSettings(JobParameters p, Map<String, String> raw) {
        Map<String, Map<String, String>> given = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : raw.entrySet()) {
            String name = e.getKey();
            if (!name.startsWith(CONSUMER_PREFIX)) continue;
            String rest = name.substring(CONSUMER_PREFIX.length());
            int dot = rest.lastIndexOf('.');
            String consumer = dot > 0 ? rest.substring(0, dot) : "";
            String setting = dot > 0 ? rest.substring(dot + 1) : rest;
            if (!CONSUMER_SETTINGS.contains(setting)) {
                throw new IllegalArgumentException("--" + name + ": unknown parameter: use --" + CONSUMER_PREFIX
                        + "<name>.<setting>, the setting one of " + String.join(", ", CONSUMER_SETTINGS));
            }
            if (!p.deliveryConsumers.contains(consumer)) {
                throw new IllegalArgumentException("--" + name + ": '" + consumer
                        + "' is not a consumer of --delivery.consumers " + p.deliveryConsumers);
            }
            given.computeIfAbsent(consumer, k -> new LinkedHashMap<>())
                    .put(setting, e.getValue().trim());
        }
        for (String c : p.deliveryConsumers) {
            ConsumerSettings cs = new ConsumerSettings();
            cs.ackTimeout = p.deliveryAckTimeout;
            cs.maxAttempts = p.redispatchMaxAttempts;
            cs.backoff = p.redispatchBackoff;
            cs.maxBackoff = p.redispatchMaxBackoff;
            cs.rate = p.redispatchRate;
            cs.backlogThreshold = p.backlogThreshold;
            Map<String, String> own = given.getOrDefault(c, Map.of());
            // In this order: max-backoff is checked against the consumer's backoff.
            for (String setting : CONSUMER_SETTINGS) {
                String v = own.get(setting);
                if (v == null) continue;
                try {
                    switch (setting) {
                        case "ack-timeout" -> cs.ackTimeout = atLeastAMillisecond(v);
                        case "max-attempts" ->
                            cs.maxAttempts = atMost(atLeast(Integer.parseInt(v), 1), MAX_REDISPATCH_ATTEMPTS);
                        case "backoff" -> cs.backoff = noneOrAtLeastAMillisecond(v);
                        case "max-backoff" -> {
                            Duration d = noneOrAtLeastAMillisecond(v);
                            if (d.compareTo(cs.backoff) < 0) {
                                throw new IllegalArgumentException(
                                        "must be at least the consumer's backoff (" + cs.backoff + ")");
                            }
                            cs.maxBackoff = d;
                        }
                        case "rate" -> cs.rate = atMost(atLeast(Integer.parseInt(v), 1), MAX_REDISPATCH_RATE);
                        case "backlog-threshold" -> cs.backlogThreshold = atLeast(Long.parseLong(v), 1L);
                        default -> throw new IllegalStateException(setting);
                    }
                } catch (RuntimeException e) {
                    throw invalid(CONSUMER_PREFIX + c + "." + setting, v, false, e);
                }
            }
            // The cap is at least the backoff, as for the job-wide values.
            if (!own.containsKey("max-backoff") && cs.maxBackoff.compareTo(cs.backoff) < 0) cs.maxBackoff = cs.backoff;
            p.consumerSettings.put(c, cs);
        }
    }

    private JobParameters() {}

    /** Parses {@code --name value} arguments; environment variables fill the credentials. */
    public static JobParameters fromArgs(String[] args) {
        return parse(args, System.getenv());
    }

    static JobParameters parse(String[] args, Map<String, String> env) {
        Map<String, String> raw = toMap(args);
        JobParameters p = new JobParameters();
        for (Map.Entry<String, String> e : raw.entrySet()) {
            String name = e.getKey();
            if (name.startsWith(CONSUMER_PREFIX)) continue; // read once the consumers are known
            if (!KNOWN.contains(name) && !name.startsWith("kafka.")) {
                throw new IllegalArgumentException("--" + name + ": unknown parameter (see the README for the list)");
            }
            if (name.startsWith("kafka.") && !KNOWN.contains(name)) {
                String property = name.substring("kafka.".length());
                if (property.isEmpty())
                    throw new IllegalArgumentException("--kafka.: a Kafka client property name is missing");
                p.kafkaProperties.setProperty(property, e.getValue());
            }
        }
        // Client properties the job depends on: refused here, by name, rather than by the producer
        // when a sink starts (a failure there restarts the job, and fails again, forever).
        p.transactionTimeoutMs =
                get(raw, "kafka.transaction.timeout.ms", p.transactionTimeoutMs, v -> atLeast(Integer.parseInt(v), 1));
        p.maxRequestSize = get(raw, "kafka.max.request.size", p.maxRequestSize, v -> {
            int n = Integer.parseInt(v);
            if (n < DeadLetter.MAX_RECORD_BYTES) {
                throw new IllegalArgumentException("must be at least " + DeadLetter.MAX_RECORD_BYTES
                        + " bytes: a dead letter (64 KiB of value, 1 KiB of key, headers) must fit");
            }
            return n;
        });
        for (Param d : DECLARED.values()) {
            String v = raw.get(d.name());
            if (v == null) continue;
            try {
                d.read().read(p, d.secret() ? v : v.trim());
            } catch (RuntimeException e) {
                throw invalid(d.name(), v, d.secret(), e);
            }
        }
        if (p.bootstrapServers == null) throw missing("kafka.bootstrap-servers");
        if (p.snapshotUrls == null) throw missing("snapshot.url");
        if (!raw.containsKey("snapshot.user")) p.snapshotUser = env.get(ENV_USER);
        if (!raw.containsKey("snapshot.password")) p.snapshotPassword = env.get(ENV_PASSWORD);
        // Defaults that follow another parameter.
        if (!raw.containsKey("snapshot.max-in-flight"))
            p.snapshotMaxInFlight = Math.min(1000, Math.max(1, p.snapshotCapacity / 2));
        if (!raw.containsKey("redispatch.max-backoff") && p.redispatchMaxBackoff.compareTo(p.redispatchBackoff) < 0) {
            p.redispatchMaxBackoff = p.redispatchBackoff;
        }
        readConsumerSettings(p, raw);
        if (p.stateMaxDocumentBytes > p.maxRequestSize - STATE_RECORD_OVERHEAD) {
            // A published version the producer refuses fails the sink on every restart. Named: the
            // one of the two the user set (the document limit when both or neither).
            String named = raw.containsKey("kafka.max.request.size") && !raw.containsKey("state.max-document-bytes")
                    ? "--kafka.max.request.size"
                    : "--state.max-document-bytes";
            throw new IllegalArgumentException(
                    named + ": a document of --state.max-document-bytes (" + p.stateMaxDocumentBytes
                            + ") does not fit --kafka.max.request.size (" + p.maxRequestSize + " bytes, "
                            + STATE_RECORD_OVERHEAD
                            + " of them for the rest of the record): raise --kafka.max.request.size (and the topics'"
                            + " max.message.bytes) with the document limit");
        }
        return p;
    }

    /** The arguments that rebuild these parameters (for tests and the local run); includes secrets. */
    private static Map<String, String> toMap(String[] args) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--") || a.length() == 2) {
                throw new IllegalArgumentException("'" + a + "': expected --name value");
            }
            String name = a.substring(2);
            int eq = name.indexOf('=');
            String value;
            if (eq > 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else {
                if (i + 1 >= args.length || args[i + 1].startsWith("--")) {
                    throw new IllegalArgumentException("--" + name + ": a value is missing");
                }
                value = args[++i];
            }
            if (map.put(name, value) != null) throw new IllegalArgumentException("--" + name + ": given twice");
        }
        return map;
    }

    private static IllegalArgumentException missing(String name) {
        return new IllegalArgumentException("--" + name + ": required");
    }

    private static <T> T get(Map<String, String> raw, String name, T dflt, Function<String, T> parse) {
        String v = raw.get(name);
        if (v == null) return dflt;
        try {
            return parse.apply(v.trim());
        } catch (RuntimeException e) {
            throw invalid(name, v, false, e);
        }
    }

    /** {@code --name: 'value' is invalid: why}; the value is hidden if secret or if it may hold credentials. */
    private static IllegalArgumentException invalid(String name, String v, boolean secret, RuntimeException e) {
        String why = e instanceof NumberFormatException ? "not a whole number" : e.getMessage();
        String shown = secret || v.contains("@") || v.toLowerCase(Locale.ROOT).contains("password")
                ? "(value hidden)"
                : "'" + v + "'";
        return new IllegalArgumentException("--" + name + ": " + shown + " is invalid: " + why, e);
    }

    /** A text parameter given: not empty. */
    private static String nonEmpty(String v) {
        if (v.isBlank()) throw new IllegalArgumentException("must not be empty");
        return v;
    }

    private static int positive(String v) {
        return atLeast(Integer.parseInt(v), 1);
    }

    /**
     * A period, window, timeout or TTL: it divides or schedules, in whole milliseconds, so below
     * one it would be zero (a division by zero, a timer loop, a state that expires at once).
     */
    private static Duration atLeastAMillisecond(String v) {
        Duration d = parseDuration(v);
        if (d.toMillis() < 1) throw new IllegalArgumentException("must be at least 1 ms");
        return d;
    }

    /** A delay or bound where 0 means none; anything else is at least 1 ms (the job counts whole milliseconds). */
    private static Duration noneOrAtLeastAMillisecond(String v) {
        Duration d = parseDuration(v);
        if (d.isNegative()) throw new IllegalArgumentException("must not be negative");
        if (!d.isZero() && d.toMillis() < 1) throw new IllegalArgumentException("must be 0 or at least 1 ms");
        return d;
    }

    private static Duration parseDuration(String v) {
        try {
            return TimeUtils.parseDuration(v);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("not a duration (examples: 500 ms, 2 s, 5 min, 30 d)");
        }
    }

    private static <N extends Comparable<N>> N atLeast(N value, N min) {
        if (value.compareTo(min) < 0) throw new IllegalArgumentException("must be at least " + min);
        return value;
    }

    private static <N extends Comparable<N>> N atMost(N value, N max) {
        if (value.compareTo(max) > 0) throw new IllegalArgumentException("must be at most " + max);
        return value;
    }

    private static List<String> list(String v) {
        List<String> out = new ArrayList<>();
        for (String s : v.split(",")) {
            if (s.isBlank()) throw new IllegalArgumentException("an entry of the comma-separated list is empty");
            out.add(s.trim());
        }
        return List.copyOf(out);
    }

    /** Non-empty names of at most 128 characters, no duplicates, at most {@link #MAX_CONSUMERS}. */
    private static List<String> consumers(String v) {
        List<String> out = list(v);
        if (out.size() > MAX_CONSUMERS) throw new IllegalArgumentException("at most " + MAX_CONSUMERS + " consumers");
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (String c : out) {
            if (c.length() > 128) throw new IllegalArgumentException("consumer name longer than 128 characters");
            if (!c.matches("[A-Za-z0-9_-]+")) {
                throw new IllegalArgumentException("'" + c + "': a consumer's name is made of A-Z a-z 0-9 _ -");
            }
            if (!seen.add(c)) throw new IllegalArgumentException("'" + c + "' is listed twice");
        }
        return out;
    }

    private static List<String> urls(String v) {
        List<String> out = list(v);
        for (String u : out) {
            if (!u.startsWith("postgresql://") && !u.startsWith("postgres://")) {
                throw new IllegalArgumentException("'" + u + "' is not a postgresql://host:port/db URL");
            }
            String lower = u.toLowerCase(Locale.ROOT);
            if (u.contains("@") || lower.contains("password=") || lower.contains("user=")) {
                throw new IllegalArgumentException("put credentials in --snapshot.user/--snapshot.password or the "
                        + ENV_USER + "/" + ENV_PASSWORD + " environment, not in the URL");
            }
        }
        return out;
    }

    /** The Kafka client properties, for sources and sinks. */
    public Properties kafka() {
        Properties p = new Properties();
        p.putAll(kafkaProperties);
        return p;
    }

    /** Every declared parameter's value (secrets as {@code ***}), then the Kafka client properties (secret ones hidden). */
    @Override
    public String toString() {
        StringBuilder out = new StringBuilder("JobParameters{");
        for (Param d : DECLARED.values())
            out.append(d.name()).append('=').append(d.shown().apply(this)).append(", ");
        Properties safeKafka = new Properties();
        kafkaProperties.forEach((k, v) -> safeKafka.put(k, isSecret(k.toString()) ? "***" : v));
        consumerSettings.forEach((c, cs) -> out.append("delivery.consumer.")
                .append(c)
                .append('=')
                .append(cs)
                .append(", "));
        return out.append("kafka=")
                .append(safeKafka)
                .append(", transactionTimeoutMs=")
                .append(transactionTimeoutMs)
                .append(", maxRequestSize=")
                .append(maxRequestSize)
                .append('}')
                .toString();
    }

    static boolean isSecret(String property) {
        return SecretNames.isSecret(property);
    }
}
