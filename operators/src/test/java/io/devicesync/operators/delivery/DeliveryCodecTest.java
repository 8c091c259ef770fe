package io.devicesync.operators.delivery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.devicesync.model.DeviceState;
import io.devicesync.model.RecordSource;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class DeliveryCodecTest {

    @Test
    void theTrackerStateRoundTrips() {
        DeliveryState s = new DeliveryState();
        s.published = true;
        s.epoch = 3;
        s.seq = 99;
        s.timer = 1_763_800_041_000L;
        s.pubEpoch = new long[] {3, 3};
        s.pubSeq = new long[] {98, 99};
        s.pubAt = new long[] {10, 20};
        ConsumerTrack a = new ConsumerTrack("billing");
        a.status = ConsumerTrack.Status.OPEN;
        a.ackEpoch = 3;
        a.ackSeq = 97;
        a.firstEpoch = 3;
        a.firstSeq = 98;
        a.firstAt = 10;
        a.due = 12345;
        a.attempt = 2;
        a.attemptDue = 999;
        a.lastDueEpoch = 3;
        a.lastDueSeq = 99;
        ConsumerTrack b = new ConsumerTrack("dashboard ünïcode");
        s.consumers = new ConsumerTrack[] {a, b};

        DeliveryState back = DeliveryCodec.decode(DeliveryCodec.encode(s));
        assertEquals(true, back.published);
        assertEquals(3, back.epoch);
        assertEquals(99, back.seq);
        assertEquals(s.timer, back.timer);
        assertArrayEquals(s.pubSeq, back.pubSeq);
        assertArrayEquals(s.pubAt, back.pubAt);
        assertArrayEquals(s.pubEpoch, back.pubEpoch);
        assertEquals(2, back.consumers.length);
        ConsumerTrack x = back.consumers[0];
        assertEquals("billing", x.name);
        assertEquals(ConsumerTrack.Status.OPEN, x.status);
        assertEquals(97, x.ackSeq);
        assertEquals(98, x.firstSeq);
        assertEquals(12345, x.due);
        assertEquals(2, x.attempt);
        assertEquals(999, x.attemptDue);
        assertEquals(99, x.lastDueSeq);
        assertEquals("dashboard ünïcode", back.consumers[1].name);
        assertEquals(ConsumerTrack.Status.IDLE, back.consumers[1].status);
        assertEquals(-1, back.consumers[1].ackSeq);
        assertNull(DeliveryCodec.decode(null));
    }

    @Test
    void theLatestVersionRoundTrips() {
        DeviceState v =
                new DeviceState("d", 1, 7, 42, "{\"a\":1}".getBytes(StandardCharsets.UTF_8), RecordSource.SNAPSHOT);
        DeviceState back = DeliveryCodec.decodeLatest("d", DeliveryCodec.encodeLatest(v));
        assertEquals(v.toString(), back.toString());
        assertEquals(42, back.ts);
    }
}
