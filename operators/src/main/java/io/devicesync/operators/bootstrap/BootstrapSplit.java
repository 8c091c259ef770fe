package io.devicesync.operators.bootstrap;

import java.io.IOException;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/**
 * The bootstrap's one split: the whole of {@code device_snapshot}, read in keyset order, and how
 * far it is read. Checkpointed by the reader that reads it: after a failure the bootstrap resumes
 * after {@link #after}, the last device it emitted, not from the start.
 */
public final class BootstrapSplit implements SourceSplit {
    static final String ID = "device_snapshot";

    /** The last device_id emitted; "" before the first. */
    String after;
    /** Rows emitted and chunks read so far (the progress the log and the metrics show). */
    long rows;

    long chunks;

    BootstrapSplit(String after, long rows, long chunks) {
        this.after = after;
        this.rows = rows;
        this.chunks = chunks;
    }

    static BootstrapSplit fromStart() {
        return new BootstrapSplit("", 0, 0);
    }

    BootstrapSplit copy() {
        return new BootstrapSplit(after, rows, chunks);
    }

    @Override
    public String splitId() {
        return ID;
    }

    @Override
    public String toString() {
        return "BootstrapSplit{after '" + after + "', " + rows + " rows in " + chunks + " chunks}";
    }

    /** Version 1: the last id (UTF), rows, chunks. */
    static final class Serializer implements SimpleVersionedSerializer<BootstrapSplit> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(BootstrapSplit s) throws IOException {
            DataOutputSerializer out = new DataOutputSerializer(64);
            write(s, out);
            return out.getCopyOfBuffer();
        }

        @Override
        public BootstrapSplit deserialize(int version, byte[] bytes) throws IOException {
            if (version != 1) throw new IOException("unknown version of a bootstrap split: " + version);
            return read(new DataInputDeserializer(bytes));
        }

        static void write(BootstrapSplit s, DataOutputSerializer out) throws IOException {
            out.writeUTF(s.after);
            out.writeLong(s.rows);
            out.writeLong(s.chunks);
        }

        static BootstrapSplit read(DataInputDeserializer in) throws IOException {
            return new BootstrapSplit(in.readUTF(), in.readLong(), in.readLong());
        }
    }
}
