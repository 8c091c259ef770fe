package io.devicesync.tests.workflow;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * An unbounded source for a job on the test's own MiniCluster (same JVM, parallelism 1): it emits
 * the records a test put under its name once the test {@link #release}s them, then stays idle
 * without ending (no end of input, so no final watermark fires the timers), until the job is
 * stopped, e.g. with a savepoint. {@link #emitted} tells how many it has emitted: a savepoint
 * triggered after that holds their effects (its barrier follows them).
 */
final class ListThenIdleSource<T> implements Source<T, ListThenIdleSource.Split, Integer> {
    private static final long serialVersionUID = 1L;
    private static final Map<String, List<Object>> RECORDS = new ConcurrentHashMap<>();
    private static final Map<String, AtomicInteger> RELEASED = new ConcurrentHashMap<>();
    private static final Map<String, AtomicInteger> EMITTED = new ConcurrentHashMap<>();

    private final String name;

    /** The records, released at once when {@code released}, else by {@link #release}. */
    ListThenIdleSource(String name, List<T> records, boolean released) {
        this.name = name;
        RECORDS.put(name, new ArrayList<>(records));
        RELEASED.put(name, new AtomicInteger(released ? records.size() : 0));
        EMITTED.put(name, new AtomicInteger());
    }

    void release() {
        RELEASED.get(name).set(RECORDS.get(name).size());
    }

    int emitted() {
        return EMITTED.get(name).get();
    }

    void forget() {
        RECORDS.remove(name);
        RELEASED.remove(name);
        EMITTED.remove(name);
    }

    @Override
    public Boundedness getBoundedness() {
        return Boundedness.CONTINUOUS_UNBOUNDED;
    }

    @Override
    public SourceReader<T, Split> createReader(SourceReaderContext context) {
        return new Reader<>(name);
    }

    @Override
    public SplitEnumerator<Split, Integer> createEnumerator(SplitEnumeratorContext<Split> context) {
        return new Enumerator(context, true);
    }

    @Override
    public SplitEnumerator<Split, Integer> restoreEnumerator(
            SplitEnumeratorContext<Split> context, Integer checkpoint) {
        return new Enumerator(context, checkpoint == 0);
    }

    @Override
    public SimpleVersionedSerializer<Split> getSplitSerializer() {
        return new SplitSerializer();
    }

    @Override
    public SimpleVersionedSerializer<Integer> getEnumeratorCheckpointSerializer() {
        return new SimpleVersionedSerializer<>() {
            @Override
            public int getVersion() {
                return 1;
            }

            @Override
            public byte[] serialize(Integer i) {
                return ByteBuffer.allocate(4).putInt(i).array();
            }

            @Override
            public Integer deserialize(int version, byte[] bytes) {
                return ByteBuffer.wrap(bytes).getInt();
            }
        };
    }

    /** The one split: the records' name and how many were emitted. */
    static final class Split implements SourceSplit {
        final String name;
        int position;

        Split(String name, int position) {
            this.name = name;
            this.position = position;
        }

        @Override
        public String splitId() {
            return name;
        }
    }

    static final class SplitSerializer implements SimpleVersionedSerializer<Split> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(Split s) {
            byte[] n = s.name.getBytes(StandardCharsets.UTF_8);
            return ByteBuffer.allocate(8 + n.length)
                    .putInt(s.position)
                    .putInt(n.length)
                    .put(n)
                    .array();
        }

        @Override
        public Split deserialize(int version, byte[] bytes) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            int position = b.getInt();
            byte[] n = new byte[b.getInt()];
            b.get(n);
            return new Split(new String(n, StandardCharsets.UTF_8), position);
        }
    }

    /** Hands the one split to the first reader that asks (parallelism 1). */
    private final class Enumerator implements SplitEnumerator<Split, Integer> {
        private final SplitEnumeratorContext<Split> context;
        private boolean unassigned;

        Enumerator(SplitEnumeratorContext<Split> context, boolean unassigned) {
            this.context = context;
            this.unassigned = unassigned;
        }

        @Override
        public void start() {}

        @Override
        public void handleSplitRequest(int subtaskId, String requesterHostname) {}

        @Override
        public void addSplitsBack(List<Split> splits, int subtaskId) {
            unassigned = true;
        }

        @Override
        public void addReader(int subtaskId) {
            if (unassigned) {
                context.assignSplit(new Split(name, 0), subtaskId);
                unassigned = false;
            }
        }

        @Override
        public Integer snapshotState(long checkpointId) {
            return unassigned ? 0 : 1;
        }

        @Override
        public void close() {}
    }

    private static final class Reader<T> implements SourceReader<T, Split> {
        private final String name;
        private final List<Split> splits = new ArrayList<>();
        private CompletableFuture<Void> available = new CompletableFuture<>();

        Reader(String name) {
            this.name = name;
        }

        @Override
        public void start() {}

        @Override
        @SuppressWarnings("unchecked")
        public InputStatus pollNext(ReaderOutput<T> output) {
            if (splits.isEmpty()) return InputStatus.NOTHING_AVAILABLE;
            Split s = splits.get(0);
            List<Object> records = RECORDS.get(name);
            AtomicInteger released = RELEASED.get(name);
            AtomicInteger emitted = EMITTED.get(name);
            if (records == null || released == null || emitted == null)
                return InputStatus.NOTHING_AVAILABLE; // forgotten
            if (s.position < released.get()) {
                output.collect((T) records.get(s.position++));
                emitted.set(s.position);
                Progress.changed();
                return InputStatus.MORE_AVAILABLE;
            }
            return InputStatus.NOTHING_AVAILABLE;
        }

        @Override
        public List<Split> snapshotState(long checkpointId) {
            List<Split> copy = new ArrayList<>();
            for (Split s : splits) copy.add(new Split(s.name, s.position));
            return copy;
        }

        /** Looks again every 50 ms (for records released later); never ends. */
        @Override
        public CompletableFuture<Void> isAvailable() {
            if (available.isDone()) {
                available = new CompletableFuture<>();
                CompletableFuture<Void> f = available;
                CompletableFuture.delayedExecutor(50, java.util.concurrent.TimeUnit.MILLISECONDS)
                        .execute(() -> f.complete(null));
            }
            return available;
        }

        @Override
        public void addSplits(List<Split> added) {
            splits.addAll(added);
            available.complete(null);
        }

        @Override
        public void notifyNoMoreSplits() {}

        @Override
        public void close() {}
    }
}
