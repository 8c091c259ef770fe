package io.devicesync.operators.delivery;

import io.devicesync.model.Ack;
import io.devicesync.operators.serde.CompactSerializer;
import io.devicesync.operators.serde.CompactSnapshot;
import io.devicesync.operators.serde.CompactTypeInfo;
import java.io.IOException;
import java.util.Objects;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * A device's coalesced acks, written by hand on the exchange into the DeliveryTracker (never in
 * keyed state; an unaligned checkpoint holds them in flight): Flink's POJO serializer of the batch
 * and its array of acks was 8 % of the tracker's profile, most of it reflection. The batch's device
 * is written once; an ack of another device (never made by the AckCoalescer) is written in full.
 * A batch's array may be null, never hold a null (the coalescer makes neither).
 */
public final class AckBatchSerializer extends CompactSerializer<AckBatch> {
    private static final long serialVersionUID = 1L;
    /** The format this build writes. */
    public static final int FORMAT = 1;
    /** The most acks a batch read back may hold. */
    static final int MAX_ACKS = 1 << 16;

    /** The type of the coalescer's output. */
    public static final TypeInformation<AckBatch> TYPE =
            new CompactTypeInfo<>(AckBatch.class, new AckBatchSerializer());

    public AckBatchSerializer() {
        this(FORMAT);
    }

    /** Reads {@code format} (of a restored snapshot); writes {@link #FORMAT}. */
    public AckBatchSerializer(int format) {
        super(format);
    }

    @Override
    protected void write(AckBatch b, DataOutputView out) throws IOException {
        writeString(b.deviceId, out);
        Ack[] acks = b.acks;
        writeVarLong(acks == null ? -1 : acks.length, out);
        if (acks == null) return;
        for (Ack a : acks) {
            if (a == null) throw new IllegalArgumentException("an ack batch of " + b.deviceId + " holds a null ack");
            writeString(a.consumer, out);
            boolean same = Objects.equals(a.deviceId, b.deviceId);
            out.writeBoolean(same);
            if (!same) writeString(a.deviceId, out);
            writeVarLong(a.epoch, out);
            writeVarLong(a.seq, out);
            out.writeLong(a.ts);
        }
    }

    @Override
    protected AckBatch read(DataInputView in) throws IOException {
        String deviceId = readString(in);
        long count = readVarLong(in);
        if (count == -1) return new AckBatch(deviceId, null);
        // At most one ack per listed consumer; far more than any list is bytes that are not a batch.
        if (count < 0 || count > MAX_ACKS) throw new IOException("not an ack batch: " + count + " acks");
        int n = (int) count;
        Ack[] acks = new Ack[n];
        for (int i = 0; i < n; i++) {
            String consumer = readString(in);
            String device = in.readBoolean() ? deviceId : readString(in);
            long epoch = readVarLong(in);
            long seq = readVarLong(in);
            acks[i] = new Ack(consumer, device, epoch, seq, in.readLong());
        }
        return new AckBatch(deviceId, acks);
    }

    @Override
    public AckBatch createInstance() {
        return new AckBatch();
    }

    @Override
    public AckBatch copy(AckBatch from) {
        if (from.acks == null) return new AckBatch(from.deviceId, null);
        Ack[] acks = new Ack[from.acks.length];
        for (int i = 0; i < acks.length; i++) {
            Ack a = from.acks[i];
            acks[i] = new Ack(a.consumer, a.deviceId, a.epoch, a.seq, a.ts);
        }
        return new AckBatch(from.deviceId, acks);
    }

    @Override
    public TypeSerializerSnapshot<AckBatch> snapshotConfiguration() {
        return new Snapshot().describing(format);
    }

    /** What a checkpoint records of the serializer: its format. */
    public static final class Snapshot extends CompactSnapshot<AckBatch> {
        public Snapshot() {
            super(FORMAT, AckBatchSerializer::new);
        }
    }
}
