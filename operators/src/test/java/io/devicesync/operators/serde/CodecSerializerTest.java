package io.devicesync.operators.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import io.devicesync.operators.delivery.DeliveryCodec;
import io.devicesync.operators.delivery.DeliveryState;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

/** A codec serializer writes through a buffer of its own: one per duplicate, as Flink expects. */
class CodecSerializerTest {

    @Test
    void aCodecSerializersDuplicatesWriteThroughBuffersOfTheirOwn() throws Exception {
        TypeSerializer<DeliveryState> a =
                DeliveryCodec.STATE.createSerializer(null).duplicate();
        TypeSerializer<DeliveryState> b = a.duplicate();
        assertNotSame(a, b);
        assertEquals(a, b);
        DeliveryState small = new DeliveryState();
        small.epoch = 1;
        small.seq = 2;
        DeliveryState large = new DeliveryState();
        large.epoch = 3;
        large.seq = 1L << 40;
        large.timer = 1_700_000_000_000L;
        // Interleaved: each value's bytes are its own, whatever the other instance wrote meanwhile.
        DataOutputSerializer outA = new DataOutputSerializer(16);
        DataOutputSerializer outB = new DataOutputSerializer(16);
        a.serialize(large, outA);
        b.serialize(small, outB);
        a.serialize(small, outA);
        b.serialize(large, outB);
        DataInputDeserializer inA = new DataInputDeserializer(outA.getCopyOfBuffer());
        DataInputDeserializer inB = new DataInputDeserializer(outB.getCopyOfBuffer());
        assertEquals(1L << 40, a.deserialize(inA).seq);
        assertEquals(2, a.deserialize(inA).seq);
        assertEquals(2, b.deserialize(inB).seq);
        assertEquals(1L << 40, b.deserialize(inB).seq);
    }
}
