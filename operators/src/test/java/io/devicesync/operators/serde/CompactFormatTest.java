package io.devicesync.operators.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The format mechanism of the hand-written serializers: a type whose layout changed (format 1
 * wrote one number, format 2 two) restores state of the earlier format, which Flink rewrites in
 * the new one, on RocksDB and heap; state of a format newer than the build stops the restore with
 * a message that says so.
 */
class CompactFormatTest {
    /** The format "this build" writes: the test plays both builds. */
    static int build = 1;

    public static final class Pair {
        public long a;
        public long b;
    }

    public static final class PairSerializer extends CompactSerializer<Pair> {
        private static final long serialVersionUID = 1L;

        public PairSerializer() {
            this(build);
        }

        public PairSerializer(int format) {
            super(format);
        }

        @Override
        protected void write(Pair p, DataOutputView out) throws IOException {
            writeVarLong(p.a, out);
            if (build >= 2) writeVarLong(p.b, out);
        }

        @Override
        protected Pair read(DataInputView in) throws IOException {
            Pair p = new Pair();
            p.a = readVarLong(in);
            p.b = format >= 2 ? readVarLong(in) : 100 + p.a; // format 1 had no b: derived
            return p;
        }

        @Override
        public Pair createInstance() {
            return new Pair();
        }

        @Override
        public Pair copy(Pair from) {
            Pair p = new Pair();
            p.a = from.a;
            p.b = from.b;
            return p;
        }

        @Override
        public TypeSerializerSnapshot<Pair> snapshotConfiguration() {
            return new PairSnapshot();
        }
    }

    public static final class PairSnapshot extends CompactSnapshot<Pair> {
        public PairSnapshot() {
            super(build, PairSerializer::new);
        }
    }

    /** "put:key:a" stores (a, a * 2); "get:key" emits "a/b". */
    static final class Holder extends KeyedProcessFunction<String, String, String> {
        private transient ValueState<Pair> state;

        @Override
        public void open(OpenContext ctx) {
            state = getRuntimeContext()
                    .getState(new ValueStateDescriptor<>(
                            "pair", new CompactTypeInfo<>(Pair.class, new PairSerializer())));
        }

        @Override
        public void processElement(String v, Context ctx, Collector<String> out) throws Exception {
            String[] p = v.split(":");
            if (p[0].equals("put")) {
                Pair x = new Pair();
                x.a = Long.parseLong(p[2]);
                x.b = x.a * 2;
                state.update(x);
            } else {
                Pair x = state.value();
                out.collect(x.a + "/" + x.b);
            }
        }
    }

    private KeyedOneInputStreamOperatorTestHarness<String, String, String> h;

    private KeyedOneInputStreamOperatorTestHarness<String, String, String> open(
            String backend, OperatorSubtaskState from) throws Exception {
        h = new KeyedOneInputStreamOperatorTestHarness<>(
                new KeyedProcessOperator<>(new Holder()), v -> v.split(":")[1], Types.STRING);
        h.setStateBackend(backend(backend));
        h.setup();
        if (from != null) h.initializeState(from);
        h.open();
        return h;
    }

    @AfterEach
    void close() throws Exception {
        build = 1;
        if (h != null) h.close();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void stateOfAnEarlierFormatRestoresAndIsRewrittenInTheNewOne(String backend) throws Exception {
        build = 1;
        open(backend, null);
        h.processElement(new StreamRecord<>("put:k1:5", 1));
        h.processElement(new StreamRecord<>("put:k2:6", 1));
        OperatorSubtaskState format1 = h.snapshot(1, 1);
        h.close();

        build = 2;
        open(backend, format1);
        h.processElement(new StreamRecord<>("get:k1", 2));
        h.processElement(new StreamRecord<>("put:k3:7", 2));
        h.processElement(new StreamRecord<>("get:k3", 2));
        assertEquals(List.of("5/105", "7/14"), h.extractOutputValues(), "format 1 read as format 1, new values in 2");
        OperatorSubtaskState format2 = h.snapshot(2, 2);
        h.close();

        // Restored again in the same build: the rewritten state is in format 2 and reads as such.
        open(backend, format2);
        h.processElement(new StreamRecord<>("get:k2", 3));
        h.processElement(new StreamRecord<>("get:k3", 3));
        assertEquals(List.of("6/106", "7/14"), h.extractOutputValues());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void stateOfANewerFormatStopsTheRestoreAndSaysWhy(String backend) throws Exception {
        build = 2;
        open(backend, null);
        h.processElement(new StreamRecord<>("put:k1:5", 1));
        OperatorSubtaskState format2 = h.snapshot(1, 1);
        h.close();
        h = null;

        build = 1;
        Exception e = assertThrows(Exception.class, () -> open(backend, format2));
        StringBuilder messages = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause())
            messages.append(t.getMessage()).append('\n');
        assertTrue(
                messages.toString().contains("is in format 2, this build reads formats 1 to 1"), messages.toString());
    }

    private static StateBackend backend(String name) {
        return name.equals("rocksdb") ? new EmbeddedRocksDBStateBackend() : new HashMapStateBackend();
    }
}
