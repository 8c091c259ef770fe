package io.devicesync.jobs.tools;

import io.devicesync.jobs.Uids;
import io.devicesync.model.Increment;
import io.devicesync.operators.DeviceRecord;
import io.devicesync.operators.GuardState;
import io.devicesync.operators.HeldIncrement;
import io.devicesync.operators.ReconcilerState;
import io.devicesync.operators.serde.Compact;
import io.devicesync.operators.sync.FusedSync;
import io.devicesync.operators.sync.SequenceGuard;
import io.devicesync.operators.sync.StateReconciler;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.runtime.checkpoint.InflightDataRescalingDescriptor;
import org.apache.flink.state.api.OperatorIdentifier;
import org.apache.flink.state.api.OperatorTransformation;
import org.apache.flink.state.api.SavepointReader;
import org.apache.flink.state.api.SavepointWriter;
import org.apache.flink.state.api.StateBootstrapTransformation;
import org.apache.flink.state.api.functions.KeyedStateBootstrapFunction;
import org.apache.flink.state.api.functions.KeyedStateReaderFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.Collector;

/**
 * Rewrites a savepoint of the builds before DeviceSync (the SequenceGuard and the StateReconciler,
 * two keyed operators) into one this build restores: every device's two values become DeviceSync's
 * one, with the guard's early messages, the reconciler's held increments and their order, and the
 * guard's timers (grace and audit) as they were. Every other operator's state (sources' offsets,
 * sinks' transactions, the delivery operators, the AlertPolicy) is copied as it is.
 *
 * <p>What does not carry over, and what takes its place:
 *
 * <ul>
 *   <li>the lookups in flight in the earlier SnapshotLookup (Flink's Async I/O state): a device
 *       that waits for a repair is marked {@code repairPending}, so that its next audit fetches the
 *       repair, as after a failed repair;
 *   <li>the subtask counts of waiting devices (the reconciler's operator state): a waiting device is
 *       counted when next touched, as after a restore from a build that did not keep them, and its
 *       count check (a processing-time timer) is not needed until then.
 * </ul>
 */
public final class StateUpgrade {
    private StateUpgrade() {}

    static final int NONE = 0;
    static final int GUARD = 1;
    static final int RECONCILER = 2;

    private static final TypeInformation<Tuple3<String, Integer, byte[]>> PART =
            Types.TUPLE(Types.STRING, Types.INT, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);

    /** Reads {@code from}, writes {@code to}; a bad argument is an IllegalArgumentException naming it. */
    public static void upgrade(String from, String to, String backend, Duration idleTtl) throws Exception {
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.getExecutionEnvironment(StateInspector.localConfig());
        // The State Processor API copies the other operators' states as Kryo records, and Kryo's
        // default instantiation fails on Flink 2.2's package-private "no rescaling" descriptor in
        // each of them (IllegalAccessError): that one value is written as nothing and read back.
        ((SerializerConfigImpl) env.getConfig().getSerializerConfig())
                .addDefaultKryoSerializer(
                        Class.forName(InflightDataRescalingDescriptor.class.getName() + "$NoRescalingDescriptor"),
                        NoRescaling.class);
        SavepointReader old;
        try {
            old = SavepointReader.read(env, from, StateInspector.backend(backend));
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException(
                    "--savepoint: no savepoint or checkpoint at " + from + " (" + e.getMessage() + ")");
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("--savepoint: cannot read " + from + ": " + e.getMessage(), e);
        }
        DataStream<Tuple3<String, Integer, byte[]>> guards;
        DataStream<Tuple3<String, Integer, byte[]>> reconcilers;
        try {
            guards = old.readKeyedState(
                    OperatorIdentifier.forUid(Uids.SEQUENCE_GUARD), new GuardExport(idleTtl), Types.STRING, PART);
            reconcilers = old.readKeyedState(
                    OperatorIdentifier.forUid(Uids.STATE_RECONCILER),
                    new ReconcilerExport(idleTtl),
                    Types.STRING,
                    PART);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "--savepoint: " + from + " has no state of " + Uids.SEQUENCE_GUARD + " and "
                            + Uids.STATE_RECONCILER
                            + ": not a savepoint of a build before DeviceSync (already upgraded?): "
                            + e.getMessage(),
                    e);
        }
        DataStream<Tuple3<String, Integer, byte[]>> parts = guards.union(reconcilers)
                .filter(t -> t.f1 != NONE)
                .returns(PART)
                .name("Devices of the guard and the reconciler");
        StateBootstrapTransformation<Tuple3<String, Integer, byte[]>> deviceSync = OperatorTransformation.bootstrapWith(
                        parts)
                .keyBy(t -> t.f0, Types.STRING)
                .transform(new DeviceSyncBootstrap(idleTtl));
        SavepointWriter.fromExistingSavepoint(env, from, StateInspector.backend(backend))
                .removeOperator(OperatorIdentifier.forUid(Uids.SEQUENCE_GUARD))
                .removeOperator(OperatorIdentifier.forUid(Uids.STATE_RECONCILER))
                .removeOperator(OperatorIdentifier.forUid(Uids.SNAPSHOT_LOOKUP))
                .withOperator(OperatorIdentifier.forUid(Uids.DEVICE_SYNC), deviceSync)
                .write(to);
        env.execute("devicesync upgrade to DeviceSync");
    }

    /** Kryo's serializer of {@link InflightDataRescalingDescriptor#NO_RESCALE}, a singleton. */
    public static final class NoRescaling extends com.esotericsoftware.kryo.Serializer<Object> {
        @Override
        public void write(com.esotericsoftware.kryo.Kryo kryo, com.esotericsoftware.kryo.io.Output out, Object v) {}

        @Override
        public Object read(com.esotericsoftware.kryo.Kryo kryo, com.esotericsoftware.kryo.io.Input in, Class<?> type) {
            return InflightDataRescalingDescriptor.NO_RESCALE;
        }
    }

    private static SerializerConfigImpl config() {
        return new SerializerConfigImpl();
    }

    /** The guard's value, early messages and event-time timers of each device, as bytes. */
    static final class GuardExport extends KeyedStateReaderFunction<String, Tuple3<String, Integer, byte[]>> {
        private static final long serialVersionUID = 1L;
        private final Duration idleTtl;
        private transient ValueState<GuardState> guard;
        private transient MapState<Long, Increment> held;
        private transient TypeSerializer<GuardState> guardSerializer;
        private transient TypeSerializer<Increment> incrementSerializer;

        GuardExport(Duration idleTtl) {
            this.idleTtl = idleTtl;
        }

        @Override
        public void open(OpenContext ctx) {
            guard = getRuntimeContext().getState(SequenceGuard.deviceDescriptor(idleTtl));
            held = getRuntimeContext().getMapState(SequenceGuard.heldDescriptor(idleTtl));
            guardSerializer = Compact.GUARD_STATE.createSerializer(config());
            incrementSerializer = Compact.INCREMENT.createSerializer(config());
        }

        @Override
        public void readKey(String key, Context ctx, Collector<Tuple3<String, Integer, byte[]>> out) throws Exception {
            GuardState g = guard.value();
            // One record per key, NONE when there is nothing (see StateReaders.Reader#readKey).
            if (g == null) {
                out.collect(Tuple3.of(key, NONE, new byte[0]));
                return;
            }
            DataOutputSerializer o = new DataOutputSerializer(128);
            guardSerializer.serialize(g, o);
            int n = 0;
            for (Increment ignored : held.values()) n++;
            o.writeInt(n);
            for (Increment i : held.values()) incrementSerializer.serialize(i, o);
            var timers = ctx.registeredEventTimeTimers();
            o.writeInt(timers.size());
            for (long t : timers) o.writeLong(t);
            out.collect(Tuple3.of(key, GUARD, o.getCopyOfBuffer()));
        }
    }

    /** The reconciler's value, held increments and their order, of each device, as bytes. */
    static final class ReconcilerExport extends KeyedStateReaderFunction<String, Tuple3<String, Integer, byte[]>> {
        private static final long serialVersionUID = 1L;
        private final Duration idleTtl;
        private transient ValueState<ReconcilerState> device;
        private transient MapState<String, HeldIncrement> held;
        private transient MapState<String, long[]> order;
        private transient TypeSerializer<ReconcilerState> deviceSerializer;
        private transient TypeSerializer<HeldIncrement> heldSerializer;

        ReconcilerExport(Duration idleTtl) {
            this.idleTtl = idleTtl;
        }

        @Override
        public void open(OpenContext ctx) {
            device = getRuntimeContext().getState(StateReconciler.deviceDescriptor(idleTtl));
            held = getRuntimeContext().getMapState(StateReconciler.heldDescriptor(idleTtl));
            order = getRuntimeContext().getMapState(StateReconciler.heldOrderDescriptor(idleTtl));
            deviceSerializer = Compact.RECONCILER_STATE.createSerializer(config());
            heldSerializer = TypeInformation.of(HeldIncrement.class).createSerializer(config());
        }

        @Override
        public void readKey(String key, Context ctx, Collector<Tuple3<String, Integer, byte[]>> out) throws Exception {
            ReconcilerState s = device.value();
            if (s == null) {
                out.collect(Tuple3.of(key, NONE, new byte[0]));
                return;
            }
            DataOutputSerializer o = new DataOutputSerializer(256);
            deviceSerializer.serialize(s, o);
            int n = 0;
            for (Map.Entry<String, HeldIncrement> ignored : held.entries()) n++;
            o.writeInt(n);
            for (Map.Entry<String, HeldIncrement> e : held.entries()) {
                o.writeUTF(e.getKey());
                heldSerializer.serialize(e.getValue(), o);
            }
            int m = 0;
            for (Map.Entry<String, long[]> ignored : order.entries()) m++;
            o.writeInt(m);
            for (Map.Entry<String, long[]> e : order.entries()) {
                o.writeUTF(e.getKey());
                o.writeInt(e.getValue().length);
                for (long v : e.getValue()) o.writeLong(v);
            }
            out.collect(Tuple3.of(key, RECONCILER, o.getCopyOfBuffer()));
        }
    }

    /** Writes each device's parts as DeviceSync keeps them. */
    static final class DeviceSyncBootstrap
            extends KeyedStateBootstrapFunction<String, Tuple3<String, Integer, byte[]>> {
        private static final long serialVersionUID = 1L;
        private final Duration idleTtl;
        private transient ValueState<DeviceRecord> device;
        private transient MapState<Long, Increment> guardHeld;
        private transient MapState<String, HeldIncrement> held;
        private transient MapState<String, long[]> order;
        private transient TypeSerializer<GuardState> guardSerializer;
        private transient TypeSerializer<Increment> incrementSerializer;
        private transient TypeSerializer<ReconcilerState> reconcilerSerializer;
        private transient TypeSerializer<HeldIncrement> heldSerializer;

        DeviceSyncBootstrap(Duration idleTtl) {
            this.idleTtl = idleTtl;
        }

        @Override
        public void open(OpenContext ctx) {
            device = getRuntimeContext().getState(FusedSync.deviceDescriptor(idleTtl));
            guardHeld = getRuntimeContext().getMapState(SequenceGuard.heldDescriptor(idleTtl));
            held = getRuntimeContext().getMapState(StateReconciler.heldDescriptor(idleTtl));
            order = getRuntimeContext().getMapState(StateReconciler.heldOrderDescriptor(idleTtl));
            guardSerializer = Compact.GUARD_STATE.createSerializer(config());
            incrementSerializer = Compact.INCREMENT.createSerializer(config());
            reconcilerSerializer = Compact.RECONCILER_STATE.createSerializer(config());
            heldSerializer = TypeInformation.of(HeldIncrement.class).createSerializer(config());
        }

        @Override
        public void processElement(Tuple3<String, Integer, byte[]> part, Context ctx) throws Exception {
            DeviceRecord r = device.value();
            if (r == null) r = new DeviceRecord();
            DataInputDeserializer in = new DataInputDeserializer(part.f2);
            if (part.f1 == GUARD) {
                r.guard = guardSerializer.deserialize(in);
                for (int n = in.readInt(); n > 0; n--) {
                    Increment i = incrementSerializer.deserialize(in);
                    guardHeld.put(i.seq, i);
                }
                for (int n = in.readInt(); n > 0; n--) ctx.timerService().registerEventTimeTimer(in.readLong());
            } else {
                ReconcilerState s = reconcilerSerializer.deserialize(in);
                // Not in this savepoint's counts of waiting devices: counted when next touched.
                s.countedWaiting = false;
                r.reconciler = s;
                for (int n = in.readInt(); n > 0; n--) held.put(in.readUTF(), heldSerializer.deserialize(in));
                for (int n = in.readInt(); n > 0; n--) {
                    String k = in.readUTF();
                    long[] v = new long[in.readInt()];
                    for (int j = 0; j < v.length; j++) v[j] = in.readLong();
                    order.put(k, v);
                }
            }
            if (part.f1 == GUARD) {
                // The device's lookups in flight in the earlier SnapshotLookup are not in this
                // savepoint: none is in flight now, so a gap may be asked for again.
                r.guard.requestedEpoch = -1;
                r.guard.requestedSeq = 0;
            }
            // A device waiting for a repair: its next audit fetches the repair, as after a failed
            // one; a quiet one without an audit gets one, due at once.
            if (r.guard != null && r.reconciler != null && r.reconciler.heldCount > 0 && !r.guard.repairPending) {
                r.guard.repairPending = true;
                if (r.guard.auditTimer == 0) {
                    r.guard.auditTimer = Math.max(1, r.guard.lastSeen);
                    ctx.timerService().registerEventTimeTimer(r.guard.auditTimer);
                }
            }
            device.update(r);
        }
    }
}
