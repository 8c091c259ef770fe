package io.devicesync.sources;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.SourceRecord;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

class IncrementDeserializerTest {

    private static ConsumerRecord<byte[], byte[]> record(byte[] key, byte[] value) {
        return new ConsumerRecord<>(
                "device-events",
                3,
                42L,
                1_763_800_000_000L,
                TimestampType.CREATE_TIME,
                key == null ? -1 : key.length,
                value == null ? -1 : value.length,
                key,
                value,
                new RecordHeaders(),
                Optional.empty());
    }

    @Test
    void validRecordBecomesAnIncrement() {
        SourceRecord r = IncrementDeserializer.toSourceRecord(record(
                "d".getBytes(StandardCharsets.UTF_8),
                "{\"deviceId\":\"d\",\"seq\":2,\"ts\":9,\"data\":{}}".getBytes(StandardCharsets.UTF_8)));
        assertTrue(r.isValid());
        assertEquals(9, r.eventTime());
        assertNull(r.rejected);
    }

    @Test
    void rejectedRecordKeepsItsBytesAndOrigin() {
        byte[] key = {1, 2, 3};
        byte[] value = {(byte) 0xff, (byte) 0xfe, 0};
        SourceRecord r = IncrementDeserializer.toSourceRecord(record(key, value));
        assertNull(r.increment);
        assertArrayEquals(key, r.rejected.key);
        assertArrayEquals(value, r.rejected.value);
        assertEquals("NOT_UTF8", r.rejected.reason);
        assertEquals("device-events", r.rejected.topic);
        assertEquals(3, r.rejected.partition);
        assertEquals(42L, r.rejected.offset);
        assertEquals(1_763_800_000_000L, r.eventTime(), "a rejected record's time is its Kafka timestamp");
    }

    @Test
    void tombstoneIsADeadLetterNotAnError() {
        SourceRecord r = IncrementDeserializer.toSourceRecord(record("d".getBytes(StandardCharsets.UTF_8), null));
        assertEquals("NULL_VALUE", r.rejected.reason);
        assertNull(r.rejected.value);
    }
}
