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

    /** The tracker state's format this build writes ({@link #encode}); the latest version's is {@link #FORMAT_1}. */
    private static final int FORMAT = 2;

    private static final int FORMAT_1 = 1;

    /** The tracker's {@link DeliveryState}. */
    public static final StateSerializer STATE_SERIALIZER = new StateSerializer(FORMAT);
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

    /**
     * Records format 2 since this build writes the values in it: a build that reads format 1 only
     * (the earlier ones) refuses this state at its restore and says why, instead of failing at
     * the first device it reads. State of format 1 restores here as it is (the codec reads both;
     * each value is rewritten when next saved).
     */
    public static final class StateSnapshot extends CodecSerializer.Snapshot<DeliveryState> {
        public StateSnapshot() {
            super(FORMAT, StateSerializer::new);
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

    /**
     * Format 2, what this build writes: variable-length numbers, versions as differences from the
     * latest published one and times as differences from one reference time, fields that are all
     * zero left out (flags say which). A device's state with three consumers and a few
     * publications is about a quarter of format 1's bytes: less to decode, encode and store on
     * every publication and ack (README, Benchmarks).
     */
    static byte[] encode(DeliveryState s) {
        DataOutputSerializer out = OUT.get();
        out.clear();
        try {
            out.writeByte(FORMAT);
            long base = s.pubAt.length > 0 ? s.pubAt[s.pubAt.length - 1] : s.timer != 0 ? s.timer : s.forgetAt;
            int flags = (s.published ? 1 : 0)
                    | (s.latestStored ? 2 : 0)
                    | (s.timer != 0 ? 4 : 0)
                    | (s.forgetAt != 0 ? 8 : 0);
            out.writeByte(flags);
            writeVar(out, s.epoch);
            writeVar(out, s.seq);
            writeVar(out, base);
            if (s.timer != 0) writeVar(out, s.timer - base);
            if (s.forgetAt != 0) writeVar(out, s.forgetAt - base);
            int pubs = s.pubSeq.length;
            writeVar(out, pubs);
            for (int i = 0; i < pubs; i++) {
                writeVar(out, s.pubEpoch[i] - s.epoch);
                writeVar(out, s.pubSeq[i] - s.seq);
                writeVar(out, s.pubAt[i] - base);
            }
            writeVar(out, s.consumers.length);
            for (ConsumerTrack c : s.consumers) {
                byte[] name = nameBytes(c.name);
                writeVar(out, name.length);
                out.write(name);
                boolean first = (c.firstEpoch | c.firstSeq | c.firstAt) != 0;
                boolean attempt = (c.attempt | c.attemptDue | c.lastDueEpoch | c.lastDueSeq) != 0;
                out.writeByte(c.status.ordinal() | (first ? 4 : 0) | (c.due != 0 ? 8 : 0) | (attempt ? 16 : 0));
                writeVar(out, c.ackEpoch - s.epoch);
                writeVar(out, c.ackSeq - s.seq);
                if (first) {
                    writeVar(out, c.firstEpoch - s.epoch);
                    writeVar(out, c.firstSeq - s.seq);
                    writeVar(out, c.firstAt - base);
                }
                if (c.due != 0) writeVar(out, c.due - base);
                if (attempt) {
                    writeVar(out, c.attempt);
                    writeVar(out, c.attemptDue - base);
                    writeVar(out, c.lastDueEpoch - s.epoch);
                    writeVar(out, c.lastDueSeq - s.seq);
                }
            }
            return out.getCopyOfBuffer();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static DeliveryState decode(byte[] bytes) {
        if (bytes == null) return null;
        if (bytes.length > 0 && bytes[0] == FORMAT_1) return decodeFormat1(bytes);
        Reader in = new Reader(bytes);
        int format = in.b();
        if (format != FORMAT) throw new IllegalStateException("delivery state format " + format + " is not known");
        DeliveryState s = new DeliveryState();
        int flags = in.b();
        s.published = (flags & 1) != 0;
        s.latestStored = (flags & 2) != 0;
        s.epoch = in.var();
        s.seq = in.var();
        long base = in.var();
        if ((flags & 4) != 0) s.timer = base + in.var();
        if ((flags & 8) != 0) s.forgetAt = base + in.var();
        int pubs = in.count();
        s.pubEpoch = new long[pubs];
        s.pubSeq = new long[pubs];
        s.pubAt = new long[pubs];
        for (int i = 0; i < pubs; i++) {
            s.pubEpoch[i] = s.epoch + in.var();
            s.pubSeq[i] = s.seq + in.var();
            s.pubAt[i] = base + in.var();
        }
        int n = in.count();
        s.consumers = new ConsumerTrack[n];
        for (int i = 0; i < n; i++) {
            int len = in.count();
            ConsumerTrack c = new ConsumerTrack(name(bytes, in.skip(len), len, i));
            int f = in.b();
            c.status = STATUSES[f & 3];
            c.ackEpoch = s.epoch + in.var();
            c.ackSeq = s.seq + in.var();
            if ((f & 4) != 0) {
                c.firstEpoch = s.epoch + in.var();
                c.firstSeq = s.seq + in.var();
                c.firstAt = base + in.var();
            }
            if ((f & 8) != 0) c.due = base + in.var();
            if ((f & 16) != 0) {
                c.attempt = (int) in.var();
                c.attemptDue = base + in.var();
                c.lastDueEpoch = s.epoch + in.var();
                c.lastDueSeq = s.seq + in.var();
            }
            s.consumers[i] = c;
        }
        if (!in.atEnd()) throw new IllegalStateException("delivery state: bytes left after the value");
        return s;
    }

    /** A signed number in as few bytes as its size needs (zigzag, then 7 bits a byte). */
    private static void writeVar(DataOutputSerializer out, long v) throws IOException {
        long z = (v << 1) ^ (v >> 63);
        while ((z & ~0x7FL) != 0) {
            out.writeByte((int) ((z & 0x7F) | 0x80));
            z >>>= 7;
        }
        out.writeByte((int) z);
    }

    /** Reads format 2 straight off the array. */
    private static final class Reader {
        private final byte[] b;
        private int at;

        Reader(byte[] b) {
            this.b = b;
        }

        int b() {
            if (at >= b.length) throw new IllegalStateException("delivery state: the value ends early");
            return b[at++] & 0xFF;
        }

        long var() {
            long z = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                int x = b();
                z |= (long) (x & 0x7F) << shift;
                if ((x & 0x80) == 0) return (z >>> 1) ^ -(z & 1);
            }
            throw new IllegalStateException("delivery state: a number longer than 10 bytes");
        }

        /** A count or length: at most what is left of the value. */
        int count() {
            long n = var();
            if (n < 0 || n > b.length - at) throw new IllegalStateException("delivery state: a count of " + n);
            return (int) n;
        }

        /** Skips {@code n} bytes; returns where they start. */
        int skip(int n) {
            int from = at;
            at += n;
            return from;
        }

        boolean atEnd() {
            return at == b.length;
        }
    }

    /** Format 1 (the builds up to this one): fixed-length fields, every one written. Kept for tests. */
    static byte[] encodeFormat1(DeliveryState s) {
        DataOutputSerializer out = OUT.get();
        out.clear();
        try {
            out.writeByte(FORMAT_1);
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

    /** Format 1, as the earlier builds stored it (each value is rewritten in format 2 when next saved). */
    static DeliveryState decodeFormat1(byte[] bytes) {
        DataInputDeserializer in = new DataInputDeserializer(bytes);
        try {
            in.readByte();
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
                int len = in.readUnsignedShort();
                int at = in.getPosition();
                in.skipBytesToRead(len);
                ConsumerTrack c = new ConsumerTrack(name(bytes, at, len, i));
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

    /**
     * A consumer name: a known one without decoding (the same String), else decoded. The known
     * name at {@code hint} (the consumer's place in the value) is tried first: names are
     * remembered as first seen, in the consumers' order.
     */
    private static String name(byte[] bytes, int at, int len, int hint) {
        Names n = names;
        if (hint < n.bytes.length && same(n.bytes[hint], bytes, at, len)) return n.names[hint];
        for (int i = 0; i < n.bytes.length; i++) {
            if (same(n.bytes[i], bytes, at, len)) return n.names[i];
        }
        String name = new String(bytes, at, len, java.nio.charset.StandardCharsets.UTF_8);
        remember(name);
        return name;
    }

    private static boolean same(byte[] k, byte[] bytes, int at, int len) {
        if (k.length != len) return false;
        for (int j = 0; j < len; j++) {
            if (k[j] != bytes[at + j]) return false;
        }
        return true;
    }

    /** The latest version without its deviceId (the key). */
    static byte[] encodeLatest(DeviceState v) {
        DataOutputSerializer out = OUT.get();
        out.clear();
        try {
            out.writeByte(FORMAT_1);
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
            if (format != FORMAT_1)
                throw new IllegalStateException("delivery state format " + format + " is not known");
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
