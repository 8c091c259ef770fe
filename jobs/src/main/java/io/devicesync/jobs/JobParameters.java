package io.devicesync.jobs;

import io.devicesync.model.DeadLetter;
import io.devicesync.operators.PostgresSourceOfTruth;
import io.devicesync.sinks.KafkaSinks;
import io.devicesync.sources.EventSource.StartingOffsets;
import java.io.Serializable;
import org.apache.flink.connector.base.DeliveryGuarantee;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.function.Function;
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

    /** The parameters this job knows, besides {@code kafka.<client property>}. */
    static final Set<String> KNOWN = Set.of(
            "kafka.bootstrap-servers", "kafka.group-id", "kafka.starting-offsets",
            "topic.events", "topic.acks", "topic.state", "topic.alerts", "topic.dlq", "topic.redispatch", "topic.redispatch-dlq",
            "topic.audit",
            "snapshot.url", "snapshot.user", "snapshot.password", "snapshot.pool-size", "snapshot.capacity",
            "snapshot.timeout", "snapshot.retries", "snapshot.retry-backoff", "snapshot.max-in-flight",
            "snapshot.breaker-failures", "snapshot.breaker-open", "snapshot.batch-size", "snapshot.batch-linger",
            "reorder.grace", "resync.max-log-fetch", "resync.max-held", "audit.interval", "state.idle-ttl",
            "state.max-document-bytes",
            "delivery.consumers", "delivery.ack-timeout", "redispatch.max-attempts", "redispatch.backoff",
            "redispatch.max-backoff", "redispatch.rate", "backlog.threshold",
            "watermark.out-of-orderness", "watermark.idle-timeout", "watermark.max-future-skew",
            "checkpoint.interval", "sink.delivery-guarantee", "alerts.invalid-input-window", "alerts.max-per-minute",
            "alerts.window", "bootstrap.from-database", "bootstrap.chunk-size", "bootstrap.rows-per-second");

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
            if (!KNOWN.contains(name) && !name.startsWith("kafka.")) {
                throw new IllegalArgumentException("--" + name + ": unknown parameter (see the README for the list)");
            }
            if (name.startsWith("kafka.") && !KNOWN.contains(name)) {
                String property = name.substring("kafka.".length());
                if (property.isEmpty()) throw new IllegalArgumentException("--kafka.: a Kafka client property name is missing");
                p.kafkaProperties.setProperty(property, e.getValue());
            }
        }
        p.bootstrapServers = required(raw, "kafka.bootstrap-servers");
        // Client properties the job depends on: refused here, by name, rather than by the producer
        // when a sink starts (a failure there restarts the job, and fails again, forever).
        p.transactionTimeoutMs = get(raw, "kafka.transaction.timeout.ms", p.transactionTimeoutMs,
                v -> atLeast(Integer.parseInt(v), 1));
        p.maxRequestSize = get(raw, "kafka.max.request.size", p.maxRequestSize, v -> {
            int n = Integer.parseInt(v);
            if (n < DeadLetter.MAX_RECORD_BYTES) {
                throw new IllegalArgumentException("must be at least " + DeadLetter.MAX_RECORD_BYTES
                        + " bytes: a dead letter (64 KiB of value, 1 KiB of key, headers) must fit");
            }
            return n;
        });
        p.groupId = text(raw, "kafka.group-id", p.groupId);
        p.startingOffsets = get(raw, "kafka.starting-offsets", p.startingOffsets, v -> {
            switch (v) {
                case "earliest": return StartingOffsets.EARLIEST;
                case "latest": return StartingOffsets.LATEST;
                case "committed-or-earliest": return StartingOffsets.COMMITTED_OR_EARLIEST;
                default: throw new IllegalArgumentException("use earliest, latest or committed-or-earliest");
            }
        });
        p.topicEvents = text(raw, "topic.events", p.topicEvents);
        p.topicAcks = text(raw, "topic.acks", p.topicAcks);
        p.topicState = text(raw, "topic.state", p.topicState);
        p.topicAlerts = text(raw, "topic.alerts", p.topicAlerts);
        p.topicDlq = text(raw, "topic.dlq", p.topicDlq);
        p.topicRedispatch = text(raw, "topic.redispatch", p.topicRedispatch);
        p.topicRedispatchDlq = text(raw, "topic.redispatch-dlq", p.topicRedispatchDlq);
        p.topicAudit = text(raw, "topic.audit", p.topicAudit);

        p.snapshotUrls = get(raw, "snapshot.url", null, JobParameters::urls);
        if (p.snapshotUrls == null) throw missing("snapshot.url");
        p.snapshotUser = raw.containsKey("snapshot.user") ? text(raw, "snapshot.user", null) : env.get(ENV_USER);
        p.snapshotPassword = raw.containsKey("snapshot.password") ? raw.get("snapshot.password") : env.get(ENV_PASSWORD);
        p.snapshotPoolSize = positiveInt(raw, "snapshot.pool-size", p.snapshotPoolSize);
        p.snapshotCapacity = positiveInt(raw, "snapshot.capacity", p.snapshotCapacity);
        p.snapshotTimeout = atLeastAMillisecond(raw, "snapshot.timeout", p.snapshotTimeout);
        p.snapshotRetries = get(raw, "snapshot.retries", p.snapshotRetries, v -> atLeast(Integer.parseInt(v), 0));
        p.snapshotRetryBackoff = atLeastAMillisecond(raw, "snapshot.retry-backoff", p.snapshotRetryBackoff);
        int capacity = p.snapshotCapacity;
        p.snapshotMaxInFlight = get(raw, "snapshot.max-in-flight", Math.min(1000, Math.max(1, capacity / 2)),
                v -> {
                    int n = atLeast(Integer.parseInt(v), 1);
                    if (n > capacity) throw new IllegalArgumentException("must be at most --snapshot.capacity (" + capacity + ")");
                    return n;
                });
        p.snapshotBreakerFailures = positiveInt(raw, "snapshot.breaker-failures", p.snapshotBreakerFailures);
        p.snapshotBreakerOpen = atLeastAMillisecond(raw, "snapshot.breaker-open", p.snapshotBreakerOpen);
        p.snapshotBatchSize = get(raw, "snapshot.batch-size", p.snapshotBatchSize,
                v -> atMost(atLeast(Integer.parseInt(v), 1), MAX_SNAPSHOT_BATCH_SIZE));
        p.snapshotBatchLinger = get(raw, "snapshot.batch-linger", p.snapshotBatchLinger, v -> {
            Duration d = noneOrAtLeastAMillisecond(v);
            if (d.compareTo(MAX_SNAPSHOT_BATCH_LINGER) > 0) {
                throw new IllegalArgumentException("must be at most " + MAX_SNAPSHOT_BATCH_LINGER.toMillis() + " ms");
            }
            if (d.toNanos() % 1_000_000 != 0) throw new IllegalArgumentException("must be whole milliseconds");
            return d;
        });

        p.reorderGrace = get(raw, "reorder.grace", p.reorderGrace, JobParameters::noneOrAtLeastAMillisecond);
        p.resyncMaxLogFetch = get(raw, "resync.max-log-fetch", p.resyncMaxLogFetch, v -> atLeast(Long.parseLong(v), 0L));
        p.resyncMaxHeld = positiveInt(raw, "resync.max-held", p.resyncMaxHeld);
        p.auditInterval = atLeastAMillisecond(raw, "audit.interval", p.auditInterval);
        p.stateIdleTtl = atLeastAMillisecond(raw, "state.idle-ttl", p.stateIdleTtl);
        p.stateMaxDocumentBytes = get(raw, "state.max-document-bytes", p.stateMaxDocumentBytes,
                v -> atMost(atLeast(Integer.parseInt(v), 1024), 64 * 1024 * 1024));
        if (p.stateMaxDocumentBytes > p.maxRequestSize - STATE_RECORD_OVERHEAD) {
            // A published version the producer refuses fails the sink on every restart. Named: the
            // one of the two the user set (the document limit when both or neither).
            String named = raw.containsKey("kafka.max.request.size") && !raw.containsKey("state.max-document-bytes")
                    ? "--kafka.max.request.size" : "--state.max-document-bytes";
            throw new IllegalArgumentException(named + ": a document of --state.max-document-bytes (" + p.stateMaxDocumentBytes
                    + ") does not fit --kafka.max.request.size (" + p.maxRequestSize + " bytes, " + STATE_RECORD_OVERHEAD
                    + " of them for the rest of the record): raise --kafka.max.request.size (and the topics'"
                    + " max.message.bytes) with the document limit");
        }

        p.deliveryConsumers = get(raw, "delivery.consumers", p.deliveryConsumers, JobParameters::consumers);
        p.deliveryAckTimeout = atLeastAMillisecond(raw, "delivery.ack-timeout", p.deliveryAckTimeout);
        p.redispatchMaxAttempts = get(raw, "redispatch.max-attempts", p.redispatchMaxAttempts,
                v -> atMost(atLeast(Integer.parseInt(v), 1), MAX_REDISPATCH_ATTEMPTS));
        p.redispatchBackoff = get(raw, "redispatch.backoff", p.redispatchBackoff, JobParameters::noneOrAtLeastAMillisecond);
        Duration backoff = p.redispatchBackoff;
        p.redispatchMaxBackoff = get(raw, "redispatch.max-backoff", p.redispatchMaxBackoff.compareTo(backoff) < 0 ? backoff
                : p.redispatchMaxBackoff, v -> {
                    Duration d = noneOrAtLeastAMillisecond(v);
                    if (d.compareTo(backoff) < 0) {
                        throw new IllegalArgumentException("must be at least --redispatch.backoff (" + backoff + ")");
                    }
                    return d;
                });
        p.redispatchRate = get(raw, "redispatch.rate", p.redispatchRate,
                v -> atMost(atLeast(Integer.parseInt(v), 1), MAX_REDISPATCH_RATE));
        p.backlogThreshold = get(raw, "backlog.threshold", p.backlogThreshold, v -> atLeast(Long.parseLong(v), 1L));

        p.watermarkOutOfOrderness = get(raw, "watermark.out-of-orderness", p.watermarkOutOfOrderness,
                JobParameters::noneOrAtLeastAMillisecond);
        p.watermarkIdleTimeout = atLeastAMillisecond(raw, "watermark.idle-timeout", p.watermarkIdleTimeout);
        p.watermarkMaxFutureSkew = get(raw, "watermark.max-future-skew", p.watermarkMaxFutureSkew,
                JobParameters::noneOrAtLeastAMillisecond);
        p.checkpointInterval = get(raw, "checkpoint.interval", p.checkpointInterval, v -> {
            Duration d = parseDuration(v);
            if (d.compareTo(MIN_CHECKPOINT_INTERVAL) < 0) throw new IllegalArgumentException("must be at least 10 ms (Flink's minimum)");
            return d;
        });
        p.sinkDeliveryGuarantee = get(raw, "sink.delivery-guarantee", p.sinkDeliveryGuarantee, v -> {
            switch (v) {
                case "exactly-once": return DeliveryGuarantee.EXACTLY_ONCE;
                case "at-least-once": return DeliveryGuarantee.AT_LEAST_ONCE;
                default: throw new IllegalArgumentException("use exactly-once or at-least-once");
            }
        });
        p.invalidInputWindow = atLeastAMillisecond(raw, "alerts.invalid-input-window", p.invalidInputWindow);
        p.alertsMaxPerMinute = get(raw, "alerts.max-per-minute", p.alertsMaxPerMinute, v -> atLeast(Integer.parseInt(v), 0));
        p.alertsWindow = atLeastAMillisecond(raw, "alerts.window", p.alertsWindow);
        p.bootstrapFromDatabase = get(raw, "bootstrap.from-database", p.bootstrapFromDatabase, v -> {
            switch (v) {
                case "true": return true;
                case "false": return false;
                default: throw new IllegalArgumentException("use true or false");
            }
        });
        p.bootstrapChunkSize = get(raw, "bootstrap.chunk-size", p.bootstrapChunkSize,
                v -> atMost(atLeast(Integer.parseInt(v), 1), MAX_BOOTSTRAP_CHUNK_SIZE));
        p.bootstrapRowsPerSecond = get(raw, "bootstrap.rows-per-second", p.bootstrapRowsPerSecond,
                v -> atLeast(Long.parseLong(v), 0L));
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

    private static String required(Map<String, String> raw, String name) {
        String v = raw.get(name);
        if (v == null || v.isBlank()) throw missing(name);
        return v.trim();
    }

    private static String text(Map<String, String> raw, String name, String dflt) {
        String v = raw.get(name);
        if (v == null) return dflt;
        if (v.isBlank()) throw new IllegalArgumentException("--" + name + ": must not be empty");
        return v.trim();
    }

    private static <T> T get(Map<String, String> raw, String name, T dflt, Function<String, T> parse) {
        String v = raw.get(name);
        if (v == null) return dflt;
        try {
            return parse.apply(v.trim());
        } catch (RuntimeException e) {
            String why = e instanceof NumberFormatException ? "not a whole number" : e.getMessage();
            String shown = v.contains("@") || v.toLowerCase(Locale.ROOT).contains("password") ? "(value hidden)" : "'" + v + "'";
            throw new IllegalArgumentException("--" + name + ": " + shown + " is invalid: " + why, e);
        }
    }

    private static int positiveInt(Map<String, String> raw, String name, int dflt) {
        return get(raw, name, dflt, v -> atLeast(Integer.parseInt(v), 1));
    }

    /**
     * A period, window, timeout or TTL: it divides or schedules, in whole milliseconds, so below
     * one it would be zero (a division by zero, a timer loop, a state that expires at once).
     */
    private static Duration atLeastAMillisecond(Map<String, String> raw, String name, Duration dflt) {
        return get(raw, name, dflt, v -> {
            Duration d = parseDuration(v);
            if (d.toMillis() < 1) throw new IllegalArgumentException("must be at least 1 ms");
            return d;
        });
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

    @Override
    public String toString() {
        Properties safeKafka = new Properties();
        kafkaProperties.forEach((k, v) -> safeKafka.put(k, isSecret(k.toString()) ? "***" : v));
        return "JobParameters{bootstrapServers=" + bootstrapServers + ", groupId=" + groupId + ", startingOffsets="
                + startingOffsets + ", kafka=" + safeKafka + ", topics=" + Arrays.asList(topicEvents, topicAcks, topicState,
                topicAlerts, topicDlq, topicRedispatch, topicRedispatchDlq, topicAudit) + ", snapshotUrls=" + snapshotUrls + ", snapshotUser="
                + snapshotUser + ", snapshotPassword=" + (snapshotPassword == null ? "none" : "***") + ", reorderGrace="
                + reorderGrace + ", resyncMaxLogFetch=" + resyncMaxLogFetch + ", resyncMaxHeld=" + resyncMaxHeld
                + ", auditInterval=" + auditInterval + ", stateIdleTtl=" + stateIdleTtl + ", stateMaxDocumentBytes="
                + stateMaxDocumentBytes + ", snapshotCapacity=" + snapshotCapacity + ", snapshotMaxInFlight="
                + snapshotMaxInFlight + ", snapshotBreakerFailures=" + snapshotBreakerFailures + ", snapshotBreakerOpen="
                + snapshotBreakerOpen + ", snapshotBatchSize=" + snapshotBatchSize + ", snapshotBatchLinger="
                + snapshotBatchLinger + ", deliveryConsumers=" + deliveryConsumers + ", deliveryAckTimeout="
                + deliveryAckTimeout + ", redispatchMaxAttempts=" + redispatchMaxAttempts + ", redispatchBackoff="
                + redispatchBackoff + ", redispatchMaxBackoff=" + redispatchMaxBackoff + ", redispatchRate=" + redispatchRate
                + ", backlogThreshold=" + backlogThreshold + ", alertsMaxPerMinute=" + alertsMaxPerMinute + ", alertsWindow="
                + alertsWindow + ", sinkDeliveryGuarantee=" + sinkDeliveryGuarantee
                + ", transactionTimeoutMs=" + transactionTimeoutMs + ", maxRequestSize=" + maxRequestSize
                + ", bootstrapFromDatabase=" + bootstrapFromDatabase + ", bootstrapChunkSize=" + bootstrapChunkSize
                + ", bootstrapRowsPerSecond=" + bootstrapRowsPerSecond + "}";
    }

    static boolean isSecret(String property) {
        return SecretNames.isSecret(property);
    }
}
