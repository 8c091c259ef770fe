package io.devicesync.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Codecs;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Json;
import io.devicesync.model.Redispatch;
import io.devicesync.model.Severity;
import io.devicesync.model.Versions;
import io.devicesync.tests.infra.TopicReader;
import io.devicesync.tests.sim.DeviceSimulator;
import io.devicesync.tests.sim.SimulatedConsumer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.flink.client.program.ClusterClient;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectClusterClient;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Delivery tracking end to end on a real broker and PostgreSQL, with consumers that really read
 * {@code device-state} read_committed and acknowledge on {@code device-acks}: a healthy one, one
 * that never acknowledges, one that comes back. Every deadline falls after the input went idle.
 * The MiniCluster never restarts a failed job: any failure fails the test.
 */
class DeliveryITCase extends EndToEnd {

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(4)
            .setConfiguration(noRestarts())
            .build());

    static final int DEVICES = 12;
    static final int ATTEMPTS = 3;

    @Test
    void unconsumedVersionsAreRedispatchedThenDeadLetteredAndAConsumerThatComesBackEndsItsEpisodes(
            @InjectClusterClient ClusterClient<?> client) throws Exception {
        DeviceSimulator.Options o = cleanStream(DEVICES, 5);
        try (Scenario s = new Scenario(kafka, db, client.getWebInterfaceURL(), o, 1000)) {
            String acks = "acks-" + s.id;
            String redispatch = "redispatch-" + s.id;
            String redispatchDlq = "redispatch-dlq-" + s.id;
            kafka.createTopics(4, List.of(acks, redispatch, redispatchDlq), List.of());
            // Summaries every 2 s instead of every minute, so that the test sees them soon.
            s.startJob(deliveryArgs(
                    s,
                    "healthy,stops,returns",
                    "5 s",
                    "--backlog.threshold",
                    Integer.toString(DEVICES / 2),
                    "--alerts.window",
                    "2 s"));
            s.awaitStarted();
            String bootstrap = kafka.bootstrapServers();
            try (SimulatedConsumer healthy =
                            new SimulatedConsumer(bootstrap, "healthy", s.state, redispatch, acks, 0, 1);
                    SimulatedConsumer returns =
                            new SimulatedConsumer(bootstrap, "returns", s.state, redispatch, acks, 0, 2);
                    TopicReader redispatchReader = new TopicReader(bootstrap, redispatch);
                    TopicReader redispatchDlqReader = new TopicReader(bootstrap, redispatchDlq)) {
                returns.setAcking(false);
                healthy.start();
                returns.start();
                // "stops" has no process at all: it never acknowledges anything.
                writeMalformedAcks(acks);
                s.simulate(3, 40);

                // Every device gets its episode for "returns"; then it comes back.
                s.awaitOrFail(
                        () -> {
                            s.pollOutputs();
                            return alertedOrSummarized(s, "UNCONSUMED", "returns")
                                            .size()
                                    == DEVICES;
                        },
                        () -> alertedOrSummarized(s, "UNCONSUMED", "returns").size() + " of " + DEVICES
                                + " devices UNCONSUMED for returns");
                returns.setAcking(true);

                List<Redispatch> sent = new ArrayList<>();
                List<ConsumerRecord<byte[], byte[]>> deadLetters = new ArrayList<>();
                s.awaitOrFail(
                        () -> {
                            s.pollOutputs();
                            healthy.check();
                            returns.check();
                            redispatchReader
                                    .poll(Duration.ofMillis(50))
                                    .forEach(r -> sent.add(Codecs.readRedispatch(r.value())));
                            deadLetters.addAll(redispatchDlqReader.poll(Duration.ofMillis(50)));
                            return deadLetters.size() >= DEVICES
                                    && s.alertCount("BACKLOG_CLEARED") >= 1
                                    && alertedOrSummarized(s, "REDISPATCH_EXHAUSTED", "stops")
                                                    .size()
                                            == DEVICES;
                        },
                        () -> deadLetters.size() + " dead letters, BACKLOG_CLEARED " + s.alertCount("BACKLOG_CLEARED")
                                + ", REDISPATCH_EXHAUSTED for "
                                + alertedOrSummarized(s, "REDISPATCH_EXHAUSTED", "stops")
                                        .size() + " devices");
                s.quiesce();
                redispatchReader.poll(Duration.ofMillis(200)).forEach(r -> sent.add(Codecs.readRedispatch(r.value())));
                deadLetters.addAll(redispatchDlqReader.poll(Duration.ofMillis(200)));
                assertTrue(redispatchReader.atEnd() && redispatchDlqReader.atEnd());
                s.assertStillRunning();

                Set<String> devices = s.last.keySet();
                assertEquals(DEVICES, devices.size());
                // The healthy consumer: nothing.
                assertEquals(
                        List.of(),
                        s.alertsSeen.stream()
                                .filter(a -> "healthy".equals(a.consumer))
                                .collect(Collectors.toList()));
                assertTrue(sent.stream().noneMatch(r -> r.consumer.equals("healthy")));
                assertTrue(healthy.acked.get() >= DEVICES);

                // The consumer that stopped: per device one UNCONSUMED (published, or in a summary of
                // the consumer once its BACKLOG opened), attempts 1..N with the latest state, one
                // dead letter, one REDISPATCH_EXHAUSTED; its backlog stays open.
                assertEquals(
                        devices, alertedOrSummarized(s, "UNCONSUMED", "stops").keySet());
                assertTrue(alertedOrSummarized(s, "UNCONSUMED", "stops").values().stream()
                        .allMatch(n -> n == 1));
                Map<String, List<Integer>> attempts = new TreeMap<>();
                for (Redispatch r : sent) {
                    if (!r.consumer.equals("stops")) continue;
                    attempts.computeIfAbsent(r.state.deviceId, k -> new ArrayList<>())
                            .add(r.attempt);
                    DeviceState latest = s.last.get(r.state.deviceId);
                    assertEquals(
                            Versions.format(latest.epoch, latest.seq),
                            Versions.format(r.state.epoch, r.state.seq),
                            "a redispatch carries the device's latest state");
                    assertEquals(
                            new String(latest.state, StandardCharsets.UTF_8),
                            new String(r.state.state, StandardCharsets.UTF_8));
                }
                assertEquals(devices, attempts.keySet());
                attempts.forEach((d, a) -> assertEquals(List.of(1, 2, 3), a, d));
                Map<String, Integer> dlqByDevice = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : deadLetters) {
                    assertEquals("REDISPATCH_EXHAUSTED", header(r, "devicesync.reason"));
                    assertEquals(
                            "stops",
                            header(r, "devicesync.consumer"),
                            "the consumer that came back has no dead letter");
                    assertEquals(Integer.toString(ATTEMPTS), header(r, "devicesync.attempts"));
                    Redispatch last = Codecs.readRedispatch(r.value());
                    assertEquals(ATTEMPTS, last.attempt);
                    dlqByDevice.merge(new String(r.key(), StandardCharsets.UTF_8), 1, Integer::sum);
                }
                assertEquals(devices, dlqByDevice.keySet());
                assertTrue(
                        dlqByDevice.values().stream().allMatch(n -> n == 1),
                        "one dead letter per device: " + dlqByDevice);
                Map<String, Long> exhausted = alertedOrSummarized(s, "REDISPATCH_EXHAUSTED", "stops");
                assertEquals(devices, exhausted.keySet());
                assertTrue(exhausted.values().stream().allMatch(n -> n == 1));
                // Issue 17: its BACKLOG opened long before the attempts ran out: summaries of the
                // consumer, not one alert per device (the dead letters above are all there).
                assertEquals(Map.of(), devicesAlerted(s, "REDISPATCH_EXHAUSTED", "stops"));
                List<Alert> exhaustedSummaries = summaries(s, "REDISPATCH_EXHAUSTED", "stops");
                assertTrue(
                        !exhaustedSummaries.isEmpty()
                                && exhaustedSummaries.stream().allMatch(a -> a.severity == Severity.CRITICAL),
                        "summaries of REDISPATCH_EXHAUSTED are CRITICAL: " + exhaustedSummaries);

                // The consumer that came back: one episode per device, ended by its acks.
                assertTrue(alertedOrSummarized(s, "UNCONSUMED", "returns").values().stream()
                        .allMatch(n -> n == 1));
                assertEquals(Map.of(), devicesAlerted(s, "REDISPATCH_EXHAUSTED", "returns"));

                // Backlog: raised for both, cleared only for the one that came back.
                assertEquals(1, consumerAlerts(s, "BACKLOG", "stops"));
                assertEquals(0, consumerAlerts(s, "BACKLOG_CLEARED", "stops"));
                assertEquals(1, consumerAlerts(s, "BACKLOG", "returns"));
                assertEquals(1, consumerAlerts(s, "BACKLOG_CLEARED", "returns"));

                // Malformed acks: dead-lettered with the acks topic, counted in INVALID_INPUT.
                List<ConsumerRecord<byte[], byte[]>> rejectedAcks = s.dlqReader.all().stream()
                        .filter(r -> acks.equals(header(r, "devicesync.topic")))
                        .collect(Collectors.toList());
                assertEquals(3, rejectedAcks.size());
                long invalidCounted = s.alertsSeen.stream()
                        .filter(a -> a.type == AlertType.INVALID_INPUT)
                        .mapToLong(a -> Json.parse(a.details.getBytes(StandardCharsets.UTF_8))
                                .get("count")
                                .asLong())
                        .sum();
                assertEquals(3, invalidCounted);
            }
        }
    }

    /**
     * A consumer that never acknowledges; the job is stopped with a savepoint while every device is
     * between attempts and restored at another parallelism: the attempts go on where they were
     * (never 1 again), each device gets exactly one UNCONSUMED, attempts 1..N, one dead letter.
     */
    @Test
    void attemptsResumeAfterAStopWithSavepointAndARescale(@InjectClusterClient ClusterClient<?> client)
            throws Exception {
        DeviceSimulator.Options o = cleanStream(10, 9);
        try (Scenario s = new Scenario(kafka, db, client.getWebInterfaceURL(), o, 1000)) {
            String acks = "acks-" + s.id;
            String redispatch = "redispatch-" + s.id;
            String redispatchDlq = "redispatch-dlq-" + s.id;
            kafka.createTopics(4, List.of(acks, redispatch, redispatchDlq), List.of());
            String[] args = deliveryArgs(s, "gone", "3 s");
            s.startJob(args);
            s.awaitStarted();
            List<Redispatch> sent = new ArrayList<>();
            List<ConsumerRecord<byte[], byte[]>> deadLetters = new ArrayList<>();
            try (TopicReader redispatchReader = new TopicReader(kafka.bootstrapServers(), redispatch);
                    TopicReader redispatchDlqReader = new TopicReader(kafka.bootstrapServers(), redispatchDlq)) {
                s.simulate(2, 30);
                s.awaitOrFail(
                        () -> {
                            s.pollOutputs();
                            redispatchReader
                                    .poll(Duration.ofMillis(50))
                                    .forEach(r -> sent.add(Codecs.readRedispatch(r.value())));
                            return sent.stream()
                                            .map(r -> r.state.deviceId)
                                            .distinct()
                                            .count()
                                    == o.devices;
                        },
                        () -> "attempt 1 for every device: " + sent.size());
                String savepoint = s.job.stopWithSavepoint(
                                false,
                                tmp.resolve("savepoints-" + s.id).toUri().toString(),
                                SavepointFormatType.CANONICAL)
                        .get();
                s.parallelism = 3;
                Configuration conf = new Configuration();
                conf.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
                s.startJob(conf, args);
                s.awaitStarted();
                s.awaitOrFail(
                        () -> {
                            s.pollOutputs();
                            redispatchReader
                                    .poll(Duration.ofMillis(50))
                                    .forEach(r -> sent.add(Codecs.readRedispatch(r.value())));
                            deadLetters.addAll(redispatchDlqReader.poll(Duration.ofMillis(50)));
                            return deadLetters.size() >= o.devices;
                        },
                        () -> deadLetters.size() + " dead letters after the restore");
                s.quiesce();
                redispatchReader.poll(Duration.ofMillis(200)).forEach(r -> sent.add(Codecs.readRedispatch(r.value())));
                deadLetters.addAll(redispatchDlqReader.poll(Duration.ofMillis(200)));
                s.assertStillRunning();
            }
            Map<String, List<Integer>> attempts = new TreeMap<>();
            sent.forEach(r -> attempts.computeIfAbsent(r.state.deviceId, k -> new ArrayList<>())
                    .add(r.attempt));
            assertEquals(o.devices, attempts.size());
            attempts.forEach((d, a) -> assertEquals(List.of(1, 2, 3), a, d + ": attempts across the restore"));
            assertEquals(o.devices, deadLetters.size(), "one dead letter per device");
            assertEquals(
                    o.devices,
                    deadLetters.stream()
                            .map(r -> new String(r.key(), StandardCharsets.UTF_8))
                            .distinct()
                            .count());
            assertTrue(deadLetters.stream()
                    .allMatch(r -> Integer.toString(ATTEMPTS).equals(header(r, "devicesync.attempts"))));
            Map<String, Long> unconsumed = devicesAlerted(s, "UNCONSUMED", "gone");
            assertEquals(o.devices, unconsumed.size());
            assertTrue(unconsumed.values().stream().allMatch(n -> n == 1), "one UNCONSUMED per device: " + unconsumed);
            Map<String, Long> exhausted = devicesAlerted(s, "REDISPATCH_EXHAUSTED", "gone");
            assertEquals(o.devices, exhausted.size());
            assertTrue(exhausted.values().stream().allMatch(n -> n == 1));
        }
    }

    /** A stream without duplicates, reordering or malformed records: every version is published once. */
    static DeviceSimulator.Options cleanStream(int devices, long seed) {
        DeviceSimulator.Options o = new DeviceSimulator.Options();
        o.devices = devices;
        o.duplicateRate = 0;
        o.reorderRate = 0;
        o.malformedRate = 0;
        o.seed = seed;
        return o;
    }

    /**
     * The delivery parameters of these tests (the scenario's topics {@code acks-<id>},
     * {@code redispatch-<id>}, {@code redispatch-dlq-<id>}, which the test creates), then {@code extra}.
     */
    static String[] deliveryArgs(Scenario s, String consumers, String ackTimeout, String... extra) {
        List<String> a = new ArrayList<>(List.of(
                "--delivery.consumers",
                consumers,
                "--topic.acks",
                "acks-" + s.id,
                "--topic.redispatch",
                "redispatch-" + s.id,
                "--topic.redispatch-dlq",
                "redispatch-dlq-" + s.id,
                "--delivery.ack-timeout",
                ackTimeout,
                "--redispatch.max-attempts",
                Integer.toString(ATTEMPTS),
                "--redispatch.backoff",
                "1 s",
                "--redispatch.max-backoff",
                "2 s",
                "--redispatch.rate",
                "50"));
        a.addAll(List.of(extra));
        return a.toArray(new String[0]);
    }

    private static Map<String, Long> devicesAlerted(Scenario s, String type, String consumer) {
        return s.alertsSeen.stream()
                .filter(a -> a.type.name().equals(type) && consumer.equals(a.consumer))
                .collect(Collectors.groupingBy(a -> a.deviceId, TreeMap::new, Collectors.counting()));
    }

    /** The ALERT_SUMMARY records of a consumer that fold alerts of {@code type}. */
    private static List<Alert> summaries(Scenario s, String type, String consumer) {
        return s.alertsSeen.stream()
                .filter(a -> a.type == AlertType.ALERT_SUMMARY
                        && consumer.equals(a.consumer)
                        && type.equals(Json.parse(a.details.getBytes(StandardCharsets.UTF_8))
                                .get("summarizedType")
                                .asText()))
                .collect(Collectors.toList());
    }

    /**
     * The devices with an alert of {@code type} for {@code consumer}: published one by one, or
     * folded into one of the consumer's summaries (whose sample then names every device folded:
     * these tests have fewer devices than a sample holds). Counts per device.
     */
    private static Map<String, Long> alertedOrSummarized(Scenario s, String type, String consumer) {
        Map<String, Long> devices = devicesAlerted(s, type, consumer);
        for (Alert a : summaries(s, type, consumer)) {
            var d = Json.parse(a.details.getBytes(StandardCharsets.UTF_8));
            assertEquals(d.get("count").asLong(), d.get("sampleDeviceIds").size(), "a sample of all: " + a);
            d.get("sampleDeviceIds").forEach(id -> devices.merge(id.asText(), 1L, Long::sum));
        }
        return devices;
    }

    private static long consumerAlerts(Scenario s, String type, String consumer) {
        return s.alertsSeen.stream()
                .filter(a -> a.type.name().equals(type) && consumer.equals(a.consumer))
                .count();
    }

    /** A header's value as UTF-8 text, null when the record has none. */
    static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private void writeMalformedAcks(String topic) {
        Properties p = new Properties();
        p.put("bootstrap.servers", kafka.bootstrapServers());
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            producer.send(new ProducerRecord<>(topic, null, "not json".getBytes(StandardCharsets.UTF_8)));
            producer.send(new ProducerRecord<>(
                    topic,
                    null,
                    "{\"consumer\":\"\",\"deviceId\":\"x\",\"seq\":1,\"ts\":1}".getBytes(StandardCharsets.UTF_8)));
            producer.send(new ProducerRecord<>(topic, null, new byte[] {(byte) 0xff, '{', '}'}));
        }
    }
}
