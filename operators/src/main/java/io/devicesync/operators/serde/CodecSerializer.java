package io.devicesync.operators.serde;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.array.BytePrimitiveArraySerializer;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * A {@link CompactSerializer} for a type with a codec of its own ({@link #encode}, {@link #decode}),
 * written as the codec's bytes behind their length. The codec's bytes start with its format, so a
 * value says itself which layout it is in: the codec reads every earlier one. The serializer's own
 * format (in its snapshot) is the newest the codec writes, so that an older build refuses the state
 * at its restore; an earlier one restores as it is.
 *
 * <p>That is exactly how Flink wrote a {@code ValueState<byte[]>} holding those bytes, which is what
 * the builds up to 8f4564d kept (the DeliveryTracker's two states, the AlertPolicy's): such state
 * restores under this serializer as it is. On RocksDB the stored bytes are read by {@link
 * #deserialize}. On heap, Flink restores it as the byte arrays themselves, and they stay so until
 * the key is written again: {@link #value} reads either, {@link #serialize} writes either (the same
 * bytes), {@link #copy} keeps the arrays (never changed in place). Read the state through
 * {@link #value}, never by casting what {@code value()} returns.
 *
 * <p>A subclass must not override {@code serialize}, {@code deserialize} or {@code copy}: the
 * bridge methods of a concrete type would cast a restored byte array and fail.
 */
public abstract class CodecSerializer<T> extends CompactSerializer<T> {
    private static final long serialVersionUID = 1L;

    protected CodecSerializer(int format) {
        super(format);
    }

    /** The codec's bytes of {@code value} (never null). */
    protected abstract byte[] encode(T value);

    /** A value from the codec's bytes. */
    protected abstract T decode(byte[] bytes);

    /** A stored value: as it is, or decoded if a restore left the earlier build's bytes; null for null. */
    @SuppressWarnings("unchecked")
    public final T value(Object stored) {
        if (stored instanceof byte[]) return decode((byte[]) stored);
        return (T) stored;
    }

    @Override
    public void serialize(T record, DataOutputView out) throws IOException {
        Object o = record;
        byte[] bytes = o instanceof byte[] ? (byte[]) o : encode(record);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    @Override
    public T deserialize(DataInputView in) throws IOException {
        byte[] bytes = new byte[in.readInt()];
        in.readFully(bytes);
        return decode(bytes);
    }

    @Override
    public T deserialize(T reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public T copy(T from) {
        Object o = from;
        return o instanceof byte[] ? from : decode(encode(from));
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
        int n = in.readInt();
        out.writeInt(n);
        out.write(in, n);
    }

    @Override
    protected final void write(T value, DataOutputView out) throws IOException {
        serialize(value, out);
    }

    @Override
    protected final T read(DataInputView in) throws IOException {
        return deserialize(in);
    }

    /**
     * The snapshot of a codec serializer: also compatible as is with the byte-array state of the
     * builds that kept the codec's bytes in a {@code ValueState<byte[]>}.
     */
    public abstract static class Snapshot<T> extends CompactSnapshot<T> {
        protected Snapshot(int current, java.util.function.IntFunction<? extends CodecSerializer<T>> reading) {
            super(current, reading);
        }

        @Override
        public TypeSerializerSchemaCompatibility<T> resolveSchemaCompatibility(TypeSerializerSnapshot<T> old) {
            // The same bytes; each value's first byte, the codec's format, tells one layout from another.
            if (old instanceof BytePrimitiveArraySerializer.BytePrimitiveArraySerializerSnapshot) {
                return TypeSerializerSchemaCompatibility.compatibleAsIs();
            }
            // An earlier format of the same codec (readSnapshot refuses a newer one): the codec reads
            // it as it is, and each value is rewritten in the current one when next saved.
            if (old != null && old.getClass() == getClass()) return TypeSerializerSchemaCompatibility.compatibleAsIs();
            return super.resolveSchemaCompatibility(old);
        }
    }
}
