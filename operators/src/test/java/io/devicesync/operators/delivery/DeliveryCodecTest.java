package io.devicesync.operators.delivery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    private static final long[] EDGES = {0, 1, -1, 2, 127, 128, Long.MAX_VALUE, Long.MIN_VALUE, 1_763_800_041_000L};

    private static long any(java.util.Random r) {
        return r.nextBoolean() ? EDGES[r.nextInt(EDGES.length)] : r.nextInt(3) == 0 ? r.nextLong() : r.nextInt(1000);
    }

    /** A state of random fields, edge values among them: written in format 2, every field comes back. */
    static DeliveryState anyState(java.util.Random r) {
        DeliveryState s = new DeliveryState();
        s.published = r.nextBoolean();
        s.latestStored = r.nextBoolean();
        s.epoch = any(r);
        s.seq = any(r);
        s.timer = any(r);
        s.forgetAt = any(r);
        int pubs = r.nextInt(5);
        s.pubEpoch = new long[pubs];
        s.pubSeq = new long[pubs];
        s.pubAt = new long[pubs];
        for (int i = 0; i < pubs; i++) {
            s.pubEpoch[i] = any(r);
            s.pubSeq[i] = any(r);
            s.pubAt[i] = any(r);
        }
        s.consumers = new ConsumerTrack[r.nextInt(4)];
        String[] names = {"billing", "dashboard", "archive", "ünï", ""};
        for (int i = 0; i < s.consumers.length; i++) {
            ConsumerTrack c = new ConsumerTrack(names[r.nextInt(names.length)]);
            c.status = ConsumerTrack.Status.values()[r.nextInt(4)];
            c.ackEpoch = any(r);
            c.ackSeq = any(r);
            if (r.nextBoolean()) {
                c.firstEpoch = any(r);
                c.firstSeq = any(r);
                c.firstAt = any(r);
            }
            if (r.nextBoolean()) c.due = any(r);
            if (r.nextBoolean()) {
                c.attempt = (int) any(r);
                c.attemptDue = any(r);
                c.lastDueEpoch = any(r);
                c.lastDueSeq = any(r);
            }
            s.consumers[i] = c;
        }
        return s;
    }

    static String fields(DeliveryState s) {
        StringBuilder b = new StringBuilder();
        b.append(s.published)
                .append(s.latestStored)
                .append(',')
                .append(s.epoch)
                .append(',')
                .append(s.seq);
        b.append(',').append(s.timer).append(',').append(s.forgetAt).append(',');
        b.append(java.util.Arrays.toString(s.pubEpoch)).append(java.util.Arrays.toString(s.pubSeq));
        b.append(java.util.Arrays.toString(s.pubAt));
        for (ConsumerTrack c : s.consumers) {
            b.append('|')
                    .append(c.name)
                    .append(',')
                    .append(c.status)
                    .append(',')
                    .append(c.ackEpoch);
            b.append(',')
                    .append(c.ackSeq)
                    .append(',')
                    .append(c.firstEpoch)
                    .append(',')
                    .append(c.firstSeq);
            b.append(',')
                    .append(c.firstAt)
                    .append(',')
                    .append(c.due)
                    .append(',')
                    .append(c.attempt);
            b.append(',')
                    .append(c.attemptDue)
                    .append(',')
                    .append(c.lastDueEpoch)
                    .append(',')
                    .append(c.lastDueSeq);
        }
        return b.toString();
    }

    /** Format 2 (what this build writes) gives back every field exactly, edge values too. */
    @Test
    void everyFieldRoundTripsExactly() {
        java.util.Random r = new java.util.Random(16);
        for (int n = 0; n < 5000; n++) {
            DeliveryState s = anyState(r);
            byte[] bytes = DeliveryCodec.encode(s);
            assertEquals(2, bytes[0], "format 2");
            assertEquals(fields(s), fields(DeliveryCodec.decode(bytes)));
        }
    }

    /** The earlier builds' format 1 still reads: a restored value is rewritten in format 2 when next saved. */
    @Test
    void theEarlierBuildsFormat1StillReads() {
        java.util.Random r = new java.util.Random(1);
        for (int n = 0; n < 2000; n++) {
            DeliveryState s = anyState(r);
            byte[] old = DeliveryCodec.encodeFormat1(s);
            assertEquals(1, old[0]);
            assertEquals(fields(s), fields(DeliveryCodec.decode(old)));
        }
    }

    /** Bytes that are not a state (cut short, or with bytes left) are refused, never read as one. */
    @Test
    void aTruncatedValueIsRefused() {
        DeliveryState s = anyState(new java.util.Random(3));
        byte[] bytes = DeliveryCodec.encode(s);
        for (int len = 1; len < bytes.length; len++) {
            byte[] cut = java.util.Arrays.copyOf(bytes, len);
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> DeliveryCodec.decode(cut));
        }
        byte[] longer = java.util.Arrays.copyOf(bytes, bytes.length + 1);
        org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> DeliveryCodec.decode(longer));
    }

    /**
     * The benchmark's shape (three consumers, a few publications a second apart, the consumers
     * behind by one or two): format 2 is under a third of format 1.
     */
    @Test
    void aTypicalStateIsUnderAThirdOfFormat1() {
        DeliveryState s = new DeliveryState();
        long t = 1_763_800_041_123L;
        s.published = true;
        s.epoch = 0;
        s.seq = 1_234;
        s.timer = 1_763_800_072_000L;
        s.latestStored = true;
        s.pubEpoch = new long[] {0, 0, 0};
        s.pubSeq = new long[] {1_232, 1_233, 1_234};
        s.pubAt = new long[] {t - 2_000, t - 1_000, t};
        String[] names = {"billing", "dashboard", "archive"};
        s.consumers = new ConsumerTrack[3];
        for (int i = 0; i < 3; i++) {
            ConsumerTrack c = new ConsumerTrack(names[i]);
            c.status = ConsumerTrack.Status.PENDING;
            c.ackSeq = 1_231 + i % 2;
            c.firstSeq = c.ackSeq + 1;
            c.firstAt = t - 2_000 + (i % 2) * 1_000;
            c.due = c.firstAt + 40_000;
            s.consumers[i] = c;
        }
        int v1 = DeliveryCodec.encodeFormat1(s).length;
        int v2 = DeliveryCodec.encode(s).length;
        assertTrue(v2 * 3 < v1, v2 + " bytes against " + v1);
    }

    @Test
    void theLatestVersionRoundTrips() {
        DeviceState v =
                new DeviceState("d", 1, 7, 42, "{\"a\":1}".getBytes(StandardCharsets.UTF_8), RecordSource.SNAPSHOT);
        DeviceState back = DeliveryCodec.decodeLatest("d", DeliveryCodec.encodeLatest(v));
        assertEquals(v.toString(), back.toString());
        assertEquals(42, back.ts);
    }

    /**
     * The serializers write the codec's bytes behind their length, as every earlier build wrote
     * them (and as a ValueState<byte[]> did), however many values they wrote before.
     */
    @Test
    void theSerializersWriteTheCodecsBytesBehindTheirLength() throws Exception {
        DeliveryState s = new DeliveryState();
        s.published = true;
        s.epoch = 2;
        s.seq = 5_000;
        s.timer = 1_763_800_072_000L;
        s.pubEpoch = new long[] {2};
        s.pubSeq = new long[] {5_000};
        s.pubAt = new long[] {1_763_800_032_000L};
        ConsumerTrack c = new ConsumerTrack("billing");
        c.status = ConsumerTrack.Status.PENDING;
        c.ackEpoch = 2;
        c.ackSeq = 4_999;
        s.consumers = new ConsumerTrack[] {c};
        DeviceState v = new DeviceState("d", 2, 5_000, 42, new byte[3000], RecordSource.INCREMENT);
        org.apache.flink.api.common.typeutils.TypeSerializer<DeliveryState> states =
                DeliveryCodec.STATE_SERIALIZER.duplicate();
        org.apache.flink.api.common.typeutils.TypeSerializer<DeviceState> latest =
                DeliveryCodec.LATEST_SERIALIZER.duplicate();
        for (int round = 0; round < 2; round++) { // the second value as the first
            assertArrayEquals(lengthThen(DeliveryCodec.encode(s)), written(states, s));
            assertArrayEquals(lengthThen(DeliveryCodec.encodeLatest(v)), written(latest, v));
        }
    }

    private static byte[] lengthThen(byte[] bytes) throws java.io.IOException {
        org.apache.flink.core.memory.DataOutputSerializer out =
                new org.apache.flink.core.memory.DataOutputSerializer(8);
        out.writeInt(bytes.length);
        out.write(bytes);
        return out.getCopyOfBuffer();
    }

    private static <T> byte[] written(org.apache.flink.api.common.typeutils.TypeSerializer<T> serializer, T value)
            throws java.io.IOException {
        org.apache.flink.core.memory.DataOutputSerializer out =
                new org.apache.flink.core.memory.DataOutputSerializer(8);
        serializer.serialize(value, out);
        return out.getCopyOfBuffer();
    }

    /**
     * The tracker state's serializer snapshot records format 2: a build that reads format 1 only
     * (the previous one) stops at the restore and says why, rather than restoring and failing at
     * the first device it reads; format 1's state restores here as it is.
     */
    @Test
    void aBuildThatReadsFormat1RefusesThisStateAtTheRestore() throws Exception {
        io.devicesync.operators.serde.CodecSnapshots.anEarlierBuildRefusesItAndFormat1RestoresAsItIs(
                DeliveryCodec.StateSnapshot::new, DeliveryCodec.StateSerializer::new, 2);
    }
}
