package io.devicesync.jobs.tools;

import com.fasterxml.jackson.core.JsonGenerator;
import io.devicesync.jobs.Uids;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.devicesync.operators.DeviceRecord;
import io.devicesync.operators.GuardState;
import io.devicesync.operators.HeldIncrement;
import io.devicesync.operators.ReconcilerState;
import io.devicesync.operators.delivery.ConsumerTrack;
import io.devicesync.operators.delivery.DeliveryCodec;
import io.devicesync.operators.delivery.DeliveryState;
import io.devicesync.operators.delivery.DeliveryTracker;
import io.devicesync.operators.sync.FusedSync;
import io.devicesync.operators.sync.SequenceGuard;
import io.devicesync.operators.sync.StateReconciler;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.state.api.functions.KeyedStateReaderFunction;
import org.apache.flink.util.Collector;

/**
 * The {@link KeyedStateReaderFunction}s of the job's keyed operators. Each registers its operator's
 * state with the operator's own descriptors ({@link SequenceGuard#deviceDescriptor} and the like:
 * same names, serializers and TTL) and emits, per device, (uid, bytes, JSON): the bytes of the
 * device's values as the operator's serializers write them (keys of its map states included; the
 * device's key and the TTL timestamps not), and, for the one device asked for, its state as JSON.
 * A device whose every value has expired (TTL) is not emitted: the job would not see it either.
 */
final class StateReaders {
    private StateReaders() {}

    /** Whether a record of a reader reports a device (not the placeholder of a key with nothing to report). */
    static boolean isSome(Tuple3<String, Long, String> t) {
        return t.f1 >= 0;
    }

    static KeyedStateReaderFunction<String, Tuple3<String, Long, String>> forUid(
            String uid, String device, Duration idleTtl) {
        switch (uid) {
            case Uids.DEVICE_SYNC:
                return new DeviceSyncReader(device, idleTtl);
            case Uids.SEQUENCE_GUARD:
                return new GuardReader(device, idleTtl);
            case Uids.STATE_RECONCILER:
                return new ReconcilerReader(device, idleTtl);
            case Uids.DELIVERY_TRACKER:
                return new TrackerReader(device, idleTtl);
            default:
                throw new IllegalArgumentException("no reader for " + uid);
        }
    }

    /** Reads one operator; only the asked device's JSON is built (null device: sizes only). */
    abstract static class Reader extends KeyedStateReaderFunction<String, Tuple3<String, Long, String>> {
        private static final long serialVersionUID = 1L;
        final String uid;
        final String device;
        final Duration idleTtl;
        private transient DataOutputSerializer buffer;

        Reader(String uid, String device, Duration idleTtl) {
            this.uid = uid;
            this.device = device;
            this.idleTtl = idleTtl;
        }

        @Override
        public void open(OpenContext ctx) throws Exception {
            buffer = new DataOutputSerializer(256);
            register();
        }

        abstract void register() throws Exception;

        /** The device's bytes; 0 when it holds nothing (every value expired). */
        abstract long size() throws Exception;

        abstract void json(JsonGenerator g, String key, Context ctx) throws Exception;

        @Override
        public void readKey(String key, Context ctx, Collector<Tuple3<String, Long, String>> out) throws Exception {
            // Exactly one record per key, NONE for a key not asked for or whose values all
            // expired: a key without output makes the 2.2 input format hand Flink's source a null
            // record, which fails the read (InputFormatSource does not skip it).
            if (device != null && !device.equals(key)) {
                out.collect(none());
                return;
            }
            long size = size();
            if (size == 0) {
                out.collect(none());
                return;
            }
            String json = device == null
                    ? ""
                    : new String(
                            Json.write(g -> {
                                try {
                                    json(g, key, ctx);
                                } catch (IOException e) {
                                    throw e;
                                } catch (Exception e) {
                                    throw new IOException(e);
                                }
                            }),
                            java.nio.charset.StandardCharsets.UTF_8);
            out.collect(Tuple3.of(uid, size, json));
        }

        /** The placeholder of a key with nothing to report (filtered out after the read: {@link #isSome}). */
        private Tuple3<String, Long, String> none() {
            return Tuple3.of(uid, -1L, "");
        }

        <T> long bytes(TypeSerializer<T> serializer, T value) throws IOException {
            if (value == null) return 0;
            buffer.clear();
            serializer.serialize(value, buffer);
            return buffer.length();
        }

        <K, V> long bytes(MapState<K, V> map, TypeSerializer<K> keys, TypeSerializer<V> values) throws Exception {
            long n = 0;
            for (Map.Entry<K, V> e : map.entries()) n += bytes(keys, e.getKey()) + bytes(values, e.getValue());
            return n;
        }

        static void timers(JsonGenerator g, Context ctx) throws Exception {
            g.writeArrayFieldStart("eventTimeTimers");
            for (long t : new TreeSet<>(ctx.registeredEventTimeTimers())) g.writeNumber(t);
            g.writeEndArray();
            TreeSet<Long> processing = new TreeSet<>(ctx.registeredProcessingTimeTimers());
            if (!processing.isEmpty()) {
                g.writeArrayFieldStart("processingTimeTimers");
                for (long t : processing) g.writeNumber(t);
                g.writeEndArray();
            }
        }
    }

    /** The guard's value as JSON (null: none). */
    static void guard(JsonGenerator g, GuardState s) throws IOException {
        if (s == null) {
            g.writeNull();
            return;
        }
        g.writeStartObject();
        g.writeNumberField("epoch", s.epoch);
        g.writeNumberField("seq", s.seq);
        g.writeNumberField("graceTimer", s.graceTimer);
        g.writeNumberField("heldCount", s.heldCount);
        g.writeNumberField("requestedEpoch", s.requestedEpoch);
        g.writeNumberField("requestedSeq", s.requestedSeq);
        g.writeNumberField("auditTimer", s.auditTimer);
        g.writeBooleanField("active", s.active);
        g.writeBooleanField("repairPending", s.repairPending);
        g.writeBooleanField("recheck", s.recheck);
        g.writeNumberField("rechecks", s.rechecks);
        g.writeNumberField("lastSeen", s.lastSeen);
        g.writeEndObject();
    }

    /** The guard's early messages, in version order, as the field {@code guardHeld}. */
    static void guardHeld(JsonGenerator g, MapState<Long, Increment> held) throws Exception {
        List<Increment> increments = new ArrayList<>();
        for (Increment i : held.values()) increments.add(i);
        increments.sort(Comparator.comparingLong((Increment i) -> i.epoch).thenComparingLong(i -> i.seq));
        g.writeArrayFieldStart(SequenceGuard.HELD);
        for (Increment i : increments) increment(g, i);
        g.writeEndArray();
    }

    /** The reconciler's value as JSON (null: none). */
    static void reconciler(JsonGenerator g, ReconcilerState s) throws IOException {
        if (s == null) {
            g.writeNull();
            return;
        }
        g.writeStartObject();
        g.writeBooleanField("published", s.published);
        g.writeNumberField("epoch", s.epoch);
        g.writeNumberField("seq", s.seq);
        g.writeNumberField("ts", s.ts);
        g.writeFieldName("document");
        if (s.state == null) g.writeNull();
        else Json.writeRaw(g, s.state);
        g.writeNumberField("heldCount", s.heldCount);
        g.writeFieldName("heldFirst");
        version(g, s.heldFirstEpoch, s.heldFirstSeq);
        g.writeFieldName("heldLast");
        version(g, s.heldLastEpoch, s.heldLastSeq);
        g.writeNumberField("waitingSince", s.waitingSince);
        g.writeBooleanField("overflowed", s.overflowed);
        g.writeNumberField("failures", s.failures);
        g.writeBooleanField("oversized", s.oversized);
        g.writeBooleanField("tooLargeToKeep", s.tooLargeToKeep);
        g.writeEndObject();
    }

    /** The increments waiting for a repair and their order, as the fields {@code reconcilerHeld} and {@code reconcilerHeldOrder}. */
    static void reconcilerHeld(JsonGenerator g, MapState<String, HeldIncrement> held, MapState<String, long[]> order)
            throws Exception {
        List<HeldIncrement> increments = new ArrayList<>();
        for (HeldIncrement h : held.values()) increments.add(h);
        increments.sort(Comparator.comparingLong((HeldIncrement h) -> h.increment.epoch)
                .thenComparingLong(h -> h.increment.seq));
        g.writeArrayFieldStart(StateReconciler.HELD);
        for (HeldIncrement h : increments) {
            g.writeStartObject();
            g.writeStringField("source", h.source);
            g.writeFieldName("increment");
            increment(g, h.increment);
            g.writeEndObject();
        }
        g.writeEndArray();
        java.util.TreeMap<String, long[]> links = new java.util.TreeMap<>();
        for (Map.Entry<String, long[]> e : order.entries()) links.put(e.getKey(), e.getValue());
        g.writeObjectFieldStart(StateReconciler.HELD_ORDER);
        for (Map.Entry<String, long[]> e : links.entrySet()) {
            g.writeFieldName(e.getKey());
            g.writeArray(e.getValue(), 0, e.getValue().length);
        }
        g.writeEndObject();
    }

    /**
     * The fused step (DeviceSync): {@code device} (the guard's and the reconciler's values in one),
     * the guard's early messages, the increments waiting for a repair and their order, its timers.
     */
    static final class DeviceSyncReader extends Reader {
        private static final long serialVersionUID = 1L;
        private transient ValueState<DeviceRecord> device;
        private transient MapState<Long, Increment> guardHeld;
        private transient MapState<String, HeldIncrement> held;
        private transient MapState<String, long[]> order;
        private transient TypeSerializer<DeviceRecord> deviceSerializer;
        private transient TypeSerializer<Long> seqSerializer;
        private transient TypeSerializer<Increment> incrementSerializer;
        private transient TypeSerializer<String> keySerializer;
        private transient TypeSerializer<HeldIncrement> heldSerializer;
        private transient TypeSerializer<long[]> orderSerializer;

        DeviceSyncReader(String device, Duration idleTtl) {
            super(Uids.DEVICE_SYNC, device, idleTtl);
        }

        @Override
        void register() {
            device = getRuntimeContext().getState(FusedSync.deviceDescriptor(idleTtl));
            guardHeld = getRuntimeContext().getMapState(SequenceGuard.heldDescriptor(idleTtl));
            held = getRuntimeContext().getMapState(StateReconciler.heldDescriptor(idleTtl));
            order = getRuntimeContext().getMapState(StateReconciler.heldOrderDescriptor(idleTtl));
            SerializerConfigImpl config = new SerializerConfigImpl();
            deviceSerializer = io.devicesync.operators.serde.Compact.DEVICE_RECORD.createSerializer(config);
            seqSerializer = org.apache.flink.api.common.typeinfo.Types.LONG.createSerializer(config);
            incrementSerializer = io.devicesync.operators.serde.Compact.INCREMENT.createSerializer(config);
            keySerializer = org.apache.flink.api.common.typeinfo.Types.STRING.createSerializer(config);
            heldSerializer = org.apache.flink.api.common.typeinfo.TypeInformation.of(HeldIncrement.class)
                    .createSerializer(config);
            orderSerializer =
                    org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO
                            .createSerializer(config);
        }

        @Override
        long size() throws Exception {
            return bytes(deviceSerializer, device.value())
                    + bytes(guardHeld, seqSerializer, incrementSerializer)
                    + bytes(held, keySerializer, heldSerializer)
                    + bytes(order, keySerializer, orderSerializer);
        }

        @Override
        void json(JsonGenerator g, String key, Context ctx) throws Exception {
            DeviceRecord r = device.value();
            g.writeStartObject();
            g.writeObjectFieldStart(FusedSync.DEVICE);
            g.writeFieldName("guard");
            guard(g, r == null ? null : r.guard);
            g.writeFieldName("reconciler");
            reconciler(g, r == null ? null : r.reconciler);
            g.writeEndObject();
            guardHeld(g, guardHeld);
            reconcilerHeld(g, held, order);
            timers(g, ctx);
            g.writeEndObject();
        }
    }

    /** The SequenceGuard: {@code guard} (the last forwarded version and the schedule) and {@code guardHeld}. */
    static final class GuardReader extends Reader {
        private static final long serialVersionUID = 1L;
        private transient ValueState<GuardState> guard;
        private transient MapState<Long, Increment> held;
        private transient TypeSerializer<GuardState> guardSerializer;
        private transient TypeSerializer<Long> seqSerializer;
        private transient TypeSerializer<Increment> incrementSerializer;

        GuardReader(String device, Duration idleTtl) {
            super(Uids.SEQUENCE_GUARD, device, idleTtl);
        }

        @Override
        void register() {
            ValueStateDescriptor<GuardState> d = SequenceGuard.deviceDescriptor(idleTtl);
            MapStateDescriptor<Long, Increment> h = SequenceGuard.heldDescriptor(idleTtl);
            guard = getRuntimeContext().getState(d);
            held = getRuntimeContext().getMapState(h);
            SerializerConfigImpl config = new SerializerConfigImpl();
            guardSerializer = io.devicesync.operators.serde.Compact.GUARD_STATE.createSerializer(config);
            seqSerializer = org.apache.flink.api.common.typeinfo.Types.LONG.createSerializer(config);
            incrementSerializer = io.devicesync.operators.serde.Compact.INCREMENT.createSerializer(config);
        }

        @Override
        long size() throws Exception {
            return bytes(guardSerializer, guard.value()) + bytes(held, seqSerializer, incrementSerializer);
        }

        @Override
        void json(JsonGenerator g, String key, Context ctx) throws Exception {
            g.writeStartObject();
            g.writeFieldName(SequenceGuard.DEVICE);
            guard(g, guard.value());
            guardHeld(g, held);
            timers(g, ctx);
            g.writeEndObject();
        }
    }

    /** The StateReconciler: {@code reconciler} (the published version and document), {@code reconcilerHeld}, {@code reconcilerHeldOrder}. */
    static final class ReconcilerReader extends Reader {
        private static final long serialVersionUID = 1L;
        private transient ValueState<ReconcilerState> device;
        private transient MapState<String, HeldIncrement> held;
        private transient MapState<String, long[]> order;
        private transient TypeSerializer<ReconcilerState> deviceSerializer;
        private transient TypeSerializer<String> keySerializer;
        private transient TypeSerializer<HeldIncrement> heldSerializer;
        private transient TypeSerializer<long[]> orderSerializer;

        ReconcilerReader(String device, Duration idleTtl) {
            super(Uids.STATE_RECONCILER, device, idleTtl);
        }

        @Override
        void register() {
            ValueStateDescriptor<ReconcilerState> d = StateReconciler.deviceDescriptor(idleTtl);
            MapStateDescriptor<String, HeldIncrement> h = StateReconciler.heldDescriptor(idleTtl);
            MapStateDescriptor<String, long[]> o = StateReconciler.heldOrderDescriptor(idleTtl);
            device = getRuntimeContext().getState(d);
            held = getRuntimeContext().getMapState(h);
            order = getRuntimeContext().getMapState(o);
            SerializerConfigImpl config = new SerializerConfigImpl();
            deviceSerializer = io.devicesync.operators.serde.Compact.RECONCILER_STATE.createSerializer(config);
            keySerializer = org.apache.flink.api.common.typeinfo.Types.STRING.createSerializer(config);
            heldSerializer = org.apache.flink.api.common.typeinfo.TypeInformation.of(HeldIncrement.class)
                    .createSerializer(config);
            orderSerializer =
                    org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO
                            .createSerializer(config);
        }

        @Override
        long size() throws Exception {
            return bytes(deviceSerializer, device.value())
                    + bytes(held, keySerializer, heldSerializer)
                    + bytes(order, keySerializer, orderSerializer);
        }

        @Override
        void json(JsonGenerator g, String key, Context ctx) throws Exception {
            g.writeStartObject();
            g.writeFieldName(StateReconciler.DEVICE);
            reconciler(g, device.value());
            reconcilerHeld(g, held, order);
            g.writeEndObject();
        }
    }

    /** The DeliveryTracker: {@code delivery} and {@code delivery-latest} (DeliveryCodec's serializers). */
    static final class TrackerReader extends Reader {
        private static final long serialVersionUID = 1L;
        private transient ValueState<DeliveryState> state;
        private transient ValueState<DeviceState> latest;

        TrackerReader(String device, Duration idleTtl) {
            super(Uids.DELIVERY_TRACKER, device, idleTtl);
        }

        @Override
        void register() {
            state = getRuntimeContext().getState(DeliveryTracker.stateDescriptor(idleTtl));
            latest = getRuntimeContext().getState(DeliveryTracker.latestDescriptor(idleTtl));
        }

        @Override
        long size() throws Exception {
            return bytes(DeliveryCodec.STATE_SERIALIZER, DeliveryTracker.stateOf(state))
                    + bytes(DeliveryCodec.LATEST_SERIALIZER, DeliveryTracker.latestOf(latest, null));
        }

        @Override
        void json(JsonGenerator g, String key, Context ctx) throws Exception {
            DeliveryState s = DeliveryTracker.stateOf(state);
            DeviceState l = DeliveryTracker.latestOf(latest, key);
            g.writeStartObject();
            g.writeFieldName(DeliveryTracker.STATE);
            if (s == null) {
                g.writeNull();
            } else {
                g.writeStartObject();
                g.writeBooleanField("published", s.published);
                g.writeNumberField("epoch", s.epoch);
                g.writeNumberField("seq", s.seq);
                g.writeNumberField("timer", s.timer);
                g.writeBooleanField("latestStored", s.latestStored);
                g.writeNumberField("forgetAt", s.forgetAt);
                g.writeArrayFieldStart("publications");
                for (int i = 0; i < s.pubSeq.length; i++) {
                    g.writeStartObject();
                    g.writeNumberField("epoch", s.pubEpoch[i]);
                    g.writeNumberField("seq", s.pubSeq[i]);
                    g.writeNumberField("at", s.pubAt[i]);
                    g.writeEndObject();
                }
                g.writeEndArray();
                g.writeArrayFieldStart("consumers");
                for (ConsumerTrack c : s.consumers) {
                    g.writeStartObject();
                    g.writeStringField("name", c.name);
                    g.writeStringField("status", c.status.name());
                    g.writeFieldName("acked");
                    if (c.ackSeq < 0) g.writeNull();
                    else version(g, c.ackEpoch, c.ackSeq);
                    g.writeFieldName("firstUnacknowledged");
                    if (c.status == ConsumerTrack.Status.IDLE) g.writeNull();
                    else version(g, c.firstEpoch, c.firstSeq);
                    g.writeNumberField("firstPublishedAt", c.firstAt);
                    g.writeNumberField("due", c.due);
                    g.writeNumberField("attempt", c.attempt);
                    g.writeNumberField("attemptDue", c.attemptDue);
                    g.writeFieldName("lastDue");
                    version(g, c.lastDueEpoch, c.lastDueSeq);
                    g.writeEndObject();
                }
                g.writeEndArray();
                g.writeEndObject();
            }
            g.writeFieldName(DeliveryTracker.LATEST);
            if (l == null) {
                g.writeNull();
            } else {
                g.writeStartObject();
                g.writeNumberField("epoch", l.epoch);
                g.writeNumberField("seq", l.seq);
                g.writeNumberField("ts", l.ts);
                g.writeStringField("source", l.source);
                g.writeFieldName("state");
                Json.writeRaw(g, l.state);
                g.writeEndObject();
            }
            timers(g, ctx);
            g.writeEndObject();
        }
    }

    static void increment(JsonGenerator g, Increment i) throws IOException {
        g.writeStartObject();
        g.writeNumberField("epoch", i.epoch);
        g.writeNumberField("seq", i.seq);
        g.writeNumberField("ts", i.ts);
        g.writeFieldName("data");
        if (i.data == null) g.writeNull();
        else Json.writeRaw(g, i.data);
        g.writeEndObject();
    }

    /** A version as {@code {"epoch":e,"seq":s}}. */
    static void version(JsonGenerator g, long epoch, long seq) throws IOException {
        g.writeStartObject();
        g.writeNumberField("epoch", epoch);
        g.writeNumberField("seq", seq);
        g.writeEndObject();
    }
}
