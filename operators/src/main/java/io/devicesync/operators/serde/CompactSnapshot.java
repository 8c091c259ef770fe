package io.devicesync.operators.serde;

import java.util.function.Supplier;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.java.typeutils.runtime.PojoSerializerSnapshot;

/**
 * The snapshot of a {@link CompactSerializer}: compatible as is with itself, and readable after
 * migration from Flink's POJO serializer, which wrote these types' state in earlier builds (Flink
 * reads the old state with the POJO serializer and writes it again with this one on restore).
 */
public class CompactSnapshot<T> extends SimpleTypeSerializerSnapshot<T> {
    public CompactSnapshot(Supplier<? extends TypeSerializer<T>> serializer) {
        super(serializer);
    }

    @Override
    public TypeSerializerSchemaCompatibility<T> resolveSchemaCompatibility(TypeSerializerSnapshot<T> oldSnapshot) {
        if (oldSnapshot instanceof PojoSerializerSnapshot)
            return TypeSerializerSchemaCompatibility.compatibleAfterMigration();
        return super.resolveSchemaCompatibility(oldSnapshot);
    }
}
