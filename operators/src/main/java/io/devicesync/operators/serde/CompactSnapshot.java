package io.devicesync.operators.serde;

import java.io.IOException;
import java.util.function.IntFunction;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.java.typeutils.runtime.PojoSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The snapshot of a {@link CompactSerializer}, which Flink keeps beside the state it wrote: it
 * records the <em>format</em> the values are in (a number per type, 1 for the first layout). On
 * restore, a snapshot of the current format is compatible as is; one of an earlier format restores
 * a serializer that reads that format, and Flink rewrites the state in the current one (RocksDB
 * as it restores, heap as it next snapshots); a format newer than this build knows stops the
 * restore with a message that says so. State that Flink's POJO serializer wrote (builds before the
 * hand-written serializers) migrates the same way.
 *
 * <p>Snapshot layout 3 is that of Flink's {@code SimpleTypeSerializerSnapshot}, which the builds up
 * to this one wrote (nothing but the class name): it reads as format 1. Layout 4 adds the format.
 */
public abstract class CompactSnapshot<T> implements TypeSerializerSnapshot<T> {
    private static final int SIMPLE_LAYOUT = 3;
    private static final int LAYOUT = 4;

    private final int current;
    private final IntFunction<? extends CompactSerializer<T>> reading;
    private int format;

    /**
     * @param current the format this build writes
     * @param reading the serializer that reads a given format (1 to {@code current}) and writes the current one
     */
    protected CompactSnapshot(int current, IntFunction<? extends CompactSerializer<T>> reading) {
        this.current = current;
        this.reading = reading;
        this.format = current;
    }

    /**
     * This snapshot as that of a serializer reading {@code format}: a serializer restored to read
     * an earlier format describes that one, so that state Flink keeps without rewriting it (not
     * registered again) is described as what it is.
     */
    public CompactSnapshot<T> describing(int format) {
        this.format = format;
        return this;
    }

    /** The format of the values this snapshot describes. */
    public int format() {
        return format;
    }

    @Override
    public int getCurrentVersion() {
        return LAYOUT;
    }

    @Override
    public void writeSnapshot(DataOutputView out) throws IOException {
        out.writeInt(format);
    }

    @Override
    public void readSnapshot(int layout, DataInputView in, ClassLoader classLoader) throws IOException {
        if (layout < SIMPLE_LAYOUT || layout > LAYOUT) {
            throw new IOException(getClass().getSimpleName() + ": snapshot layout " + layout + " is not known");
        }
        format = layout == SIMPLE_LAYOUT ? 1 : in.readInt();
        if (format < 1 || format > current) {
            throw new IOException("the state of " + getClass().getSimpleName() + " is in format " + format
                    + ", this build reads formats 1 to " + current
                    + ": a newer build wrote it (a savepoint does not go back to an older build)");
        }
    }

    @Override
    public TypeSerializer<T> restoreSerializer() {
        return reading.apply(format);
    }

    @Override
    public TypeSerializerSchemaCompatibility<T> resolveSchemaCompatibility(TypeSerializerSnapshot<T> old) {
        if (old instanceof PojoSerializerSnapshot) return TypeSerializerSchemaCompatibility.compatibleAfterMigration();
        if (old == null || old.getClass() != getClass()) return TypeSerializerSchemaCompatibility.incompatible();
        int was = ((CompactSnapshot<T>) old).format;
        return was == current
                ? TypeSerializerSchemaCompatibility.compatibleAsIs()
                : TypeSerializerSchemaCompatibility.compatibleAfterMigration();
    }
}
