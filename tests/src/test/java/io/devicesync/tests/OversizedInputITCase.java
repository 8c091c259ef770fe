package io.devicesync.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.model.AlertType;
import io.devicesync.model.Json;
import io.devicesync.tests.sim.DeviceSimulator;
import io.devicesync.tests.sim.SimulatedConsumer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.flink.client.program.ClusterClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectClusterClient;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 14: records larger than the job's own producer accepts. A producer that compresses gets a
 * 2 MB record through the broker (the broker's limit counts the compressed batch, the producer's
 * counts the record uncompressed), and a value 100 bytes under 1 MB fits its producer but not the
 * dead letter with the job's headers. Before, the dead-letter sink failed on such a record and the
 * job restarted on the same offset forever; here the MiniCluster has no restart strategy, so that
 * would fail the test. Now each is cut to its input's limit on the dead-letter topic, with its
 * original size, and the valid records after it (on every partition) are processed.
 */
class OversizedInputITCase extends EndToEnd {

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(4)
            .setConfiguration(noRestarts())
            .build());

    static final int PARTITIONS = 4;
    static final int EVENT_LIMIT = 64 * 1024;
    static final int ACK_LIMIT = 16 * 1024;
    static final int ONE_MB = 1024 * 1024;

    /** What was sent: where it landed, its key and value. */
    record Sent(String topic, int partition, long offset, byte[] key, byte[] value) {}

    @Test
    void oversizedEventsAndAcksAreCutOnTheDeadLetterTopicAndTheJobKeepsRunning(
            @InjectClusterClient ClusterClient<?> client) throws Exception {
        DeviceSimulator.Options o = new DeviceSimulator.Options();
        o.devices = 40;
        o.duplicateRate = 0;
        o.reorderRate = 0;
        o.malformedRate = 0;
        o.seed = 14;
        try (Scenario s = new Scenario(kafka, db, client.getWebInterfaceURL(), o, 1000)) {
            String acks = "acks-" + s.id;
            kafka.createTopics(PARTITIONS, List.of(acks, "redispatch-" + s.id, "redispatch-dlq-" + s.id), List.of());
            // First on every partition of both inputs, so that everything valid comes after them.
            Map<String, Sent> sent = new HashMap<>();
            try (KafkaProducer<byte[], byte[]> producer = compressingProducer()) {
                for (int p = 0; p < PARTITIONS; p++) {
                    for (String topic : List.of(s.events, acks)) {
                        send(producer, sent, topic, p, null, json(2 * ONE_MB, topic + "-" + p));
                        send(producer, sent, topic, p, null, json(ONE_MB - 100, topic + "-" + p));
                    }
                }
                // A huge key with a valid value: rejected (KEY_MISMATCH), the key cut.
                send(
                        producer,
                        sent,
                        s.events,
                        0,
                        json(2 * ONE_MB, "key"),
                        "{\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"data\":{}}".getBytes(StandardCharsets.UTF_8));
            }
            s.startJob(DeliveryITCase.deliveryArgs(s, "billing", "5 s"));
            s.awaitStarted();
            try (SimulatedConsumer billing = new SimulatedConsumer(
                    kafka.bootstrapServers(), "billing", s.state, "redispatch-" + s.id, acks, 0, 1)) {
                billing.start();
                s.simulate(4, 100);
                // Valid increments after the oversized ones: every device published, equal to the database.
                s.awaitConvergence();
                s.awaitOrFail(
                        () -> {
                            s.pollOutputs();
                            billing.check();
                            return s.dlqReader.all().size() >= sent.size();
                        },
                        () -> s.dlqReader.all().size() + " of " + sent.size() + " dead letters");
                // Valid acks after the oversized ones: applied by the tracker.
                s.awaitOrFail(
                        () -> {
                            billing.check();
                            return metric(s, "acksApplied") >= o.devices;
                        },
                        () -> "acksApplied=" + metric(s, "acksApplied") + ", devices " + o.devices);
                s.awaitOrFail(
                        () -> {
                            s.pollOutputs();
                            return invalidByReason(s).equals(Map.of("TOO_LARGE", 4L * PARTITIONS, "KEY_MISMATCH", 1L));
                        },
                        () -> "INVALID_INPUT counts by reason: " + invalidByReason(s));
                s.quiesce();
                s.assertStillRunning();
            }

            assertEquals(sent.size(), s.dlqReader.all().size(), "one dead letter per rejected record");
            for (ConsumerRecord<byte[], byte[]> r : s.dlqReader.all()) {
                String at = DeliveryITCase.header(r, "devicesync.topic") + "/"
                        + DeliveryITCase.header(r, "devicesync.partition") + "/"
                        + DeliveryITCase.header(r, "devicesync.offset");
                Sent original = sent.get(at);
                assertNotNull(original, "a dead letter of a record sent: " + at);
                if (original.key() != null) {
                    assertEquals("KEY_MISMATCH", DeliveryITCase.header(r, "devicesync.reason"), at);
                    assertArrayEquals(Arrays.copyOf(original.key(), 1024), r.key(), "the key's first KiB: " + at);
                    assertEquals(
                            Integer.toString(original.key().length),
                            DeliveryITCase.header(r, "devicesync.original-key-size"));
                    assertArrayEquals(original.value(), r.value(), "the value as sent: " + at);
                    assertNull(DeliveryITCase.header(r, "devicesync.original-size"), at);
                } else {
                    int limit = original.topic().equals(acks) ? ACK_LIMIT : EVENT_LIMIT;
                    assertEquals("TOO_LARGE", DeliveryITCase.header(r, "devicesync.reason"), at);
                    assertArrayEquals(
                            Arrays.copyOf(original.value(), limit), r.value(), "cut to the input's limit: " + at);
                    assertEquals(
                            Integer.toString(original.value().length),
                            DeliveryITCase.header(r, "devicesync.original-size"),
                            at);
                    assertNull(r.key(), at);
                }
            }
        }
    }

    /** As a producer that compresses (and allows itself large records) would send them. */
    private KafkaProducer<byte[], byte[]> compressingProducer() {
        Properties p = new Properties();
        p.put("bootstrap.servers", kafka.bootstrapServers());
        p.put("acks", "all");
        p.put("compression.type", "gzip");
        p.put("max.request.size", Integer.toString(8 * ONE_MB));
        p.put("max.in.flight.requests.per.connection", "1");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    /** Sends and waits for the broker's answer (a refused record fails the test here, not later). */
    private static void send(
            KafkaProducer<byte[], byte[]> producer,
            Map<String, Sent> sent,
            String topic,
            int partition,
            byte[] key,
            byte[] value)
            throws Exception {
        RecordMetadata m = producer.send(new ProducerRecord<>(topic, partition, key, value))
                .get();
        sent.put(
                topic + "/" + m.partition() + "/" + m.offset(), new Sent(topic, m.partition(), m.offset(), key, value));
    }

    /** A JSON object of exactly {@code size} bytes: a device or consumer gone wrong, compressible like real JSON. */
    static byte[] json(int size, String id) {
        String head = "{\"deviceId\":\"" + id + "\",\"consumer\":\"billing\",\"seq\":1,\"ts\":1,\"data\":{\"log\":\"";
        String tail = "\"}}";
        StringBuilder b = new StringBuilder(size).append(head);
        for (int i = 0; b.length() < size - tail.length(); i++)
            b.append("reading ").append(i).append(';');
        b.setLength(size - tail.length());
        byte[] out = b.append(tail).toString().getBytes(StandardCharsets.UTF_8);
        assertEquals(size, out.length);
        return out;
    }

    private static long metric(Scenario s, String name) {
        try {
            return s.metrics(name).get(name);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** The INVALID_INPUT counts so far, summed per reason. */
    private static Map<String, Long> invalidByReason(Scenario s) {
        Map<String, Long> out = new TreeMap<>();
        s.alertsSeen.stream().filter(a -> a.type == AlertType.INVALID_INPUT).forEach(a -> {
            JsonNode d = Json.parse(a.details.getBytes(StandardCharsets.UTF_8));
            out.merge(d.get("reason").asText(), d.get("count").asLong(), Long::sum);
        });
        return out;
    }
}
