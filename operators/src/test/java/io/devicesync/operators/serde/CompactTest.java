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
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The hand-written serializers keep every field of their type (found by reflection, so a field
 * added later and forgotten in the serializer fails here), copy without sharing the object, read
 * their own serializer snapshot back as the same format, and bring keyed state back through a real
 * operator snapshot and restore.
 */
class CompactTest {

    @Test
    void everyFieldSurvivesSerializationAndCopy() throws Exception {
        Random random = new Random(3);
        for (int n = 0; n < 500; n++) {
            check(Compact.INCREMENT, () -> new Increment(), random);
            // The guard's word and the bootstrap's seed cross the exchange to the reconciler as
            // increments: their type is in the flags byte and must come back.
            check(Compact.INCREMENT, () -> new Increment.Forget(), random);
            check(Compact.INCREMENT, () -> new Increment.Seed(), random);
            check(Compact.DEVICE_STATE, () -> new DeviceState(), random);
            check(Compact.GUARD_STATE, () -> new GuardState(), random);
            check(Compact.RECONCILER_STATE, () -> new ReconcilerState(), random);
        }
    }

    /** The serializer's own snapshot (what a checkpoint records of it) reads back as the same format. */
    @Test
    void itsSerializerSnapshotReadsBackAsTheSameFormat() throws Exception {
        for (TypeInformation<?> type :
                List.of(Compact.INCREMENT, Compact.DEVICE_STATE, Compact.GUARD_STATE, Compact.RECONCILER_STATE)) {
            snapshotReadsBack(type);
        }
    }

    /**
     * Keyed state written with the compact serializers comes back, every field, from a real
     * operator snapshot restored into a new operator, on RocksDB and on heap: the guard's and the
     * reconciler's values and an increment in a MapState (the guard's held messages).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void stateSnapshottedAndRestoredKeepsEveryField(String backend) throws Exception {
        Random random = new Random(5);
        GuardState guard = filled(new GuardState(), random);
        ReconcilerState reconciler = filled(new ReconcilerState(), random);
        Increment held = filled(new Increment(), random);
        OperatorSubtaskState snapshot;
        try (var before = harness(backend)) {
            before.open();
            Holder.toWrite = new Object[] {guard, reconciler, held};
            before.processElement(new StreamRecord<>("put", 1));
            snapshot = before.snapshot(1, 1);
        }
        try (var after = harness(backend)) {
            after.initializeState(snapshot);
            after.open();
            after.processElement(new StreamRecord<>("get", 2));
            List<Object[]> out = after.extractOutputValues();
            assertEquals(1, out.size());
            assertSameFields(guard, out.get(0)[0]);
            assertSameFields(reconciler, out.get(0)[1]);
            assertSameFields(held, out.get(0)[2]);
        }
    }

    /** Writes (on "put") or emits (on "get") one value of each state, all under key "d". */
    static final class Holder extends KeyedProcessFunction<String, String, Object[]> {
        static Object[] toWrite;
        private transient ValueState<GuardState> guard;
        private transient ValueState<ReconcilerState> reconciler;
        private transient MapState<Long, Increment> held;

        @Override
        public void open(OpenContext ctx) {
            guard = getRuntimeContext().getState(new ValueStateDescriptor<>("guard", Compact.GUARD_STATE));
            reconciler =
                    getRuntimeContext().getState(new ValueStateDescriptor<>("reconciler", Compact.RECONCILER_STATE));
            held = getRuntimeContext().getMapState(new MapStateDescriptor<>("held", Types.LONG, Compact.INCREMENT));
        }

        @Override
        public void processElement(String v, Context ctx, Collector<Object[]> out) throws Exception {
            if (v.equals("put")) {
                guard.update((GuardState) toWrite[0]);
                reconciler.update((ReconcilerState) toWrite[1]);
                held.put(7L, (Increment) toWrite[2]);
            } else {
                out.collect(new Object[] {guard.value(), reconciler.value(), held.get(7L)});
            }
        }
    }

    private static KeyedOneInputStreamOperatorTestHarness<String, String, Object[]> harness(String backend)
            throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<String, String, Object[]>(
                new KeyedProcessOperator<>(new Holder()), v -> "d", Types.STRING);
        h.setStateBackend(backend.equals("rocksdb") ? new EmbeddedRocksDBStateBackend() : new HashMapStateBackend());
        return h;
    }

    private static <T> void snapshotReadsBack(TypeInformation<T> type) throws Exception {
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
    private static final long[] LONGS = {0, 1, -1, 63, 64, -64, -65, 127, 128, 1L << 41, Long.MAX_VALUE, Long.MIN_VALUE
    };

    private static <T> void check(TypeInformation<T> type, Supplier<T> create, Random random) throws Exception {
        T value = filled(create.get(), random);
        TypeSerializer<T> serializer = type.createSerializer(new SerializerConfigImpl());
        DataOutputSerializer out = new DataOutputSerializer(64);
        serializer.serialize(value, out);
        T back = serializer.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
        assertEquals(value.getClass(), back.getClass());
        assertSameFields(value, back);
        T copy = serializer.copy(value);
        assertNotSame(value, copy);
        assertEquals(value.getClass(), copy.getClass());
        assertSameFields(value, copy);
    }

    /** {@code value} with every public field set at random (edges of the encoding included). */
    private static <T> T filled(T value, Random random) throws IllegalAccessException {
        for (Field f : fields(value.getClass())) {
            Class<?> t = f.getType();
            if (t == long.class)
                f.setLong(value, LONGS[random.nextInt(LONGS.length)] + (random.nextBoolean() ? 0 : random.nextLong()));
            else if (t == int.class)
                f.setInt(value, random.nextBoolean() ? random.nextInt() : (int) LONGS[random.nextInt(LONGS.length)]);
            else if (t == boolean.class) f.setBoolean(value, random.nextBoolean());
            else if (t == String.class) f.set(value, random.nextInt(5) == 0 ? null : "dev-é" + random.nextInt(100));
            else if (t == byte[].class)
                f.set(value, random.nextInt(5) == 0 ? null : ("{\"n\":" + random.nextInt() + "}").getBytes());
            else throw new AssertionError("a field of a type the test does not fill: " + f);
        }
        return value;
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
        return Arrays.stream(type.getFields())
                .filter(f -> !Modifier.isStatic(f.getModifiers()))
                .toList();
    }
}
