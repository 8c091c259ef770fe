package io.devicesync.operators.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.operators.GuardState;
import io.devicesync.operators.ReconcilerState;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

/**
 * The hand-written serializers keep every field of their type (found by reflection, so a field
 * added later and forgotten in the serializer fails here), copy without sharing the object, and
 * restore from their own snapshot as the same format.
 */
class CompactTest {

    @Test
    void everyFieldSurvivesSerializationAndCopy() throws Exception {
        Random random = new Random(3);
        for (int n = 0; n < 500; n++) {
            check(Compact.INCREMENT, () -> new Increment(), random);
            check(Compact.DEVICE_STATE, () -> new DeviceState(), random);
            check(Compact.GUARD_STATE, () -> new GuardState(), random);
            check(Compact.RECONCILER_STATE, () -> new ReconcilerState(), random);
        }
    }

    @Test
    void restoresFromItsOwnSnapshotAsTheSameFormat() throws Exception {
        for (TypeInformation<?> type : List.of(Compact.INCREMENT, Compact.DEVICE_STATE, Compact.GUARD_STATE, Compact.RECONCILER_STATE)) {
            restore(type);
        }
    }

    private static <T> void restore(TypeInformation<T> type) throws Exception {
        TypeSerializer<T> serializer = type.createSerializer(new SerializerConfigImpl());
        TypeSerializerSnapshot<T> snapshot = serializer.snapshotConfiguration();
        DataOutputSerializer out = new DataOutputSerializer(64);
        TypeSerializerSnapshot.writeVersionedSnapshot(out, snapshot);
        TypeSerializerSnapshot<T> read = TypeSerializerSnapshot.readVersionedSnapshot(
                new DataInputDeserializer(out.getCopyOfBuffer()), CompactTest.class.getClassLoader());
        TypeSerializerSchemaCompatibility<T> compatibility =
                serializer.snapshotConfiguration().resolveSchemaCompatibility(read);
        assertTrue(compatibility.isCompatibleAsIs(), type + ": " + compatibility);
        assertEquals(serializer.getClass(), read.restoreSerializer().getClass());
    }

    /** Edges of the variable-length encoding (and, added to a random long, anything). */
    private static final long[] LONGS = {0, 1, -1, 63, 64, -64, -65, 127, 128, 1L << 41, Long.MAX_VALUE, Long.MIN_VALUE};

    private static <T> void check(TypeInformation<T> type, Supplier<T> create, Random random) throws Exception {
        T value = create.get();
        for (Field f : fields(value.getClass())) {
            Class<?> t = f.getType();
            if (t == long.class) f.setLong(value, LONGS[random.nextInt(LONGS.length)] + (random.nextBoolean() ? 0 : random.nextLong()));
            else if (t == int.class) f.setInt(value, random.nextBoolean() ? random.nextInt() : (int) LONGS[random.nextInt(LONGS.length)]);
            else if (t == boolean.class) f.setBoolean(value, random.nextBoolean());
            else if (t == String.class) f.set(value, random.nextInt(5) == 0 ? null : "dev-é" + random.nextInt(100));
            else if (t == byte[].class) f.set(value, random.nextInt(5) == 0 ? null : ("{\"n\":" + random.nextInt() + "}").getBytes());
            else throw new AssertionError("a field of a type the test does not fill: " + f);
        }
        TypeSerializer<T> serializer = type.createSerializer(new SerializerConfigImpl());
        DataOutputSerializer out = new DataOutputSerializer(64);
        serializer.serialize(value, out);
        T back = serializer.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
        assertSameFields(value, back);
        T copy = serializer.copy(value);
        assertNotSame(value, copy);
        assertSameFields(value, copy);
    }

    private static void assertSameFields(Object a, Object b) throws IllegalAccessException {
        for (Field f : fields(a.getClass())) {
            Object x = f.get(a);
            Object y = f.get(b);
            if (x instanceof byte[]) assertTrue(Arrays.equals((byte[]) x, (byte[]) y), f.getName());
            else assertEquals(x, y, a.getClass().getSimpleName() + "." + f.getName());
        }
    }

    private static List<Field> fields(Class<?> type) {
        return Arrays.stream(type.getFields()).filter(f -> !Modifier.isStatic(f.getModifiers())).toList();
    }
}
