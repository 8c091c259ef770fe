package io.devicesync.operators.serde;

import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.RecordSource;
import io.devicesync.operators.GuardState;
import io.devicesync.operators.ReconcilerState;
import java.io.IOException;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The type information of the types every event crosses: increments on the two keyed exchanges,
 * published versions on the way to the sinks and the tracker, and the guard's and reconciler's one
 * state value per device. Each is written field by field (see {@link CompactSerializer}); the
 * profile of the benchmark showed Flink's POJO serializer (reflection, a null flag per field) among
 * the largest costs of both keyed operators.
 */
public final class Compact {
    private Compact() {}

    public static final TypeInformation<Increment> INCREMENT =
            new CompactTypeInfo<>(Increment.class, new IncrementSerializer());
    public static final TypeInformation<DeviceState> DEVICE_STATE =
            new CompactTypeInfo<>(DeviceState.class, new DeviceStateSerializer());
    public static final TypeInformation<GuardState> GUARD_STATE =
            new CompactTypeInfo<>(GuardState.class, new GuardStateSerializer());
    public static final TypeInformation<ReconcilerState> RECONCILER_STATE =
            new CompactTypeInfo<>(ReconcilerState.class, new ReconcilerStateSerializer());
    public static final TypeInformation<io.devicesync.operators.DeviceRecord> DEVICE_RECORD =
            new CompactTypeInfo<>(io.devicesync.operators.DeviceRecord.class, new DeviceRecordSerializer());

    /** Prototype: the guard's value, then a flag and the reconciler's. */
    public static final class DeviceRecordSerializer extends CompactSerializer<io.devicesync.operators.DeviceRecord> {
        private static final long serialVersionUID = 1L;
        public static final int FORMAT = 1;
        /** Its parts' formats in each of its formats (index: the format); bump FORMAT when a part's changes. */
        private static final int[][] PARTS = {null, {1, 1}};

        private final GuardStateSerializer guard;
        private final ReconcilerStateSerializer reconciler;

        public DeviceRecordSerializer() {
            this(FORMAT);
        }

        /** Reads {@code format} (its parts in the formats it had); writes {@link #FORMAT}. */
        public DeviceRecordSerializer(int format) {
            super(format);
            this.guard = new GuardStateSerializer(PARTS[format][0]);
            this.reconciler = new ReconcilerStateSerializer(PARTS[format][1]);
        }

        @Override
        protected void write(io.devicesync.operators.DeviceRecord d, DataOutputView out) throws IOException {
            out.writeByte((d.guard != null ? 1 : 0) | (d.reconciler != null ? 2 : 0));
            if (d.guard != null) guard.write(d.guard, out);
            if (d.reconciler != null) reconciler.write(d.reconciler, out);
        }

        @Override
        protected io.devicesync.operators.DeviceRecord read(DataInputView in) throws IOException {
            var d = new io.devicesync.operators.DeviceRecord();
            int flags = in.readByte();
            if ((flags & 1) != 0) d.guard = guard.read(in);
            if ((flags & 2) != 0) d.reconciler = reconciler.read(in);
            return d;
        }

        @Override
        public io.devicesync.operators.DeviceRecord createInstance() {
            return new io.devicesync.operators.DeviceRecord();
        }

        @Override
        public io.devicesync.operators.DeviceRecord copy(io.devicesync.operators.DeviceRecord from) {
            var d = new io.devicesync.operators.DeviceRecord();
            d.guard = from.guard == null ? null : guard.copy(from.guard);
            d.reconciler = from.reconciler == null ? null : reconciler.copy(from.reconciler);
            return d;
        }

        @Override
        public TypeSerializerSnapshot<io.devicesync.operators.DeviceRecord> snapshotConfiguration() {
            return new DeviceRecordSnapshot().describing(format);
        }
    }

    public static final class DeviceRecordSnapshot extends CompactSnapshot<io.devicesync.operators.DeviceRecord> {
        public DeviceRecordSnapshot() {
            super(DeviceRecordSerializer.FORMAT, DeviceRecordSerializer::new);
        }
    }

    public static final class IncrementSerializer extends CompactSerializer<Increment> {
        private static final long serialVersionUID = 1L;
        /** The format this build writes. */
        public static final int FORMAT = 1;

        public IncrementSerializer() {
            this(FORMAT);
        }

        /** Reads {@code format} (of a restored snapshot); writes {@link #FORMAT}. */
        public IncrementSerializer(int format) {
            super(format);
        }

        private static final int FORGET = 1;
        private static final int SEED = 2;

        @Override
        protected void write(Increment i, DataOutputView out) throws IOException {
            writeString(i.deviceId, out);
            out.writeLong(i.epoch);
            out.writeLong(i.seq);
            out.writeLong(i.ts);
            writeBytes(i.data, out);
            // One byte of flags, the type: 1 a forget marker, 2 a bootstrap seed (neither is ever
            // in state), 0 an increment (held increments of earlier builds read as before).
            out.writeByte((i instanceof Increment.Forget ? FORGET : 0) | (i instanceof Increment.Seed ? SEED : 0));
        }

        @Override
        protected Increment read(DataInputView in) throws IOException {
            String deviceId = readString(in);
            long epoch = in.readLong();
            long seq = in.readLong();
            long ts = in.readLong();
            byte[] data = readBytes(in);
            byte flags = in.readByte();
            if ((flags & FORGET) != 0) return new Increment.Forget(deviceId, epoch, seq, ts, data);
            if ((flags & SEED) != 0) return new Increment.Seed(deviceId, epoch, seq, ts, data);
            return new Increment(deviceId, epoch, seq, ts, data);
        }

        @Override
        public Increment createInstance() {
            return new Increment();
        }

        @Override
        public Increment copy(Increment from) {
            if (from instanceof Increment.Forget)
                return new Increment.Forget(from.deviceId, from.epoch, from.seq, from.ts, from.data);
            if (from instanceof Increment.Seed)
                return new Increment.Seed(from.deviceId, from.epoch, from.seq, from.ts, from.data);
            return new Increment(from.deviceId, from.epoch, from.seq, from.ts, from.data);
        }

        @Override
        public TypeSerializerSnapshot<Increment> snapshotConfiguration() {
            return new IncrementSnapshot().describing(format);
        }
    }

    public static final class IncrementSnapshot extends CompactSnapshot<Increment> {
        public IncrementSnapshot() {
            super(IncrementSerializer.FORMAT, IncrementSerializer::new);
        }
    }

    public static final class DeviceStateSerializer extends CompactSerializer<DeviceState> {
        private static final long serialVersionUID = 1L;
        /** The format this build writes. */
        public static final int FORMAT = 1;

        public DeviceStateSerializer() {
            this(FORMAT);
        }

        /** Reads {@code format} (of a restored snapshot); writes {@link #FORMAT}. */
        public DeviceStateSerializer(int format) {
            super(format);
        }

        @Override
        protected void write(DeviceState s, DataOutputView out) throws IOException {
            writeString(s.deviceId, out);
            out.writeLong(s.epoch);
            out.writeLong(s.seq);
            out.writeLong(s.ts);
            writeBytes(s.state, out);
            writeString(s.source, out);
        }

        @Override
        protected DeviceState read(DataInputView in) throws IOException {
            DeviceState s =
                    new DeviceState(readString(in), in.readLong(), in.readLong(), in.readLong(), readBytes(in), null);
            s.source = RecordSource.canonical(readString(in));
            return s;
        }

        @Override
        public DeviceState createInstance() {
            return new DeviceState();
        }

        @Override
        public DeviceState copy(DeviceState from) {
            DeviceState s = new DeviceState(from.deviceId, from.epoch, from.seq, from.ts, from.state, null);
            s.source = from.source;
            return s;
        }

        @Override
        public TypeSerializerSnapshot<DeviceState> snapshotConfiguration() {
            return new DeviceStateSnapshot().describing(format);
        }
    }

    public static final class DeviceStateSnapshot extends CompactSnapshot<DeviceState> {
        public DeviceStateSnapshot() {
            super(DeviceStateSerializer.FORMAT, DeviceStateSerializer::new);
        }
    }

    public static final class GuardStateSerializer extends CompactSerializer<GuardState> {
        private static final long serialVersionUID = 1L;
        /** The format this build writes. */
        public static final int FORMAT = 1;

        public GuardStateSerializer() {
            this(FORMAT);
        }

        /** Reads {@code format} (of a restored snapshot); writes {@link #FORMAT}. */
        public GuardStateSerializer(int format) {
            super(format);
        }

        @Override
        protected void write(GuardState g, DataOutputView out) throws IOException {
            writeVarLong(g.epoch, out);
            writeVarLong(g.seq, out);
            writeVarLong(g.graceTimer, out);
            writeVarLong(g.heldCount, out);
            writeVarLong(g.requestedEpoch, out);
            writeVarLong(g.requestedSeq, out);
            writeVarLong(g.auditTimer, out);
            out.writeByte((g.active ? 1 : 0) | (g.repairPending ? 2 : 0) | (g.recheck ? 4 : 0));
            writeVarLong(g.rechecks, out);
            writeVarLong(g.lastSeen, out);
        }

        @Override
        protected GuardState read(DataInputView in) throws IOException {
            GuardState g = new GuardState();
            g.epoch = readVarLong(in);
            g.seq = readVarLong(in);
            g.graceTimer = readVarLong(in);
            g.heldCount = (int) readVarLong(in);
            g.requestedEpoch = readVarLong(in);
            g.requestedSeq = readVarLong(in);
            g.auditTimer = readVarLong(in);
            int flags = in.readByte();
            g.active = (flags & 1) != 0;
            g.repairPending = (flags & 2) != 0;
            g.recheck = (flags & 4) != 0;
            // Bit 8 (an audit moved after a jump) is no longer used: the moved timer says so itself.
            g.rechecks = (int) readVarLong(in);
            g.lastSeen = readVarLong(in);
            return g;
        }

        @Override
        public GuardState createInstance() {
            return new GuardState();
        }

        @Override
        public GuardState copy(GuardState from) {
            GuardState g = new GuardState();
            g.epoch = from.epoch;
            g.seq = from.seq;
            g.graceTimer = from.graceTimer;
            g.heldCount = from.heldCount;
            g.requestedEpoch = from.requestedEpoch;
            g.requestedSeq = from.requestedSeq;
            g.auditTimer = from.auditTimer;
            g.active = from.active;
            g.repairPending = from.repairPending;
            g.recheck = from.recheck;
            g.rechecks = from.rechecks;
            g.lastSeen = from.lastSeen;
            return g;
        }

        @Override
        public TypeSerializerSnapshot<GuardState> snapshotConfiguration() {
            return new GuardStateSnapshot().describing(format);
        }
    }

    public static final class GuardStateSnapshot extends CompactSnapshot<GuardState> {
        public GuardStateSnapshot() {
            super(GuardStateSerializer.FORMAT, GuardStateSerializer::new);
        }
    }

    /**
     * The reconciler's value: a flags byte, the published version and document, the held count,
     * the waiting time, the failures; then, only when the flags say so, the oldest and newest held
     * versions. A value of the build before those and the too-large-to-keep flag (commit 8f4564d)
     * has those flags clear and reads as one with nothing recorded (the reconciler rebuilds the
     * order from the held increments) and not too large to keep: the same snapshot class reads
     * both, and savepoints of that build restore as they are.
     */
    public static final class ReconcilerStateSerializer extends CompactSerializer<ReconcilerState> {
        private static final long serialVersionUID = 1L;
        /** The format this build writes. */
        public static final int FORMAT = 1;

        public ReconcilerStateSerializer() {
            this(FORMAT);
        }

        /** Reads {@code format} (of a restored snapshot); writes {@link #FORMAT}. */
        public ReconcilerStateSerializer(int format) {
            super(format);
        }
        /** Flag: the held buffer's oldest and newest versions follow. */
        private static final int HELD_ORDER = 8;
        /** Flag: {@link ReconcilerState#tooLargeToKeep}. */
        private static final int TOO_LARGE_TO_KEEP = 16;
        /** Flag: {@link ReconcilerState#countedWaiting} (clear in the builds before it: not counted). */
        private static final int COUNTED_WAITING = 32;

        @Override
        protected void write(ReconcilerState s, DataOutputView out) throws IOException {
            boolean order = s.heldFirstEpoch != 0 || s.heldFirstSeq != 0 || s.heldLastEpoch != 0 || s.heldLastSeq != 0;
            out.writeByte((s.published ? 1 : 0)
                    | (s.overflowed ? 2 : 0)
                    | (s.oversized ? 4 : 0)
                    | (order ? HELD_ORDER : 0)
                    | (s.tooLargeToKeep ? TOO_LARGE_TO_KEEP : 0)
                    | (s.countedWaiting ? COUNTED_WAITING : 0));
            writeVarLong(s.epoch, out);
            writeVarLong(s.seq, out);
            writeVarLong(s.ts, out);
            writeBytes(s.state, out);
            writeVarLong(s.heldCount, out);
            writeVarLong(s.waitingSince, out);
            writeVarLong(s.failures, out);
            if (order) {
                writeVarLong(s.heldFirstEpoch, out);
                writeVarLong(s.heldFirstSeq, out);
                writeVarLong(s.heldLastEpoch, out);
                writeVarLong(s.heldLastSeq, out);
            }
        }

        @Override
        protected ReconcilerState read(DataInputView in) throws IOException {
            ReconcilerState s = new ReconcilerState();
            int flags = in.readByte();
            s.published = (flags & 1) != 0;
            s.overflowed = (flags & 2) != 0;
            s.oversized = (flags & 4) != 0;
            s.tooLargeToKeep = (flags & TOO_LARGE_TO_KEEP) != 0;
            s.countedWaiting = (flags & COUNTED_WAITING) != 0;
            s.epoch = readVarLong(in);
            s.seq = readVarLong(in);
            s.ts = readVarLong(in);
            s.state = readBytes(in);
            s.heldCount = (int) readVarLong(in);
            s.waitingSince = readVarLong(in);
            s.failures = (int) readVarLong(in);
            if ((flags & HELD_ORDER) != 0) {
                s.heldFirstEpoch = readVarLong(in);
                s.heldFirstSeq = readVarLong(in);
                s.heldLastEpoch = readVarLong(in);
                s.heldLastSeq = readVarLong(in);
            }
            return s;
        }

        @Override
        public ReconcilerState createInstance() {
            return new ReconcilerState();
        }

        @Override
        public ReconcilerState copy(ReconcilerState from) {
            ReconcilerState s = new ReconcilerState();
            s.published = from.published;
            s.overflowed = from.overflowed;
            s.oversized = from.oversized;
            s.tooLargeToKeep = from.tooLargeToKeep;
            s.countedWaiting = from.countedWaiting;
            s.epoch = from.epoch;
            s.seq = from.seq;
            s.ts = from.ts;
            s.state = from.state;
            s.heldCount = from.heldCount;
            s.heldFirstEpoch = from.heldFirstEpoch;
            s.heldFirstSeq = from.heldFirstSeq;
            s.heldLastEpoch = from.heldLastEpoch;
            s.heldLastSeq = from.heldLastSeq;
            s.waitingSince = from.waitingSince;
            s.failures = from.failures;
            return s;
        }

        @Override
        public TypeSerializerSnapshot<ReconcilerState> snapshotConfiguration() {
            return new ReconcilerStateSnapshot().describing(format);
        }
    }

    public static final class ReconcilerStateSnapshot extends CompactSnapshot<ReconcilerState> {
        public ReconcilerStateSnapshot() {
            super(ReconcilerStateSerializer.FORMAT, ReconcilerStateSerializer::new);
        }
    }
}
