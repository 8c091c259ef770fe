package io.devicesync.operators.serde;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.types.StringValue;

/**
 * A hand-written serializer for one of the job's hot types (on the exchanges and in keyed state):
 * fields written in a fixed order, no reflection, no boxing, no per-field null flags beyond what
 * the type needs. Byte arrays (documents, patches) are never changed in place anywhere in the job,
 * so a copy shares them.
 *
 * <p>Each type has a <em>format</em>, a number its {@link CompactSnapshot} keeps beside the state.
 * A serializer writes the current format and reads the one it was made for ({@link #format}).
 * Changing a type's layout: either the new layout reads the old one as it is (fields added behind a
 * flag the old layout left clear, as the reconciler's state does: the format stays), or raise the
 * type's current format and make {@link #read} read each earlier one; Flink then rewrites restored
 * state in the new format. Either way a migration test restores a savepoint of the old build
 * ({@code OlderBuildSavepointsTest}, {@code ReconcilerStateMigrationTest}).
 */
public abstract class CompactSerializer<T> extends TypeSerializer<T> {
    private static final long serialVersionUID = 1L;

    /** The format {@link #read} reads: the current one, or an earlier one when restoring older state. */
    protected final int format;

    protected CompactSerializer(int format) {
        this.format = format;
    }

    @Override
    public TypeSerializer<T> duplicate() {
        return this; // no mutable fields: one instance serves every thread
    }

    @Override
    public boolean equals(Object o) {
        return o != null && o.getClass() == getClass() && ((CompactSerializer<?>) o).format == format;
    }

    @Override
    public int hashCode() {
        return getClass().hashCode() * 31 + format;
    }

    /** Writes one value (never null). */
    protected abstract void write(T value, DataOutputView out) throws IOException;

    /** Reads one value. */
    protected abstract T read(DataInputView in) throws IOException;

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public T copy(T from, T reuse) {
        return copy(from);
    }

    @Override
    public void serialize(T record, DataOutputView target) throws IOException {
        write(record, target);
    }

    @Override
    public T deserialize(DataInputView source) throws IOException {
        return read(source);
    }

    @Override
    public T deserialize(T reuse, DataInputView source) throws IOException {
        return read(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        write(read(source), target);
    }

    /**
     * A long in 1-10 bytes, seven bits a byte (zigzag: small negative numbers are short too).
     * Versions, counts and flags take a byte or two, timestamps six: keyed state is stored per
     * device, so its size is the size of the state.
     */
    protected static void writeVarLong(long v, DataOutputView out) throws IOException {
        long z = (v << 1) ^ (v >> 63);
        while ((z & ~0x7FL) != 0) {
            out.writeByte((int) ((z & 0x7F) | 0x80));
            z >>>= 7;
        }
        out.writeByte((int) z);
    }

    protected static long readVarLong(DataInputView in) throws IOException {
        long z = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            int b = in.readUnsignedByte();
            z |= (long) (b & 0x7F) << shift;
            if ((b & 0x80) == 0) return (z >>> 1) ^ -(z & 1);
        }
        throw new IOException("a variable-length long longer than 10 bytes: corrupt state");
    }

    /** Bytes or null: the length (-1 for null), then the bytes. */
    protected static void writeBytes(byte[] b, DataOutputView out) throws IOException {
        if (b == null) {
            writeVarLong(-1, out);
        } else {
            writeVarLong(b.length, out);
            out.write(b);
        }
    }

    protected static byte[] readBytes(DataInputView in) throws IOException {
        int n = (int) readVarLong(in);
        if (n < 0) return null;
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    /** A string or null (Flink's string encoding, which has a null marker). */
    protected static void writeString(String s, DataOutputView out) throws IOException {
        StringValue.writeString(s, out);
    }

    protected static String readString(DataInputView in) throws IOException {
        return StringValue.readString(in);
    }
}
