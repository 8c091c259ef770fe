package io.devicesync.operators.delivery;

import io.devicesync.model.DeviceState;
import io.devicesync.model.RecordSource;
import io.devicesync.operators.serde.CodecSerializer;
import io.devicesync.operators.serde.CompactTypeInfo;
import java.io.IOException;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/**
 * The DeliveryTracker's two states, written and read by hand: the tracker touches its state for
 * every publication and every ack, and Flink's POJO serializer (reflection, boxing, an object per
 * field) cost more than the rest of the tracker (measured, README "Benchmarks"). Each value starts
 * with a format version. {@link #STATE} and {@link #LATEST} are the states' types: serializers of
 * the codec ({@link CodecSerializer}), which also read the byte-array state of 8f4564d's build.
 */
public final class DeliveryCodec {
    private DeliveryCodec() {}

    /** The tracker's {@link DeliveryState}. */
    public static final StateSerializer STATE_SERIALIZER = new StateSerializer(1);
    /** The latest published version, without its device id (the key): {@code deviceId} is null when read. */
    public static final LatestSerializer LATEST_SERIALIZER = new LatestSerializer(1);

    public static final TypeInformation<DeliveryState> STATE =
            new CompactTypeInfo<>(DeliveryState.class, STATE_SERIALIZER);
    public static final TypeInformation<DeviceState> LATEST =
            new CompactTypeInfo<>(DeviceState.class, LATEST_SERIALIZER);

    public static final class StateSerializer extends CodecSerializer<DeliveryState> {
        private static final long serialVersionUID = 1L;

        public StateSerializer(int format) {
            super(format);
        }

        @Override
        protected byte[] encode(DeliveryState value) {
            return DeliveryCodec.encode(value);
        }

        @Override
        protected DeliveryState decode(byte[] bytes) {
            return DeliveryCodec.decode(bytes);
        }

        @Override
        public DeliveryState createInstance() {
            return new DeliveryState();
        }

        @Override
        public TypeSerializerSnapshot<DeliveryState> snapshotConfiguration() {
            return new StateSnapshot();
        }
    }

    public static final class StateSnapshot extends CodecSerializer.Snapshot<DeliveryState> {
        public StateSnapshot() {
            super(1, StateSerializer::new);
        }
    }

    public static final class LatestSerializer extends CodecSerializer<DeviceState> {
        private static final long serialVersionUID = 1L;

        public LatestSerializer(int format) {
            super(format);
        }

        @Override
        protected byte[] encode(DeviceState value) {
            return DeliveryCodec.encodeLatest(value);
        }

        @Override
        protected DeviceState decode(byte[] bytes) {
            return DeliveryCodec.decodeLatest(null, bytes);
        }

        @Override
        public DeviceState createInstance() {
            return new DeviceState();
        }

        @Override
        public TypeSerializerSnapshot<DeviceState> snapshotConfiguration() {
            return new LatestSnapshot();
        }
    }

    public static final class LatestSnapshot extends CodecSerializer.Snapshot<DeviceState> {
        public LatestSnapshot() {
            super(1, LatestSerializer::new);
        }
    }

    private static final int FORMAT = 1;
    /**
     * Consumer names seen, with their UTF-8 bytes, so that a name is compared as bytes, not
     * decoded, and the same String comes back: a few names, read on every decode. Copy-on-write
     * (written when a new name comes, rarely), so every task thread reads them without a lock or a
     * ThreadLocal lookup (the profile showed those lookups at 15 % of the tracker's time).
     */
    private static volatile Names names = new Names(new String[0], new byte[0][]);

    private record Names(String[] names, byte[][] bytes) {}

    private static final int MAX_NAMES = 1024;
    private static final ConsumerTrack.Status[] STATUSES = ConsumerTrack.Status.values();

    private static final ThreadLocal<DataOutputSerializer> OUT =
            ThreadLocal.withInitial(() -> new DataOutputSerializer(256));

    static byte[] encode(DeliveryState s) {
        DataOutputSerializer out = OUT.get();
        out.clear();
        try {
            out.writeByte(FORMAT);
            out.writeBoolean(s.published);
            out.writeLong(s.epoch);
            out.writeLong(s.seq);
            out.writeLong(s.timer);
            out.writeBoolean(s.latestStored);
            out.writeLong(s.forgetAt);
            int pubs = s.pubSeq.length;
            out.writeInt(pubs);
            for (int i = 0; i < pubs; i++) {
                out.writeLong(s.pubEpoch[i]);
                out.writeLong(s.pubSeq[i]);
                out.writeLong(s.pubAt[i]);
            }
            out.writeInt(s.consumers.length);
            for (ConsumerTrack c : s.consumers) {
                byte[] name = nameBytes(c.name);
                out.writeShort(name.length);
                out.write(name);
                out.writeByte(c.status.ordinal());
                out.writeLong(c.ackEpoch);
                out.writeLong(c.ackSeq);
                out.writeLong(c.firstEpoch);
                out.writeLong(c.firstSeq);
                out.writeLong(c.firstAt);
                out.writeLong(c.due);
                out.writeInt(c.attempt);
                out.writeLong(c.attemptDue);
                out.writeLong(c.lastDueEpoch);
                out.writeLong(c.lastDueSeq);
            }
            return out.getCopyOfBuffer();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static DeliveryState decode(byte[] bytes) {
        if (bytes == null) return null;
        DataInputDeserializer in = new DataInputDeserializer(bytes);
        try {
            int format = in.readByte();
            if (format != FORMAT) throw new IllegalStateException("delivery state format " + format + " is not known");
            DeliveryState s = new DeliveryState();
            s.published = in.readBoolean();
            s.epoch = in.readLong();
            s.seq = in.readLong();
            s.timer = in.readLong();
            s.latestStored = in.readBoolean();
            s.forgetAt = in.readLong();
            int pubs = in.readInt();
            s.pubEpoch = new long[pubs];
            s.pubSeq = new long[pubs];
            s.pubAt = new long[pubs];
            for (int i = 0; i < pubs; i++) {
                s.pubEpoch[i] = in.readLong();
                s.pubSeq[i] = in.readLong();
                s.pubAt[i] = in.readLong();
            }
            int n = in.readInt();
            s.consumers = new ConsumerTrack[n];
            for (int i = 0; i < n; i++) {
                ConsumerTrack c = new ConsumerTrack(readName(in, bytes));
                c.status = STATUSES[in.readByte()];
                c.ackEpoch = in.readLong();
                c.ackSeq = in.readLong();
                c.firstEpoch = in.readLong();
                c.firstSeq = in.readLong();
                c.firstAt = in.readLong();
                c.due = in.readLong();
                c.attempt = in.readInt();
                c.attemptDue = in.readLong();
                c.lastDueEpoch = in.readLong();
                c.lastDueSeq = in.readLong();
                s.consumers[i] = c;
            }
            return s;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] nameBytes(String name) {
        Names n = names;
        for (int i = 0; i < n.names.length; i++) {
            if (n.names[i] == name) return n.bytes[i];
        }
        for (int i = 0; i < n.names.length; i++) {
            if (n.names[i].equals(name)) return n.bytes[i];
        }
        return remember(name);
    }

    /** Adds a name to those known (a list of consumers changed, or a first decode). */
    private static synchronized byte[] remember(String name) {
        Names n = names;
        for (int i = 0; i < n.names.length; i++) {
            if (n.names[i].equals(name)) return n.bytes[i];
        }
        byte[] b = name.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int keep = n.names.length >= MAX_NAMES ? 0 : n.names.length;
        String[] ns = java.util.Arrays.copyOf(n.names, keep + 1);
        byte[][] bs = java.util.Arrays.copyOf(n.bytes, keep + 1);
        ns[keep] = name;
        bs[keep] = b;
        names = new Names(ns, bs);
        return b;
    }

    /** A consumer name: a known one without decoding (the same String), else decoded. */
    private static String readName(DataInputDeserializer in, byte[] bytes) throws IOException {
        int len = in.readUnsignedShort();
        int at = in.getPosition();
        in.skipBytesToRead(len);
        Names n = names;
        for (int i = 0; i < n.bytes.length; i++) {
            byte[] k = n.bytes[i];
            if (k.length == len && java.util.Arrays.equals(k, 0, len, bytes, at, at + len)) return n.names[i];
        }
        String name = new String(bytes, at, len, java.nio.charset.StandardCharsets.UTF_8);
        remember(name);
        return name;
    }

    /** The latest version without its deviceId (the key). */
    static byte[] encodeLatest(DeviceState v) {
        DataOutputSerializer out = OUT.get();
        out.clear();
        try {
            out.writeByte(FORMAT);
            out.writeLong(v.epoch);
            out.writeLong(v.seq);
            out.writeLong(v.ts);
            out.writeUTF(v.source);
            out.writeInt(v.state.length);
            out.write(v.state);
            return out.getCopyOfBuffer();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static DeviceState decodeLatest(String deviceId, byte[] bytes) {
        if (bytes == null) return null;
        DataInputDeserializer in = new DataInputDeserializer(bytes);
        try {
            int format = in.readByte();
            if (format != FORMAT) throw new IllegalStateException("delivery state format " + format + " is not known");
            long epoch = in.readLong();
            long seq = in.readLong();
            long ts = in.readLong();
            String source = RecordSource.canonical(in.readUTF());
            byte[] doc = new byte[in.readInt()];
            in.readFully(doc);
            DeviceState v = new DeviceState(deviceId, epoch, seq, ts, doc, null);
            v.source = source;
            return v;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
