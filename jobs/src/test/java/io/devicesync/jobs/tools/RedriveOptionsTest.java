package io.devicesync.jobs.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The re-drive's arguments, without Kafka: defaults, every option, and a wrong one stopped by its name. */
class RedriveOptionsTest {
    private static final String B = "--kafka.bootstrap-servers";

    private static String error(String... args) {
        return assertThrows(IllegalArgumentException.class, () -> RedriveOptions.parse(args))
                .getMessage();
    }

    @Test
    void defaults() {
        RedriveOptions o = RedriveOptions.parse(B, "k:9092");
        assertEquals("k:9092", o.bootstrapServers);
        assertEquals("device-events-dlq", o.dlqTopic);
        assertTrue(o.reasons.isEmpty() && o.devices.isEmpty() && o.sourceTopics.isEmpty());
        assertNull(o.fromMs);
        assertNull(o.toMs);
        assertNull(o.toTopic);
        assertEquals(100, o.rate);
        assertFalse(o.dryRun || o.fetchOriginals || o.includeRedriven || o.help);
        assertEquals(5000, o.progressIntervalMs);
        assertTrue(o.kafka.isEmpty());
    }

    @Test
    void everyOption() {
        RedriveOptions o = RedriveOptions.parse(
                B,
                "k:9092",
                "--topic.dlq",
                "my-dlq",
                "--reason",
                "NOT_JSON,MISTYPED_SEQ",
                "--reason",
                "TOO_LARGE",
                "--source-topic",
                "device-events",
                "--device",
                "meter-1, meter-2",
                "--device=meter-3",
                "--from",
                "2026-01-05T10:00:00Z",
                "--to",
                "1767610800000",
                "--to-topic",
                "device-events",
                "--rate",
                "2.5",
                "--dry-run",
                "--fetch-originals",
                "true",
                "--include-redriven",
                "--progress-interval",
                "1 s",
                "--kafka.security.protocol",
                "SASL_SSL",
                "--kafka.group-id",
                "devicesync");
        assertEquals("my-dlq", o.dlqTopic);
        assertEquals(Set.of("NOT_JSON", "MISTYPED_SEQ", "TOO_LARGE"), o.reasons);
        assertEquals(Set.of("device-events"), o.sourceTopics);
        assertEquals(Set.of("meter-1", "meter-2", "meter-3"), o.devices);
        assertEquals(1767607200000L, o.fromMs);
        assertEquals(1767610800000L, o.toMs);
        assertEquals("device-events", o.toTopic);
        assertEquals(2.5, o.rate);
        assertTrue(o.dryRun && o.fetchOriginals && o.includeRedriven);
        assertEquals(1000, o.progressIntervalMs);
        assertEquals("SASL_SSL", o.kafka.getProperty("security.protocol"));
        assertFalse(
                o.kafka.containsKey("group-id"), "the job's own --kafka.group-id is accepted and means nothing here");
    }

    @Test
    void timesInIso8601OrEpochMilliseconds() {
        assertEquals(1767607200000L, RedriveOptions.time("--from", "2026-01-05T10:00:00Z"));
        assertEquals(1767607200000L, RedriveOptions.time("--from", "2026-01-05T11:00:00+01:00"));
        assertEquals(1767607200123L, RedriveOptions.time("--from", "2026-01-05T10:00:00.123Z"));
        assertEquals(1767571200000L, RedriveOptions.time("--from", "2026-01-05"));
        assertEquals(42L, RedriveOptions.time("--from", "42"));
        assertTrue(
                error(B, "k", "--from", "2026-01-05T10:00:00").startsWith("--from: not an ISO-8601 time with its zone"),
                "a local time without zone is ambiguous");
        assertTrue(error(B, "k", "--to", "yesterday").startsWith("--to: "));
        assertTrue(error(B, "k", "--from", "2026-01-05T10:00:00Z", "--to", "2026-01-05T09:00:00Z")
                .startsWith("--to: must be after --from"));
        assertTrue(error(B, "k", "--from", "5", "--to", "5").startsWith("--to: must be after --from"));
    }

    @Test
    void aWrongArgumentIsNamed() {
        assertTrue(error().startsWith("--kafka.bootstrap-servers: required"));
        assertTrue(error(B).startsWith("--kafka.bootstrap-servers: a value is missing"));
        assertTrue(error(B, "k", "--reason", "NOT_JSN").startsWith("--reason: unknown reason 'NOT_JSN' (known: "));
        assertTrue(error(B, "k", "--reason", ",").startsWith("--reason: empty"));
        assertTrue(error(B, "k", "--rate", "0").startsWith("--rate: "));
        assertTrue(error(B, "k", "--rate", "-3").startsWith("--rate: "));
        assertTrue(error(B, "k", "--rate", "fast").startsWith("--rate: not a number"));
        assertTrue(error(B, "k", "--rate", "NaN").startsWith("--rate: "));
        assertTrue(error(B, "k", "--to-topic", "a topic").startsWith("--to-topic: not a Kafka topic name"));
        assertTrue(error(B, "k", "--to-topic", "device-events-dlq")
                .startsWith("--to-topic: is the dead-letter topic itself"));
        assertTrue(error(B, "k", "--progress-interval", "5 h").startsWith("--progress-interval: not a duration"));
        assertTrue(error(B, "k", "--progress-interval", "10 ms").startsWith("--progress-interval: at least 100 ms"));
        assertTrue(
                error(B, "k", "--dry-run", "yes").startsWith("yes: not an option"),
                "a flag takes true/false or nothing");
        assertTrue(error(B, "k", "--dry-run=maybe").startsWith("--dry-run: true or false"));
        assertTrue(error(B, "k", "--topic.events", "e").startsWith("--topic.events: unknown option"));
        assertTrue(error(B, "k", "--rate", "1", "--rate", "2").startsWith("--rate: given twice"));
        assertTrue(error(B, "k", "stray").startsWith("stray: not an option"));
        assertTrue(error(B, "k", "--kafka.", "x").startsWith("--kafka.: a Kafka client property name is missing"));
        assertTrue(
                error(B, "k", "--kafka.bootstrap.servers", "j").startsWith("--kafka.bootstrap.servers: given besides"));
    }

    @Test
    void theProducerStaysIdempotentWithAcksAllAndTheConsumerReadCommitted() {
        assertTrue(error(B, "k", "--kafka.acks", "1").startsWith("--kafka.acks: the re-drive needs acks=all"));
        assertTrue(error(B, "k", "--kafka.enable.idempotence", "false")
                .startsWith("--kafka.enable.idempotence: the re-drive needs"));
        assertTrue(error(B, "k", "--kafka.isolation.level", "read_uncommitted")
                .startsWith("--kafka.isolation.level: the re-drive needs"));
        assertTrue(error(B, "k", "--kafka.transactional.id", "x")
                .startsWith("--kafka.transactional.id: set by the re-drive itself"));
        assertTrue(error(B, "k", "--kafka.value.serializer", "x")
                .startsWith("--kafka.value.serializer: set by the re-drive itself"));
        assertEquals(
                "-1", RedriveOptions.parse(B, "k", "--kafka.acks", "-1").kafka.getProperty("acks"));
        assertEquals(
                "j:9092",
                RedriveOptions.parse("--kafka.bootstrap.servers", "j:9092").bootstrapServers,
                "the client property's own name works too");
    }

    @Test
    void secretsAreNeverShown() {
        String jaas =
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"hunter2\";";
        RedriveOptions o = RedriveOptions.parse(
                B,
                "k",
                "--kafka.sasl.jaas.config",
                jaas,
                "--kafka.ssl.truststore.password",
                "hunter3",
                "--kafka.security.protocol",
                "SASL_SSL");
        assertEquals(jaas, o.kafka.getProperty("sasl.jaas.config"));
        String shown = o.describe();
        assertFalse(shown.contains("hunter2") || shown.contains("hunter3"), shown);
        assertTrue(shown.contains("sasl.jaas.config=***") && shown.contains("security.protocol=SASL_SSL"), shown);
    }

    @Test
    void helpAndAWrongArgumentThroughTheMainEntry() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(0, Redrive.run(new String[] {"--help"}, new PrintStream(out, true), new PrintStream(err, true)));
        String help = out.toString(StandardCharsets.UTF_8);
        for (String option : new String[] {
            "--reason",
            "--source-topic",
            "--device",
            "--from",
            "--to",
            "--to-topic",
            "--rate",
            "--dry-run",
            "--fetch-originals",
            "--include-redriven",
            "--topic.dlq",
            "--kafka.bootstrap-servers",
            "--kafka.<property>",
            "devicesync.original-size",
            "devicesync.redriven-from",
            "devicesync.partition"
        }) {
            assertTrue(help.contains(option), "--help tells of " + option);
        }
        assertEquals(0, Redrive.run(new String[] {"-h"}, new PrintStream(out, true), new PrintStream(err, true)));
        out.reset();
        assertEquals(
                2,
                Redrive.run(
                        new String[] {B, "k", "--rate", "x"}, new PrintStream(out, true), new PrintStream(err, true)));
        assertTrue(
                err.toString(StandardCharsets.UTF_8).startsWith("redrive: --rate: "),
                err.toString(StandardCharsets.UTF_8));
        assertEquals("", out.toString(StandardCharsets.UTF_8));
    }
}
