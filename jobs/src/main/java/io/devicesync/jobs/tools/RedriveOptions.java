package io.devicesync.jobs.tools;

import io.devicesync.jobs.SecretNames;
import io.devicesync.model.RejectReason;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The arguments of {@link Redrive}: which dead letters, where to, how fast. Plain Java (no Flink, no
 * Kafka): the shaded jar has no Flink core, and the parsing is unit-tested on its own. A wrong
 * argument is an {@link IllegalArgumentException} whose message starts with the argument's name.
 */
public final class RedriveOptions {
    public static final String DEFAULT_DLQ = "device-events-dlq";
    public static final double DEFAULT_RATE = 100;
    public static final double MAX_RATE = 1_000_000;

    public String bootstrapServers;
    /** {@code --kafka.<property>} without the prefix, for the consumers and the producer. */
    public final Properties kafka = new Properties();

    public String dlqTopic = DEFAULT_DLQ;
    /** Empty: every reason. */
    public final Set<String> reasons = new TreeSet<>();
    /** The dead letters' {@code devicesync.topic}; empty: every topic. */
    public final Set<String> sourceTopics = new TreeSet<>();
    /** The record keys (deviceIds); empty: every key, null keys included. */
    public final Set<String> devices = new TreeSet<>();
    /** Record timestamps (ms): from inclusive, to exclusive; null: unbounded. */
    public Long fromMs;

    public Long toMs;
    /** Where every selected record goes instead of its {@code devicesync.topic}; null: there. */
    public String toTopic;
    /** Records published per second at most. */
    public double rate = DEFAULT_RATE;

    public boolean dryRun;
    public boolean fetchOriginals;
    public boolean includeRedriven;
    public boolean help;
    public long progressIntervalMs = 5000;

    /** The flags: no value, or {@code true}/{@code false}. */
    private static final Set<String> FLAGS = Set.of("dry-run", "fetch-originals", "include-redriven", "help");

    private static final Set<String> OPTIONS = Set.of(
            "topic.dlq",
            "reason",
            "source-topic",
            "device",
            "from",
            "to",
            "to-topic",
            "rate",
            "progress-interval",
            "kafka.bootstrap-servers");
    /** The job's own Kafka parameters that mean nothing here: accepted so that its arguments can be reused. */
    private static final Set<String> JOB_ONLY = Set.of("kafka.group-id", "kafka.starting-offsets");
    /** Client properties the tool sets itself and refuses to have changed, with why. */
    private static final Map<String, String> FIXED = Map.of(
            "enable.idempotence", "true",
            "acks", "all",
            "isolation.level", "read_committed",
            "enable.auto.commit", "false");

    private static final Set<String> REFUSED =
            Set.of("transactional.id", "key.serializer", "value.serializer", "key.deserializer", "value.deserializer");

    /** Every reason the job writes ({@link RejectReason}'s codes). */
    public static Set<String> knownReasons() {
        Set<String> out = new TreeSet<>();
        for (Field f : RejectReason.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
                try {
                    out.add((String) f.get(null));
                } catch (IllegalAccessException e) {
                    throw new IllegalStateException(e);
                }
            }
        }
        return out;
    }

    public static RedriveOptions parse(String... args) {
        RedriveOptions o = new RedriveOptions();
        Set<String> seen = new LinkedHashSet<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("-h")) arg = "--help";
            if (!arg.startsWith("--") || arg.length() == 2) {
                throw new IllegalArgumentException(arg + ": not an option (options start with --; see --help)");
            }
            String name = arg.substring(2);
            String value = null;
            int eq = name.indexOf('=');
            if (eq > 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            String shown = "--" + name;
            if (FLAGS.contains(name)) {
                if (value == null
                        && i + 1 < args.length
                        && (args[i + 1].equals("true") || args[i + 1].equals("false"))) {
                    value = args[++i];
                }
                boolean on = value == null || parseBoolean(shown, value);
                switch (name) {
                    case "dry-run" -> o.dryRun = on;
                    case "fetch-originals" -> o.fetchOriginals = on;
                    case "include-redriven" -> o.includeRedriven = on;
                    default -> o.help = on;
                }
                continue;
            }
            boolean kafkaProperty = name.startsWith("kafka.") && !OPTIONS.contains(name) && !JOB_ONLY.contains(name);
            if (!OPTIONS.contains(name) && !JOB_ONLY.contains(name) && !kafkaProperty) {
                throw new IllegalArgumentException(shown + ": unknown option (see --help)");
            }
            if (value == null) {
                if (i + 1 >= args.length || args[i + 1].startsWith("--")) {
                    throw new IllegalArgumentException(shown + ": a value is missing");
                }
                value = args[++i];
            }
            boolean repeatable = name.equals("reason") || name.equals("device") || name.equals("source-topic");
            if (!seen.add(name) && !repeatable) throw new IllegalArgumentException(shown + ": given twice");
            if (kafkaProperty) {
                o.kafkaProperty(shown, name.substring("kafka.".length()), value);
                continue;
            }
            switch (name) {
                case "kafka.bootstrap-servers" -> o.bootstrapServers = nonBlank(shown, value);
                case "topic.dlq" -> o.dlqTopic = topic(shown, value);
                case "reason" -> {
                    Set<String> known = knownReasons();
                    for (String r : list(shown, value)) {
                        if (!known.contains(r)) {
                            throw new IllegalArgumentException(
                                    shown + ": unknown reason '" + r + "' (known: " + String.join(", ", known) + ")");
                        }
                        o.reasons.add(r);
                    }
                }
                case "source-topic" -> list(shown, value).forEach(t -> o.sourceTopics.add(topic(shown, t)));
                case "device" -> o.devices.addAll(list(shown, value));
                case "from" -> o.fromMs = time(shown, value);
                case "to" -> o.toMs = time(shown, value);
                case "to-topic" -> o.toTopic = topic(shown, value);
                case "rate" -> o.rate = rate(shown, value);
                case "progress-interval" -> o.progressIntervalMs = duration(shown, value);
                default -> {} // the job's own: nothing to do here
            }
        }
        if (o.help) return o;
        if (o.bootstrapServers == null) {
            if (o.kafka.containsKey("bootstrap.servers")) {
                o.bootstrapServers = o.kafka.getProperty("bootstrap.servers");
                o.kafka.remove("bootstrap.servers");
            } else {
                throw new IllegalArgumentException("--kafka.bootstrap-servers: required (the brokers, host:port,...)");
            }
        } else if (o.kafka.containsKey("bootstrap.servers")) {
            throw new IllegalArgumentException(
                    "--kafka.bootstrap.servers: given besides --kafka.bootstrap-servers; give one");
        }
        if (o.fromMs != null && o.toMs != null && o.toMs <= o.fromMs) {
            throw new IllegalArgumentException("--to: must be after --from (" + Instant.ofEpochMilli(o.fromMs)
                    + "), is " + Instant.ofEpochMilli(o.toMs));
        }
        if (o.toTopic != null && o.toTopic.equals(o.dlqTopic)) {
            throw new IllegalArgumentException("--to-topic: is the dead-letter topic itself (" + o.dlqTopic + ")");
        }
        if (o.sourceTopics.contains(o.dlqTopic)) {
            throw new IllegalArgumentException("--source-topic: is the dead-letter topic itself (" + o.dlqTopic + ")");
        }
        return o;
    }

    private void kafkaProperty(String shown, String property, String value) {
        if (property.isEmpty()) throw new IllegalArgumentException(shown + ": a Kafka client property name is missing");
        if (REFUSED.contains(property)) {
            throw new IllegalArgumentException(
                    shown + ": set by the re-drive itself (a plain idempotent producer, byte "
                            + "serializers), not to be changed");
        }
        String fixed = FIXED.get(property);
        if (fixed != null
                && !fixed.equals(value.trim().toLowerCase(Locale.ROOT))
                && !(property.equals("acks") && value.trim().equals("-1"))) {
            throw new IllegalArgumentException(shown + ": the re-drive needs " + property + "=" + fixed + " (is '"
                    + (SecretNames.isSecret(property) ? "***" : value) + "')");
        }
        kafka.setProperty(property, value);
    }

    private static boolean parseBoolean(String shown, String v) {
        if (v.equals("true")) return true;
        if (v.equals("false")) return false;
        throw new IllegalArgumentException(shown + ": true or false, not '" + v + "'");
    }

    private static String nonBlank(String shown, String v) {
        if (v.isBlank()) throw new IllegalArgumentException(shown + ": empty");
        return v.trim();
    }

    private static final Pattern TOPIC = Pattern.compile("[a-zA-Z0-9._-]{1,249}");

    private static String topic(String shown, String v) {
        String t = v.trim();
        if (!TOPIC.matcher(t).matches()) {
            throw new IllegalArgumentException(
                    shown + ": not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -): '" + v + "'");
        }
        return t;
    }

    private static List<String> list(String shown, String v) {
        List<String> out = new ArrayList<>();
        for (String s : v.split(",")) {
            if (!s.isBlank()) out.add(s.trim());
        }
        if (out.isEmpty()) throw new IllegalArgumentException(shown + ": empty");
        return out;
    }

    /**
     * ISO-8601 ({@code 2026-01-05T10:00:00Z}, {@code 2026-01-05T11:00:00+01:00}, or a date
     * {@code 2026-01-05}, midnight UTC) or milliseconds since the Unix epoch.
     */
    static long time(String shown, String v) {
        String t = v.trim();
        if (t.matches("-?\\d{1,19}")) {
            try {
                return Long.parseLong(t);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(shown + ": out of range: '" + v + "'");
            }
        }
        try {
            return Instant.parse(t).toEpochMilli();
        } catch (DateTimeException ignored) {
            // not an instant in UTC
        }
        try {
            return OffsetDateTime.parse(t).toInstant().toEpochMilli();
        } catch (DateTimeException ignored) {
            // not with an offset
        }
        try {
            return LocalDate.parse(t).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
        } catch (DateTimeException ignored) {
            // not a date
        }
        throw new IllegalArgumentException(shown + ": not an ISO-8601 time with its zone (2026-01-05T10:00:00Z, "
                + "2026-01-05T11:00:00+01:00), a date (2026-01-05, UTC) or epoch milliseconds: '" + v + "'");
    }

    private static double rate(String shown, String v) {
        double r;
        try {
            r = Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(shown + ": not a number of records per second: '" + v + "'");
        }
        if (!(r > 0) || r > MAX_RATE) {
            throw new IllegalArgumentException(
                    shown + ": records per second, above 0 and at most " + (long) MAX_RATE + ": '" + v + "'");
        }
        return r;
    }

    private static final Pattern DURATION = Pattern.compile("(\\d{1,9})\\s*(ms|s|min)?");

    /** {@code 500 ms}, {@code 5 s}, {@code 1 min}; a bare number is milliseconds (as the job's durations). */
    static long duration(String shown, String v) {
        Matcher m = DURATION.matcher(v.trim());
        if (!m.matches())
            throw new IllegalArgumentException(shown + ": not a duration (500 ms, 5 s, 1 min): '" + v + "'");
        long n = Long.parseLong(m.group(1));
        String unit = m.group(2) == null ? "ms" : m.group(2);
        long ms = switch (unit) {
            case "s" -> n * 1000;
            case "min" -> n * 60_000;
            default -> n;
        };
        if (ms < 100) throw new IllegalArgumentException(shown + ": at least 100 ms: '" + v + "'");
        return ms;
    }

    /** What the run does, for its first lines: no secret values (they show as ***). */
    public String describe() {
        Map<String, String> props = new TreeMap<>();
        kafka.forEach((k, v) -> props.put(k.toString(), SecretNames.isSecret(k.toString()) ? "***" : v.toString()));
        return "dead letters " + dlqTopic + " at " + bootstrapServers
                + "\n  reasons: " + (reasons.isEmpty() ? "all" : String.join(",", reasons))
                + " | source topics: " + (sourceTopics.isEmpty() ? "all" : String.join(",", sourceTopics))
                + " | devices: "
                + (devices.isEmpty()
                        ? "all"
                        : devices.size() <= 5 ? String.join(",", devices) : devices.size() + " listed")
                + " | record time: " + (fromMs == null ? "-" : Instant.ofEpochMilli(fromMs)) + " .. "
                + (toMs == null ? "-" : Instant.ofEpochMilli(toMs))
                + "\n  to: " + (toTopic == null ? "each dead letter's devicesync.topic" : toTopic)
                + (dryRun ? " | DRY RUN: nothing is published" : " | at most " + formatRate(rate) + " records/s")
                + (fetchOriginals ? " | cut values fetched from their source coordinates" : "")
                + (includeRedriven ? " | dead letters of earlier re-drives included" : "")
                + (props.isEmpty() ? "" : "\n  client properties: " + props);
    }

    static String formatRate(double r) {
        return r == Math.rint(r) ? Long.toString((long) r) : Double.toString(r);
    }

    public static String usage() {
        return """
                Re-drive dead letters: re-publish the original key and value of selected records of the
                dead-letter topic to the topic they were rejected from, at a rate limit.

                  java -cp devicesync-jobs-<version>-job.jar io.devicesync.jobs.tools.Redrive \\
                      --kafka.bootstrap-servers host:9092 [selection] [--dry-run] [options]

                It reads the dead-letter topic from the beginning (or from --from) up to the end offsets
                it finds when it starts, and then ends: dead letters written meanwhile (a re-driven record
                rejected again among them) are left for a later run. Every re-published record carries the
                header devicesync.redriven-from = <dlq topic>/<partition>/<offset> of its dead letter, and
                the producer's clock as its timestamp. Re-driving a record twice is harmless: the job drops
                versions it already has. A re-driven record the job rejects again is dead-lettered again,
                once, with its reason and with that header; the re-drive skips such dead letters unless
                --include-redriven (re-driving the first dead letter again covers them), so repeated runs
                never multiply a record's dead letters. Progress every few seconds, a summary at the end
                (counts by reason and by source topic). Exit status: 0 done, 1 a record could not be
                published or Kafka failed, 2 a wrong argument.

                Selection (all optional; given together, a dead letter must match each):
                  --reason R[,R...]          header devicesync.reason, e.g. NOT_JSON,MISTYPED_SEQ (repeatable)
                  --source-topic T[,T...]    header devicesync.topic: device-events, device-acks (repeatable)
                  --device ID[,ID...]        the record key (deviceId), exactly (repeatable)
                  --from TIME  --to TIME     record timestamp, from inclusive, to exclusive: ISO-8601 with
                                             its zone (2026-01-05T10:00:00Z), a date (UTC) or epoch ms
                Where and how:
                  --topic.dlq T              the dead-letter topic (default device-events-dlq)
                  --to-topic T               publish every selected record to T instead of its
                                             devicesync.topic (select one --source-topic with it)
                  --rate N                   records per second at most (default 100)
                  --dry-run                  read and count only: publishes nothing
                  --fetch-originals          re-drive cut values in full, read from their source coordinates
                  --include-redriven         also re-drive dead letters of earlier re-drives (they carry
                                             devicesync.redriven-from), e.g. when the first ones are gone
                  --progress-interval D      between progress lines (default 5 s)
                  --kafka.bootstrap-servers  the brokers (required)
                  --kafka.<property> V       any Kafka client property, for both the consumer and the
                                             producer, e.g. --kafka.security.protocol SASL_SSL
                                             --kafka.sasl.mechanism SCRAM-SHA-512 --kafka.sasl.jaas.config '...'
                                             (as the job takes them; secret values are never printed).
                                             The producer is idempotent with acks=all; the consumer
                                             reads read_committed and commits nothing.
                  --help                     this text

                Cut records: a value larger than its input's limit (64 KiB for increments, 16 KiB for
                acks) was cut on the dead-letter topic (header devicesync.original-size; a key over 1 KiB:
                devicesync.original-key-size). Such a dead letter is NOT re-driven: it is not the record
                that was sent. It is counted and skipped; the full record stays at its original
                coordinates in the source topic, headers devicesync.topic / devicesync.partition /
                devicesync.offset, while that topic's retention keeps it. --fetch-originals reads it from
                there and re-drives it whole (a record larger than the producer's max.request.size needs
                --kafka.max.request.size; one no longer there is counted as gone).
                """;
    }
}
