package io.devicesync.operators.delivery;

import java.io.IOException;
import java.io.UTFDataFormatException;
import java.util.Objects;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.runtime.state.Keyed;
import org.apache.flink.runtime.state.PriorityComparable;
import org.apache.flink.runtime.state.heap.HeapPriorityQueueElement;

/**
 * One device's place in a consumer's queue of the {@link RedispatchScheduler}, in the priority of
 * DESIGN.md: longest waiting first (earliest first-unacknowledged publication), then smallest
 * record, then deviceId. An element of Flink's key-grouped priority queue (what its timers are
 * made of): kept in the keyed state backend (on RocksDB, in RocksDB with a small cache of each key
 * group's head, so the heap does not grow with the queue), snapshotted and rescaled by key group
 * with the device's state, ordered across the subtask's key groups.
 *
 * <p>On RocksDB the order is the serialized bytes' order, so {@link Serializer} writes them
 * order-preserving and {@link #comparePriorityTo} compares exactly as the bytes do.
 */
public final class QueuedAttempt implements HeapPriorityQueueElement, PriorityComparable<QueuedAttempt>, Keyed<String> {
    final long waitingSince;
    final int bytes;
    final String deviceId;
    private int internalIndex = NOT_CONTAINED;

    QueuedAttempt(long waitingSince, int bytes, String deviceId) {
        this.waitingSince = waitingSince;
        this.bytes = bytes;
        this.deviceId = Objects.requireNonNull(deviceId);
    }

    @Override
    public String getKey() {
        return deviceId;
    }

    @Override
    public int comparePriorityTo(QueuedAttempt o) {
        int c = Long.compare(waitingSince, o.waitingSince);
        if (c != 0) return c;
        c = Integer.compare(bytes, o.bytes);
        return c != 0 ? c : compareIds(deviceId, o.deviceId);
    }

    /**
     * deviceIds in the order of their serialized bytes: by UTF-16 unit, U+0000 (written as C0 80)
     * between U+007F and U+0080, a prefix before the longer id. Otherwise {@link String#compareTo}'s.
     */
    static int compareIds(String a, String b) {
        int n = Math.min(a.length(), b.length());
        for (int i = 0; i < n; i++) {
            int x = rank(a.charAt(i));
            int y = rank(b.charAt(i));
            if (x != y) return Integer.compare(x, y);
        }
        return Integer.compare(a.length(), b.length());
    }

    private static int rank(char c) {
        return c == 0 ? 0x80 : c >= 0x80 ? c + 1 : c;
    }

    @Override
    public int getInternalIndex() {
        return internalIndex;
    }

    @Override
    public void setInternalIndex(int newIndex) {
        internalIndex = newIndex;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof QueuedAttempt)) return false;
        QueuedAttempt q = (QueuedAttempt) o;
        return waitingSince == q.waitingSince && bytes == q.bytes && deviceId.equals(q.deviceId);
    }

    @Override
    public int hashCode() {
        return Objects.hash(waitingSince, bytes, deviceId);
    }

    @Override
    public String toString() {
        return deviceId + "@" + waitingSince + "/" + bytes;
    }

    /**
     * Order-preserving bytes: the time and the size big-endian with the sign bit flipped, then the
     * deviceId in modified UTF-8 (which has no zero byte) and a zero byte that ends it.
     */
    public static final class Serializer extends TypeSerializerSingleton<QueuedAttempt> {
        private static final long serialVersionUID = 1L;
        public static final Serializer INSTANCE = new Serializer();

        @Override
        public boolean isImmutableType() {
            return true;
        }

        @Override
        public QueuedAttempt createInstance() {
            return null;
        }

        @Override
        public QueuedAttempt copy(QueuedAttempt from) {
            return from == null ? null : new QueuedAttempt(from.waitingSince, from.bytes, from.deviceId);
        }

        @Override
        public QueuedAttempt copy(QueuedAttempt from, QueuedAttempt reuse) {
            return copy(from);
        }

        @Override
        public int getLength() {
            return -1;
        }

        @Override
        public void serialize(QueuedAttempt q, DataOutputView out) throws IOException {
            out.writeLong(q.waitingSince ^ Long.MIN_VALUE);
            out.writeInt(q.bytes ^ Integer.MIN_VALUE);
            String s = q.deviceId;
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c >= 0x01 && c <= 0x7F) {
                    out.writeByte(c);
                } else if (c <= 0x7FF) { // and U+0000, as C0 80
                    out.writeByte(0xC0 | (c >> 6));
                    out.writeByte(0x80 | (c & 0x3F));
                } else {
                    out.writeByte(0xE0 | (c >> 12));
                    out.writeByte(0x80 | ((c >> 6) & 0x3F));
                    out.writeByte(0x80 | (c & 0x3F));
                }
            }
            out.writeByte(0);
        }

        @Override
        public QueuedAttempt deserialize(DataInputView in) throws IOException {
            long waitingSince = in.readLong() ^ Long.MIN_VALUE;
            int bytes = in.readInt() ^ Integer.MIN_VALUE;
            StringBuilder s = new StringBuilder();
            for (int b = in.readUnsignedByte(); b != 0; b = in.readUnsignedByte()) {
                if (b < 0x80) {
                    s.append((char) b);
                } else if ((b & 0xE0) == 0xC0) {
                    s.append((char) (((b & 0x1F) << 6) | (in.readUnsignedByte() & 0x3F)));
                } else if ((b & 0xF0) == 0xE0) {
                    int b2 = in.readUnsignedByte();
                    int b3 = in.readUnsignedByte();
                    s.append((char) (((b & 0x0F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F)));
                } else {
                    throw new UTFDataFormatException("not a queued attempt's deviceId: byte " + b);
                }
            }
            return new QueuedAttempt(waitingSince, bytes, s.toString());
        }

        @Override
        public QueuedAttempt deserialize(QueuedAttempt reuse, DataInputView in) throws IOException {
            return deserialize(in);
        }

        @Override
        public void copy(DataInputView in, DataOutputView out) throws IOException {
            serialize(deserialize(in), out);
        }

        @Override
        public TypeSerializerSnapshot<QueuedAttempt> snapshotConfiguration() {
            return new Snapshot();
        }

        /** Restores the serializer (no configuration). */
        public static final class Snapshot extends SimpleTypeSerializerSnapshot<QueuedAttempt> {
            public Snapshot() {
                super(() -> INSTANCE);
            }
        }
    }
}
