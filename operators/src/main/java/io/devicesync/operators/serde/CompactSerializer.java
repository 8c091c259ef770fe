package io.devicesync.operators.serde;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.types.StringValue;

/**
 * A hand-written serializer for one of the job's hot types (on the exchanges and in keyed state):
 * fields written in a fixed order, no reflection, no boxing, no per-field null flags beyond what
 * the type needs. Byte arrays (documents, patches) are never changed in place anywhere in the job,
 * so a copy shares them.
 *
 * <p>Changing the layout of a type is a change of its state format: either the new layout reads
 * the old one as it is (fields added behind a flag the old layout left clear, as the reconciler's
 * state does), or give it a new snapshot class that reads the old layout (a {@link CompactSnapshot}
 * only knows the current one). Either way a migration test restores a savepoint of the old build.
 */
public abstract class CompactSerializer<T> extends TypeSerializerSingleton<T> {
    private static final long serialVersionUID = 1L;

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
    static void writeVarLong(long v, DataOutputView out) throws IOException {
        long z = (v << 1) ^ (v >> 63);
        while ((z & ~0x7FL) != 0) {
            out.writeByte((int) ((z & 0x7F) | 0x80));
            z >>>= 7;
        }
        out.writeByte((int) z);
    }

    static long readVarLong(DataInputView in) throws IOException {
        long z = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            int b = in.readUnsignedByte();
            z |= (long) (b & 0x7F) << shift;
            if ((b & 0x80) == 0) return (z >>> 1) ^ -(z & 1);
        }
        throw new IOException("a variable-length long longer than 10 bytes: corrupt state");
    }

    /** Bytes or null: the length (-1 for null), then the bytes. */
    static void writeBytes(byte[] b, DataOutputView out) throws IOException {
        if (b == null) {
            writeVarLong(-1, out);
        } else {
            writeVarLong(b.length, out);
            out.write(b);
        }
    }

    static byte[] readBytes(DataInputView in) throws IOException {
        int n = (int) readVarLong(in);
        if (n < 0) return null;
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    /** A string or null (Flink's string encoding, which has a null marker). */
    static void writeString(String s, DataOutputView out) throws IOException {
        StringValue.writeString(s, out);
    }

    static String readString(DataInputView in) throws IOException {
        return StringValue.readString(in);
    }
}
