package io.devicesync.operators.alerts;

import io.devicesync.operators.serde.CodecSerializer;
import io.devicesync.operators.serde.CompactTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;

/** The AlertPolicy's state type: {@link PolicyState}'s own bytes ({@link CodecSerializer}). */
public final class PolicySerializer extends CodecSerializer<PolicyState> {
    private static final long serialVersionUID = 1L;

    public static final PolicySerializer INSTANCE = new PolicySerializer(1);
    public static final TypeInformation<PolicyState> TYPE = new CompactTypeInfo<>(PolicyState.class, INSTANCE);

    public PolicySerializer(int format) {
        super(format);
    }

    @Override
    protected byte[] encode(PolicyState value) {
        return value.encode();
    }

    @Override
    protected PolicyState decode(byte[] bytes) {
        return PolicyState.decode(bytes);
    }

    @Override
    public PolicyState createInstance() {
        return new PolicyState();
    }

    @Override
    public TypeSerializerSnapshot<PolicyState> snapshotConfiguration() {
        return new PolicySnapshot();
    }

    public static final class PolicySnapshot extends CodecSerializer.Snapshot<PolicyState> {
        public PolicySnapshot() {
            super(1, PolicySerializer::new);
        }
    }
}
