package io.devicesync.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.AckRecord;
import io.devicesync.model.DeadLetter;
import io.devicesync.model.SourceRecord;
import io.devicesync.sinks.KafkaSinks;
import io.devicesync.sources.AckSource;
import io.devicesync.sources.IncrementDeserializer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.AbstractRecords;
import org.apache.kafka.common.record.CompressionType;
import org.apache.kafka.common.record.RecordBatch;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

/**
 * From a rejected Kafka record to the record the dead-letter producer is given: it fits the
 * producer's request limit whatever the size of what was rejected (a producer's compression lets a
 * 2 MB value through the broker; a value a few bytes under 1 MB fits its producer but not once the
 * job's headers are added). The size is the producer's own estimate, the one it refuses a record by.
 */
class DeadLetterSizeTest {
    /** The producer's default {@code max.request.size}, which the job does not raise. */
    private static final int MAX_REQUEST_SIZE =
            (Integer) ProducerConfig.configDef().defaultValues().get("max.request.size");

    private static final int EVENT_LIMIT = 64 * 1024;
    private static final int ACK_LIMIT = 16 * 1024;

    private static ConsumerRecord<byte[], byte[]> record(String topic, byte[] key, byte[] value) {
        return record(topic, key, value, new RecordHeaders());
    }

    private static ConsumerRecord<byte[], byte[]> record(
            String topic, byte[] key, byte[] value, RecordHeaders headers) {
        return new ConsumerRecord<>(
                topic,
                3,
                42L,
                1_763_800_000_000L,
                TimestampType.CREATE_TIME,
                key == null ? -1 : key.length,
                value == null ? -1 : value.length,
                key,
                value,
                headers,
                Optional.empty());
    }

    /** A JSON-looking value of {@code size} bytes (what a device or a consumer gone wrong sends). */
    private static byte[] json(int size) {
        byte[] b = new byte[size];
        byte[] pattern = "{\"deviceId\":\"meter-00042\",\"seq\":1,\"ts\":1,\"data\":{\"blob\":\""
                .getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < size; i++) b[i] = i < pattern.length ? pattern[i] : (byte) ('a' + i % 26);
        return b;
    }

    private static DeadLetter viaEvents(byte[] key, byte[] value) {
        List<SourceRecord> out = new ArrayList<>();
        new IncrementDeserializer().deserialize(record("device-events", key, value), collector(out));
        assertEquals(1, out.size());
        return out.get(0).rejected;
    }

    private static DeadLetter viaAcks(byte[] key, byte[] value) {
        List<AckRecord> out = new ArrayList<>();
        new AckSource.Deserializer().deserialize(record("device-acks", key, value), collector(out));
        assertEquals(1, out.size());
        return out.get(0).rejected;
    }

    private static <T> Collector<T> collector(List<T> out) {
        return new Collector<>() {
            @Override
            public void collect(T t) {
                out.add(t);
            }

            @Override
            public void close() {}
        };
    }

    private static int producerSize(ProducerRecord<byte[], byte[]> r) {
        return AbstractRecords.estimateSizeInBytesUpperBound(
                RecordBatch.CURRENT_MAGIC_VALUE,
                CompressionType.NONE,
                r.key(),
                r.value(),
                r.headers().toArray());
    }

    private static String header(ProducerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static void assertCut(ProducerRecord<byte[], byte[]> r, byte[] original, int limit) {
        assertTrue(producerSize(r) <= MAX_REQUEST_SIZE, "fits max.request.size: " + producerSize(r) + " bytes");
        assertEquals("TOO_LARGE", header(r, "devicesync.reason"));
        assertEquals(Integer.toString(original.length), header(r, "devicesync.original-size"));
        assertArrayEquals(
                Arrays.copyOf(original, limit),
                r.value(),
                "the value cut to the input's limit, its first bytes as sent");
    }

    @Test
    void anOversizedIncrementIsCutToTheLimitAndFitsTheProducer() {
        for (int size : new int[] {MAX_REQUEST_SIZE - 100, 2 * 1024 * 1024, EVENT_LIMIT + 1}) {
            byte[] value = json(size);
            assertCut(KafkaSinks.deadLetterRecord("device-events-dlq", viaEvents(null, value)), value, EVENT_LIMIT);
        }
    }

    @Test
    void anOversizedAckIsCutToTheAckLimitAndFitsTheProducer() {
        for (int size : new int[] {MAX_REQUEST_SIZE - 100, 2 * 1024 * 1024, ACK_LIMIT + 1}) {
            byte[] value = json(size);
            assertCut(KafkaSinks.deadLetterRecord("device-events-dlq", viaAcks(null, value)), value, ACK_LIMIT);
        }
    }

    @Test
    void aHugeKeyIsCutToOneKibibyteWithItsOriginalSize() {
        byte[] key = json(2 * 1024 * 1024);
        byte[] value = "{\"deviceId\":\"d\",\"seq\":1,\"ts\":1,\"data\":{}}".getBytes(StandardCharsets.UTF_8);
        for (DeadLetter d : List.of(
                viaEvents(key, value),
                viaAcks(
                        key,
                        "{\"consumer\":\"c\",\"deviceId\":\"d\",\"seq\":1,\"ts\":1}"
                                .getBytes(StandardCharsets.UTF_8)))) {
            ProducerRecord<byte[], byte[]> r = KafkaSinks.deadLetterRecord("device-events-dlq", d);
            assertTrue(producerSize(r) <= MAX_REQUEST_SIZE, "fits max.request.size: " + producerSize(r) + " bytes");
            assertEquals("KEY_MISMATCH", header(r, "devicesync.reason"));
            assertArrayEquals(Arrays.copyOf(key, 1024), r.key());
            assertEquals(Integer.toString(key.length), header(r, "devicesync.original-key-size"));
            assertNull(header(r, "devicesync.original-size"), "the value was not cut");
        }
    }

    @Test
    void aRejectedRecordWithinTheLimitsIsKeptWholeWithoutSizeHeaders() {
        byte[] key = "k".repeat(1024).getBytes(StandardCharsets.UTF_8);
        byte[] value = json(EVENT_LIMIT); // not JSON (cut off), exactly at the limit
        ProducerRecord<byte[], byte[]> r = KafkaSinks.deadLetterRecord("device-events-dlq", viaEvents(key, value));
        assertEquals("NOT_JSON", header(r, "devicesync.reason"));
        assertArrayEquals(key, r.key());
        assertArrayEquals(value, r.value());
        assertNull(header(r, "devicesync.original-size"));
        assertNull(header(r, "devicesync.original-key-size"));
        assertEquals("device-events", header(r, "devicesync.topic"));
        assertEquals("3", header(r, "devicesync.partition"));
        assertEquals("42", header(r, "devicesync.offset"));
        assertEquals(1_763_800_000_000L, r.timestamp());
    }

    @Test
    void aReDrivenRecordRejectedAgainKeepsOnlyItsRedrivenFromHeaderCutToItsBound() {
        RecordHeaders headers = new RecordHeaders();
        headers.add("devicesync.redriven-from", "device-events-dlq/2/17".getBytes(StandardCharsets.UTF_8));
        headers.add("traceparent", "00-abc".getBytes(StandardCharsets.UTF_8));
        List<SourceRecord> out = new ArrayList<>();
        new IncrementDeserializer()
                .deserialize(
                        record("device-events", null, "not json".getBytes(StandardCharsets.UTF_8), headers),
                        collector(out));
        ProducerRecord<byte[], byte[]> r = KafkaSinks.deadLetterRecord("device-events-dlq", out.get(0).rejected);
        assertEquals("NOT_JSON", header(r, "devicesync.reason"));
        assertEquals("device-events-dlq/2/17", header(r, "devicesync.redriven-from"));
        assertNull(header(r, "traceparent"), "the source record's other headers are not copied");

        // The worst case: every part at its bound, and a producer that set a huge redriven-from header.
        RecordHeaders huge = new RecordHeaders();
        huge.add("devicesync.redriven-from", json(2 * 1024 * 1024));
        String longTopic = "t".repeat(249);
        List<AckRecord> acks = new ArrayList<>();
        new AckSource.Deserializer()
                .deserialize(record(longTopic, json(2 * 1024 * 1024), json(2 * 1024 * 1024), huge), collector(acks));
        List<SourceRecord> events = new ArrayList<>();
        new IncrementDeserializer()
                .deserialize(record(longTopic, json(2 * 1024 * 1024), json(2 * 1024 * 1024), huge), collector(events));
        for (DeadLetter d : List.of(acks.get(0).rejected, events.get(0).rejected)) {
            ProducerRecord<byte[], byte[]> w = KafkaSinks.deadLetterRecord("device-events-dlq", d);
            assertEquals(
                    DeadLetter.MAX_REDRIVEN_FROM_BYTES,
                    w.headers().lastHeader("devicesync.redriven-from").value().length);
            assertTrue(
                    producerSize(w) <= DeadLetter.MAX_RECORD_BYTES,
                    "within DeadLetter.MAX_RECORD_BYTES: " + producerSize(w) + " bytes");
        }
    }
}
