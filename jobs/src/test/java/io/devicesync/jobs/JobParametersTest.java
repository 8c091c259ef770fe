package io.devicesync.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.sources.EventSource.StartingOffsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class JobParametersTest {
    private static final List<String> REQUIRED =
            List.of("--kafka.bootstrap-servers", "broker:9092", "--snapshot.url", "postgresql://db:5432/devices");

    private static JobParameters parse(Map<String, String> env, String... extra) {
        List<String> args = new ArrayList<>(REQUIRED);
        args.addAll(List.of(extra));
        return JobParameters.parse(args.toArray(new String[0]), env);
    }

    private static String error(String... args) {
        return assertThrows(IllegalArgumentException.class, () -> JobParameters.parse(args, Map.of()))
                .getMessage();
    }

    @Test
    void defaultsAreTheContractsDefaults() {
        JobParameters p = parse(Map.of());
        assertEquals("devicesync", p.groupId);
        assertEquals(StartingOffsets.COMMITTED_OR_EARLIEST, p.startingOffsets);
        assertEquals("device-events", p.topicEvents);
        assertEquals("device-acks", p.topicAcks);
        assertEquals("device-state", p.topicState);
        assertEquals("device-alerts", p.topicAlerts);
        assertEquals("device-events-dlq", p.topicDlq);
        assertEquals("device-redispatch", p.topicRedispatch);
        assertEquals("device-audit", p.topicAudit);
        assertEquals(Duration.ofSeconds(2), p.reorderGrace);
        assertEquals(1000, p.resyncMaxLogFetch);
        assertEquals(Duration.ofMinutes(5), p.auditInterval);
        assertEquals(Duration.ofDays(30), p.stateIdleTtl);
        assertEquals(List.of(), p.deliveryConsumers);
        assertEquals(Duration.ofSeconds(30), p.deliveryAckTimeout);
        assertEquals(5, p.redispatchMaxAttempts);
        assertEquals(1000, p.backlogThreshold);
        assertEquals(List.of("postgresql://db:5432/devices"), p.snapshotUrls);
        assertEquals(512 * 1024, p.stateMaxDocumentBytes, "below Kafka's default 1 MB record limit");
        assertEquals(10_000, p.snapshotCapacity, "room for results stuck behind a hung lookup");
        assertEquals(1000, p.snapshotMaxInFlight, "no shedding in a healthy burst of gaps");
        assertEquals(5, p.snapshotBreakerFailures);
        assertEquals(Duration.ofSeconds(10), p.snapshotBreakerOpen);
        assertEquals(128, p.snapshotBatchSize);
        assertEquals(Duration.ofMillis(2), p.snapshotBatchLinger, "a lookup waits a few ms at most for its batch");
        assertEquals(org.apache.flink.connector.base.DeliveryGuarantee.EXACTLY_ONCE, p.sinkDeliveryGuarantee);
    }

    @Test
    void readsFlinkDurationsListsAndKafkaClientProperties() {
        JobParameters p = JobParameters.parse(
                new String[] {
                    "--kafka.bootstrap-servers",
                    "b:9092",
                    "--reorder.grace",
                    "500 ms",
                    "--audit.interval",
                    "1 min",
                    "--snapshot.url",
                    "postgresql://a:5432/d,postgresql://b:5432/d",
                    "--kafka.security.protocol",
                    "SASL_SSL",
                    "--kafka.starting-offsets",
                    "latest",
                    "--delivery.consumers",
                    "billing, cache",
                    "--sink.delivery-guarantee",
                    "at-least-once"
                },
                Map.of());
        assertEquals(org.apache.flink.connector.base.DeliveryGuarantee.AT_LEAST_ONCE, p.sinkDeliveryGuarantee);
        assertEquals(Duration.ofMillis(500), p.reorderGrace);
        assertEquals(Duration.ofMinutes(1), p.auditInterval);
        assertEquals(List.of("postgresql://a:5432/d", "postgresql://b:5432/d"), p.snapshotUrls);
        assertEquals("SASL_SSL", p.kafka().getProperty("security.protocol"));
        assertFalse(
                p.kafka().containsKey("starting-offsets"),
                "the job's own kafka.* parameters are not client properties");
        assertEquals(StartingOffsets.LATEST, p.startingOffsets);
        assertEquals(List.of("billing", "cache"), p.deliveryConsumers);
    }

    @Test
    void batchesOfLookupsAreSetAndReachTheLookup() {
        JobParameters p = parse(Map.of(), "--snapshot.batch-size", "1", "--snapshot.batch-linger", "0 ms");
        assertEquals(1, p.snapshotBatchSize);
        assertEquals(Duration.ZERO, p.snapshotBatchLinger);
        p = parse(Map.of(), "--snapshot.batch-size", "10000", "--snapshot.batch-linger", "50 ms");
        assertEquals(10_000, p.snapshotBatchSize);
        assertEquals(Duration.ofMillis(50), p.snapshotBatchLinger);
        String config = DeviceSyncJob.lookupConfig(p).toString();
        assertTrue(config.contains("batchSize=10000") && config.contains("batchLingerMs=50"), config);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(
            delimiter = '|',
            value = {
                "--reorder.grace       | abc",
                "--resync.max-log-fetch | -1",
                "--audit.interval      | 0 s",
                "--kafka.starting-offsets | beginning",
                "--snapshot.url        | mysql://db/x",
                "--snapshot.url        | POSTGRESQL://db:5432/x",
                "--redispatch.max-attempts | 0",
                "--state.idle-ttl      | forever",
                "--state.max-document-bytes | 10",
                "--state.max-document-bytes | 2000000000",
                "--snapshot.max-in-flight | 10001",
                "--snapshot.max-in-flight | 0",
                "--snapshot.breaker-failures | 0",
                "--snapshot.breaker-open | never",
                "--snapshot.breaker-open | 1 ns",
                "--snapshot.timeout | 100 micro",
                "--snapshot.batch-size | 0",
                "--snapshot.batch-size | 10001",
                "--snapshot.batch-size | many",
                "--snapshot.batch-linger | -1 ms",
                "--snapshot.batch-linger | 51 ms",
                "--snapshot.batch-linger | 1 s",
                "--snapshot.batch-linger | 500 micro",
                "--delivery.consumers | billing,,cache",
                "--delivery.consumers | billing,billing",
                "--delivery.consumers | ' '",
                "--delivery.ack-timeout | 0 s",
                "--delivery.ack-timeout | soon",
                "--redispatch.max-attempts | 101",
                "--redispatch.backoff | -1 s",
                "--redispatch.max-backoff | 1 s",
                "--redispatch.rate | 0",
                "--redispatch.rate | 1000001",
                "--backlog.threshold | 0",
                "--topic.redispatch-dlq | ' '",
                "--sink.delivery-guarantee | none",
                "--sink.delivery-guarantee | EXACTLY_ONCE",
                // Below a millisecond: the job counts whole milliseconds, so these would be 0 and divide
                // (audit slots, alert windows), schedule (timers, idleness, TTL) or never advance.
                "--audit.interval | 500 micro",
                "--alerts.invalid-input-window | 1 ns",
                "--state.idle-ttl | 999 micro",
                "--watermark.idle-timeout | 1 ns",
                "--checkpoint.interval | 1 ns",
                "--checkpoint.interval | 9 ms",
                "--reorder.grace | 1 ns",
                "--watermark.out-of-orderness | 500 micros",
                "--watermark.max-future-skew | 1 ns",
                "--redispatch.backoff | 1 ns",
                "--snapshot.retry-backoff | 1 ns",
                "--kafka.transaction.timeout.ms | ten minutes",
                "--kafka.transaction.timeout.ms | 0",
                "--kafka.max.request.size | 65536",
                "--kafka.max.request.size | lots",
            })
    void aWrongParameterIsNamedInTheError(String name, String value) {
        String msg =
                error("--kafka.bootstrap-servers", "b:9092", "--snapshot.url", "postgresql://db:5432/x", name, value);
        assertTrue(msg.startsWith(name + ":"), msg);
    }

    @Test
    void durationsAreAMillisecondOrMoreAndZeroOnlyWhereItMeansNone() {
        JobParameters least = parse(
                Map.of(),
                "--audit.interval",
                "1 ms",
                "--alerts.invalid-input-window",
                "1 ms",
                "--state.idle-ttl",
                "1 ms",
                "--watermark.idle-timeout",
                "1 ms",
                "--checkpoint.interval",
                "10 ms",
                "--delivery.ack-timeout",
                "1 ms");
        assertEquals(Duration.ofMillis(1), least.auditInterval);
        assertEquals(Duration.ofMillis(1), least.invalidInputWindow);
        assertEquals(Duration.ofMillis(10), least.checkpointInterval, "Flink's own minimum");
        JobParameters none = parse(
                Map.of(),
                "--reorder.grace",
                "0 ms",
                "--watermark.out-of-orderness",
                "0 s",
                "--watermark.max-future-skew",
                "0 s",
                "--redispatch.backoff",
                "0 s",
                "--redispatch.max-backoff",
                "0 s");
        assertEquals(Duration.ZERO, none.reorderGrace);
        assertEquals(Duration.ZERO, none.watermarkOutOfOrderness);
        assertEquals(Duration.ZERO, none.watermarkMaxFutureSkew);
        assertEquals(Duration.ZERO, none.redispatchMaxBackoff);
        for (String zeroIsWrong : new String[] {
            "--audit.interval",
            "--alerts.invalid-input-window",
            "--state.idle-ttl",
            "--watermark.idle-timeout",
            "--checkpoint.interval",
            "--snapshot.timeout",
            "--snapshot.breaker-open",
            "--snapshot.retry-backoff",
            "--delivery.ack-timeout"
        }) {
            String msg = error(
                    "--kafka.bootstrap-servers",
                    "b:9092",
                    "--snapshot.url",
                    "postgresql://db:5432/x",
                    zeroIsWrong,
                    "0 ms");
            assertTrue(msg.startsWith(zeroIsWrong + ":"), msg);
        }
    }

    @Test
    void theProducersRequestLimitAdmitsEveryRecordTheJobWrites() {
        // The least it may be: a dead letter (64 KiB of value, 1 KiB of key, headers), with a
        // document limit to match.
        assertEquals(
                "69632",
                parse(Map.of(), "--kafka.max.request.size", "69632", "--state.max-document-bytes", "65536")
                        .kafka()
                        .getProperty("max.request.size"));
        String msg = error(
                "--kafka.bootstrap-servers",
                "b:9092",
                "--snapshot.url",
                "postgresql://db:5432/x",
                "--state.max-document-bytes",
                "2000000");
        assertTrue(msg.startsWith("--state.max-document-bytes:") && msg.contains("--kafka.max.request.size"), msg);
        String lowered = error(
                "--kafka.bootstrap-servers",
                "b:9092",
                "--snapshot.url",
                "postgresql://db:5432/x",
                "--kafka.max.request.size",
                "500000");
        assertTrue(lowered.startsWith("--kafka.max.request.size:"), "below the default 512 KiB documents: " + lowered);
        JobParameters raised =
                parse(Map.of(), "--state.max-document-bytes", "2000000", "--kafka.max.request.size", "2100000");
        assertEquals(2_000_000, raised.stateMaxDocumentBytes);
        assertEquals("2100000", raised.kafka().getProperty("max.request.size"), "passed to the producers");
    }

    @Test
    void deliveryParametersHaveTheirDefaultsAndLimits() {
        JobParameters p = parse(Map.of());
        assertEquals(Duration.ofSeconds(5), p.redispatchBackoff);
        assertEquals(Duration.ofMinutes(5), p.redispatchMaxBackoff);
        assertEquals(100, p.redispatchRate);
        assertEquals("device-redispatch-dlq", p.topicRedispatchDlq);
        JobParameters q = parse(
                Map.of(),
                "--delivery.consumers",
                "billing,dashboard,archive",
                "--redispatch.backoff",
                "10 min",
                "--redispatch.rate",
                "7",
                "--topic.redispatch-dlq",
                "r-dlq",
                "--delivery.ack-timeout",
                "2 s");
        assertEquals(List.of("billing", "dashboard", "archive"), q.deliveryConsumers);
        assertEquals(Duration.ofMinutes(10), q.redispatchMaxBackoff, "the cap is never below the backoff");
        assertEquals(7, q.redispatchRate);
        assertEquals("r-dlq", q.topicRedispatchDlq);
        assertEquals(Duration.ofSeconds(2), q.deliveryAckTimeout);
        String tooMany = String.join(
                ",",
                java.util.stream.IntStream.range(0, 65).mapToObj(i -> "c" + i).toList());
        assertTrue(error(
                        "--kafka.bootstrap-servers",
                        "b:9092",
                        "--snapshot.url",
                        "postgresql://db:5432/x",
                        "--delivery.consumers",
                        tooMany)
                .startsWith("--delivery.consumers:"));
        assertTrue(error(
                        "--kafka.bootstrap-servers",
                        "b:9092",
                        "--snapshot.url",
                        "postgresql://db:5432/x",
                        "--delivery.consumers",
                        "c".repeat(129))
                .startsWith("--delivery.consumers:"));
    }

    @Test
    void missingRequiredAndUnknownParametersAreNamed() {
        assertEquals("--kafka.bootstrap-servers: required", error("--snapshot.url", "postgresql://db:5432/x"));
        assertEquals("--snapshot.url: required", error("--kafka.bootstrap-servers", "b:9092"));
        assertTrue(error(
                        "--kafka.bootstrap-servers",
                        "b:9092",
                        "--snapshot.url",
                        "postgresql://db:5432/x",
                        "--reorder.grase",
                        "1 s")
                .startsWith("--reorder.grase: unknown parameter"));
        assertTrue(error("--kafka.bootstrap-servers").startsWith("--kafka.bootstrap-servers: a value is missing"));
    }

    @Test
    void credentialsComeFromEnvironmentAndAreNeverPrinted() {
        JobParameters p = parse(
                Map.of(JobParameters.ENV_USER, "svc", JobParameters.ENV_PASSWORD, "s3cr3t-from-env"),
                "--kafka.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"k4fk4\";");
        assertEquals("svc", p.snapshotUser);
        assertEquals("s3cr3t-from-env", p.snapshotPassword);
        String printed = p.toString();
        assertFalse(printed.contains("s3cr3t-from-env"), printed);
        assertFalse(printed.contains("k4fk4"), printed);
        assertTrue(printed.contains("svc"));

        JobParameters q = parse(Map.of(JobParameters.ENV_PASSWORD, "env"), "--snapshot.password", "from-arg");
        assertEquals("from-arg", q.snapshotPassword, "an explicit parameter wins over the environment");
        assertTrue(error("--kafka.bootstrap-servers", "b:9092", "--snapshot.url", "postgresql://u:pw@db:5432/x")
                .startsWith("--snapshot.url:"));
        String inQuery =
                error("--kafka.bootstrap-servers", "b:9092", "--snapshot.url", "postgresql://db:5432/x?password=pw");
        assertTrue(inQuery.startsWith("--snapshot.url:"));
        assertFalse(inQuery.contains("=pw"), "the error does not repeat the secret: " + inQuery);
    }

    /**
     * The README's parameter table names exactly the declared parameters, and the two Kafka client
     * properties the job validates (the rest of {@code kafka.<any client property>} is passed on).
     */
    @Test
    void theReadmeTableListsExactlyTheDeclaredParameters() throws Exception {
        String readme = java.nio.file.Files.readString(java.nio.file.Path.of("..", "README.md"));
        int start = readme.indexOf("### Parameters");
        int end = readme.indexOf("\n## ", start);
        java.util.Set<String> inTable = new java.util.TreeSet<>();
        java.util.regex.Pattern name = java.util.regex.Pattern.compile("`--([a-z0-9.-]+)`");
        for (String line : readme.substring(start, end).split("\n")) {
            if (!line.startsWith("| `--")) continue;
            String first = line.substring(1, line.indexOf('|', 1));
            java.util.regex.Matcher m = name.matcher(first);
            while (m.find()) inTable.add(m.group(1));
        }
        java.util.Set<String> declared = new java.util.TreeSet<>(JobParameters.KNOWN);
        declared.add("kafka.transaction.timeout.ms");
        declared.add("kafka.max.request.size");
        assertEquals(declared, inTable, "the README's table (### Parameters) and JobParameters' declarations");
    }

    /**
     * Every size the README gives for a dead letter (what {@code --kafka.max.request.size} must
     * admit) is the one the submission check uses, {@link io.devicesync.model.DeadLetter#MAX_RECORD_BYTES}.
     */
    @Test
    void theReadmesDeadLetterSizeIsTheOneChecked() throws Exception {
        String readme = java.nio.file.Files.readString(java.nio.file.Path.of("..", "README.md"));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                        "dead letter[^.|]*?(\\d{5,}) bytes|at least (\\d{5,}) \\(a dead letter\\)")
                .matcher(readme);
        int found = 0;
        while (m.find()) {
            String n = m.group(1) != null ? m.group(1) : m.group(2);
            assertEquals(String.valueOf(io.devicesync.model.DeadLetter.MAX_RECORD_BYTES), n, m.group());
            found++;
        }
        assertTrue(found >= 3, "the README gives the size in the parameters' text, table and dead letters: " + found);
    }

    @Test
    void theLoggedSettingsShowEveryDeclaredParameter() {
        String printed = parse(Map.of(), "--snapshot.password", "pw-secret").toString();
        for (String n : JobParameters.KNOWN) assertTrue(printed.contains(n + "="), n + " in " + printed);
        assertTrue(printed.contains("snapshot.password=***"), printed);
        assertFalse(printed.contains("pw-secret"), printed);
    }

    @Test
    void aConsumerHasItsOwnSettingsOverTheJobWideOnes() {
        JobParameters p = parse(
                Map.of(),
                "--delivery.consumers",
                "billing,dashboard",
                "--redispatch.rate",
                "50",
                "--delivery.consumer.dashboard.ack-timeout",
                "5 s",
                "--delivery.consumer.dashboard.max-attempts",
                "2",
                "--delivery.consumer.dashboard.backoff",
                "10 min",
                "--delivery.consumer.dashboard.rate",
                "7",
                "--delivery.consumer.dashboard.backlog-threshold",
                "20");
        JobParameters.ConsumerSettings billing = p.consumerSettings.get("billing");
        JobParameters.ConsumerSettings dashboard = p.consumerSettings.get("dashboard");
        assertEquals(List.of("billing", "dashboard"), List.copyOf(p.consumerSettings.keySet()));
        assertEquals(Duration.ofSeconds(30), billing.ackTimeout);
        assertEquals(50, billing.rate, "the job-wide value");
        assertEquals(Duration.ofSeconds(5), dashboard.ackTimeout);
        assertEquals(2, dashboard.maxAttempts);
        assertEquals(7, dashboard.rate);
        assertEquals(20, dashboard.backlogThreshold);
        assertEquals(Duration.ofMinutes(10), dashboard.maxBackoff, "the cap is at least the consumer's backoff");
        assertTrue(p.toString().contains("delivery.consumer.dashboard={ackTimeout=PT5S"), p.toString());
    }

    @Test
    void aConsumerSettingIsRefusedByNameForAnUnlistedConsumerAnUnknownSettingOrABadValue() {
        String unlisted = error(
                "--kafka.bootstrap-servers",
                "b:9092",
                "--snapshot.url",
                "postgresql://db:5432/x",
                "--delivery.consumers",
                "billing",
                "--delivery.consumer.archive.rate",
                "5");
        assertTrue(unlisted.startsWith("--delivery.consumer.archive.rate: 'archive' is not a consumer"), unlisted);
        String unknown = error(
                "--kafka.bootstrap-servers",
                "b:9092",
                "--snapshot.url",
                "postgresql://db:5432/x",
                "--delivery.consumers",
                "billing",
                "--delivery.consumer.billing.speed",
                "5");
        assertTrue(unknown.startsWith("--delivery.consumer.billing.speed: unknown parameter"), unknown);
        String bad = error(
                "--kafka.bootstrap-servers",
                "b:9092",
                "--snapshot.url",
                "postgresql://db:5432/x",
                "--delivery.consumers",
                "billing",
                "--delivery.consumer.billing.rate",
                "0");
        assertTrue(bad.startsWith("--delivery.consumer.billing.rate: '0' is invalid: must be at least 1"), bad);
        String cap = error(
                "--kafka.bootstrap-servers",
                "b:9092",
                "--snapshot.url",
                "postgresql://db:5432/x",
                "--delivery.consumers",
                "billing",
                "--delivery.consumer.billing.backoff",
                "1 min",
                "--delivery.consumer.billing.max-backoff",
                "10 s");
        assertTrue(cap.startsWith("--delivery.consumer.billing.max-backoff:"), cap);
        String name = error(
                "--kafka.bootstrap-servers",
                "b:9092",
                "--snapshot.url",
                "postgresql://db:5432/x",
                "--delivery.consumers",
                "billing.eu");
        assertTrue(name.startsWith("--delivery.consumers:") && name.contains("A-Z a-z 0-9 _ -"), name);
    }
}
