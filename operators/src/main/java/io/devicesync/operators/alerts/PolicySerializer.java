package io.devicesync.operators.alerts;

import io.devicesync.operators.serde.CodecSerializer;
import io.devicesync.operators.serde.CompactTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;

/** The AlertPolicy's state type: {@link PolicyState}'s own bytes ({@link CodecSerializer}). */
public final class PolicySerializer extends CodecSerializer<PolicyState> {
    private static final long serialVersionUID = 1L;

    /** The format of {@link PolicyState}'s bytes this build writes (2: breakers say where their incarnation started). */
    public static final int FORMAT = PolicyState.VERSION;

    public static final PolicySerializer INSTANCE = new PolicySerializer(FORMAT);
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

    /**
     * Records format 2 since this build writes the values in it: a build that reads format 1 only
     * refuses this state at its restore and says why, instead of failing at the first value it
     * reads. State of format 1 restores here as it is (the codec reads both; each value is
     * rewritten when next saved).
     */
    public static final class PolicySnapshot extends CodecSerializer.Snapshot<PolicyState> {
        public PolicySnapshot() {
            super(FORMAT, PolicySerializer::new);
        }
    }
}
