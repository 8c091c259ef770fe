package io.devicesync.operators.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Ack;
import java.util.List;
import java.util.Random;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

class AckBatchSerializerTest {
    private static final long[] LONGS = {0, 1, -1, 63, 64, -64, -65, 127, 128, 1L << 41, Long.MAX_VALUE, Long.MIN_VALUE
    };

    private static long anyLong(Random random) {
        return LONGS[random.nextInt(LONGS.length)] + (random.nextBoolean() ? 0 : random.nextLong());
    }

    private static String anyString(Random random) {
        return random.nextInt(5) == 0 ? null : "dev-é" + random.nextInt(100);
    }

    /**
     * Every field of every ack comes back, the batch's device written once and another device's in
     * full, a null array stays null, and a copy shares no ack.
     */
    @Test
    void aDevicesAckBatchSurvivesSerializationAndCopy() throws Exception {
        Random random = new Random(5);
        TypeSerializer<AckBatch> serializer = AckBatchSerializer.TYPE.createSerializer(new SerializerConfigImpl());
        for (int n = 0; n < 500; n++) {
            AckBatch batch = new AckBatch(anyString(random), null);
            if (random.nextInt(10) != 0) {
                batch.acks = new Ack[random.nextInt(5)];
                for (int i = 0; i < batch.acks.length; i++) {
                    String device = random.nextInt(3) != 0 ? batch.deviceId : anyString(random);
                    batch.acks[i] =
                            new Ack(anyString(random), device, anyLong(random), anyLong(random), anyLong(random));
                }
            }
            DataOutputSerializer out = new DataOutputSerializer(64);
            serializer.serialize(batch, out);
            DataInputDeserializer in = new DataInputDeserializer(out.getCopyOfBuffer());
            AckBatch back = serializer.deserialize(in);
            assertEquals(0, in.available(), "read to its end");
            AckBatch copy = serializer.copy(batch);
            for (AckBatch other : List.of(back, copy)) {
                assertNotSame(batch, other);
                assertEquals(batch.deviceId, other.deviceId);
                if (batch.acks == null) {
                    assertNull(other.acks);
                    continue;
                }
                assertEquals(batch.acks.length, other.acks.length);
                for (int i = 0; i < batch.acks.length; i++) {
                    Ack a = batch.acks[i];
                    Ack b = other.acks[i];
                    assertNotSame(a, b);
                    assertEquals(a.consumer, b.consumer);
                    assertEquals(a.deviceId, b.deviceId);
                    assertEquals(a.epoch, b.epoch);
                    assertEquals(a.seq, b.seq);
                    assertEquals(a.ts, b.ts);
                }
            }
        }
    }

    /** The batch's device id is written once, whatever the number of its acks. */
    @Test
    void theDeviceIdIsWrittenOncePerBatch() throws Exception {
        TypeSerializer<AckBatch> serializer = AckBatchSerializer.TYPE.createSerializer(new SerializerConfigImpl());
        int[] sizes = new int[2];
        String[] devices = {"d", "device-000042"};
        for (int k = 0; k < 2; k++) {
            String d = devices[k];
            AckBatch batch = new AckBatch(d, new Ack[] {
                new Ack("billing", d, 0, 7, 1000),
                new Ack("dashboard", d, 0, 7, 1001),
                new Ack("archive", d, 0, 6, 1002)
            });
            DataOutputSerializer out = new DataOutputSerializer(64);
            serializer.serialize(batch, out);
            sizes[k] = out.length();
        }
        assertEquals(devices[1].length() - devices[0].length(), sizes[1] - sizes[0], "the id once, not per ack");
    }

    /** Bytes that cannot be a batch (a count of acks beyond any list) are refused, not allocated. */
    @Test
    void anImpossibleCountOfAcksIsRefused() throws Exception {
        TypeSerializer<AckBatch> serializer = AckBatchSerializer.TYPE.createSerializer(new SerializerConfigImpl());
        DataOutputSerializer good = new DataOutputSerializer(16);
        serializer.serialize(new AckBatch("d", new Ack[0]), good);
        byte[] bytes = good.getCopyOfBuffer();
        // The count is the last byte (0 acks): make it a varint of 2^31 - 1.
        byte[] bad = java.util.Arrays.copyOf(bytes, bytes.length + 4);
        int at = bytes.length - 1;
        byte[] huge = {(byte) 0xFE, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0x0F};
        System.arraycopy(huge, 0, bad, at, huge.length);
        org.junit.jupiter.api.Assertions.assertThrows(
                java.io.IOException.class, () -> serializer.deserialize(new DataInputDeserializer(bad)));
    }

    /** Two batches back to back read as two (the exchange's buffers hold many). */
    @Test
    void batchesBackToBackReadApart() throws Exception {
        TypeSerializer<AckBatch> serializer = AckBatchSerializer.TYPE.createSerializer(new SerializerConfigImpl());
        DataOutputSerializer out = new DataOutputSerializer(64);
        serializer.serialize(AckBatch.of(new Ack("billing", "d1", 0, 7, 1000)), out);
        serializer.serialize(
                new AckBatch("d2", new Ack[] {new Ack("a", "d2", 1, 2, 3), new Ack("b", "d2", 1, 3, 4)}), out);
        DataInputDeserializer in = new DataInputDeserializer(out.getCopyOfBuffer());
        AckBatch first = serializer.deserialize(in);
        AckBatch second = serializer.deserialize(in);
        assertEquals("d1", first.deviceId);
        assertEquals(7, first.acks[0].seq);
        assertEquals("d2", second.deviceId);
        assertEquals(2, second.acks.length);
        assertEquals("b", second.acks[1].consumer);
        assertEquals(4, second.acks[1].ts);
        assertEquals(0, in.available());
    }

    /** Its snapshot (what a checkpoint records of it) reads back as the same serializer, compatible as is. */
    @Test
    void itsSnapshotReadsBackAsTheSameFormat() throws Exception {
        TypeSerializer<AckBatch> serializer = AckBatchSerializer.TYPE.createSerializer(new SerializerConfigImpl());
        DataOutputSerializer out = new DataOutputSerializer(64);
        TypeSerializerSnapshot.writeVersionedSnapshot(out, serializer.snapshotConfiguration());
        TypeSerializerSnapshot<AckBatch> read = TypeSerializerSnapshot.readVersionedSnapshot(
                new DataInputDeserializer(out.getCopyOfBuffer()), getClass().getClassLoader());
        TypeSerializerSchemaCompatibility<AckBatch> compatibility =
                serializer.snapshotConfiguration().resolveSchemaCompatibility(read);
        assertTrue(compatibility.isCompatibleAsIs(), compatibility.toString());
        assertEquals(AckBatchSerializer.class, read.restoreSerializer().getClass());
    }
}
