package io.devicesync.operators.bootstrap;

import io.devicesync.model.Increment;
import io.devicesync.operators.serde.Compact;
import io.devicesync.operators.sync.SourceOfTruth;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code --bootstrap.from-database}: a bounded source that reads every row of
 * {@code device_snapshot} once, in chunks of {@code chunkSize} rows in keyset order (an index range
 * scan per chunk, {@code device_id > last ORDER BY device_id LIMIT n}), and emits one seed per row
 * ({@link Increment#seed}). One split for the whole table, read by one reader; its position is
 * checkpointed, so a failure resumes after the last row emitted. Run it at parallelism 1 with no
 * watermarks: event time downstream waits until every seed is in (then the source ends and its
 * watermark jumps to the end of time), so that a device's first messages wait for its seed instead
 * of being looked up.
 *
 * <p>At a first start the whole table is read. A job started from a savepoint or checkpoint
 * ({@code resumeOnly}) reads only what a bootstrap under way in that state has left: a fresh
 * enumerator then assigns nothing and says so in the log.
 */
public final class BootstrapSource
        implements Source<Increment, BootstrapSplit, BootstrapSource.Pending>, ResultTypeQueryable<Increment> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(BootstrapSource.class);

    private final SourceOfTruth.Factory factory;
    private final int chunkSize;
    private final long rowsPerSecond;
    private final boolean resumeOnly;

    /**
     * @param rowsPerSecond at most this many rows a second on average; 0: as fast as the job takes them
     * @param resumeOnly the job starts from state: a fresh enumerator (the state had no bootstrap) reads nothing
     */
    public BootstrapSource(SourceOfTruth.Factory factory, int chunkSize, long rowsPerSecond, boolean resumeOnly) {
        if (chunkSize < 1) throw new IllegalArgumentException("chunk size must be at least 1");
        this.factory = factory;
        this.chunkSize = chunkSize;
        this.rowsPerSecond = rowsPerSecond;
        this.resumeOnly = resumeOnly;
    }

    @Override
    public Boundedness getBoundedness() {
        return Boundedness.BOUNDED;
    }

    @Override
    public TypeInformation<Increment> getProducedType() {
        return Compact.INCREMENT;
    }

    @Override
    public SourceReader<Increment, BootstrapSplit> createReader(SourceReaderContext context) {
        return new BootstrapReader(context, factory, chunkSize, rowsPerSecond);
    }

    @Override
    public SplitEnumerator<BootstrapSplit, Pending> createEnumerator(SplitEnumeratorContext<BootstrapSplit> context) {
        List<BootstrapSplit> splits = new ArrayList<>();
        if (resumeOnly) {
            LOG.info(
                    "--bootstrap.from-database: the job starts from a savepoint or checkpoint in which no bootstrap was"
                            + " under way: nothing to seed (devices are looked up as they first speak)");
        } else {
            LOG.info("--bootstrap.from-database: a first start: every device is seeded from device_snapshot");
            splits.add(BootstrapSplit.fromStart());
        }
        return new Enumerator(context, splits);
    }

    @Override
    public SplitEnumerator<BootstrapSplit, Pending> restoreEnumerator(
            SplitEnumeratorContext<BootstrapSplit> context, Pending checkpoint) {
        LOG.info(
                checkpoint.splits.isEmpty()
                        ? "--bootstrap.from-database: restored; the bootstrap is done, or its reader resumes it from its own state"
                        : "--bootstrap.from-database: restored before the bootstrap was handed to a reader: it starts now");
        return new Enumerator(context, new ArrayList<>(checkpoint.splits));
    }

    @Override
    public SimpleVersionedSerializer<BootstrapSplit> getSplitSerializer() {
        return new BootstrapSplit.Serializer();
    }

    @Override
    public SimpleVersionedSerializer<Pending> getEnumeratorCheckpointSerializer() {
        return new PendingSerializer();
    }

    /** The enumerator's state: the split not handed to a reader yet (none once it is, or at a restore). */
    public static final class Pending {
        final List<BootstrapSplit> splits;

        Pending(List<BootstrapSplit> splits) {
            this.splits = splits;
        }
    }

    /** Hands the one split to the first reader that asks; every reader then hears there are no more. */
    static final class Enumerator implements SplitEnumerator<BootstrapSplit, Pending> {
        private final SplitEnumeratorContext<BootstrapSplit> context;
        private final List<BootstrapSplit> pending;

        Enumerator(SplitEnumeratorContext<BootstrapSplit> context, List<BootstrapSplit> pending) {
            this.context = context;
            this.pending = pending;
        }

        @Override
        public void start() {}

        @Override
        public void handleSplitRequest(int subtask, String host) {
            if (!pending.isEmpty()) {
                context.assignSplit(pending.remove(0), subtask);
            }
            context.signalNoMoreSplits(subtask);
        }

        @Override
        public void addSplitsBack(List<BootstrapSplit> splits, int subtask) {
            // The reader failed before a checkpoint had its position: the split goes to the next reader that asks.
            pending.addAll(splits);
        }

        @Override
        public void addReader(int subtask) {}

        @Override
        public Pending snapshotState(long checkpointId) {
            List<BootstrapSplit> copy = new ArrayList<>();
            for (BootstrapSplit s : pending) copy.add(s.copy());
            return new Pending(copy);
        }

        @Override
        public void close() {}
    }

    /** Version 1: the count of splits, then each split as {@link BootstrapSplit.Serializer} writes it. */
    static final class PendingSerializer implements SimpleVersionedSerializer<Pending> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(Pending p) throws IOException {
            DataOutputSerializer out = new DataOutputSerializer(64);
            out.writeInt(p.splits.size());
            for (BootstrapSplit s : p.splits) BootstrapSplit.Serializer.write(s, out);
            return out.getCopyOfBuffer();
        }

        @Override
        public Pending deserialize(int version, byte[] bytes) throws IOException {
            if (version != 1) throw new IOException("unknown version of the bootstrap's enumerator state: " + version);
            DataInputDeserializer in = new DataInputDeserializer(bytes);
            int n = in.readInt();
            List<BootstrapSplit> splits = new ArrayList<>(n);
            for (int i = 0; i < n; i++) splits.add(BootstrapSplit.Serializer.read(in));
            return new Pending(splits);
        }
    }
}
