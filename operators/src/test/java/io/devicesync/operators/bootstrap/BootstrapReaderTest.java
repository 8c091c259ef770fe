package io.devicesync.operators.bootstrap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Increment;
import io.devicesync.operators.sync.InMemorySourceOfTruth;
import io.devicesync.operators.sync.SourceOfTruth;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SourceOutput;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.metrics.groups.SourceReaderMetricGroup;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.util.SimpleUserCodeClassLoader;
import org.apache.flink.util.UserCodeClassLoader;
import org.junit.jupiter.api.Test;

/** The bootstrap's reader on a source of truth in memory: every row once, in order, resumable. */
class BootstrapReaderTest {
    private static final InMemorySourceOfTruth TRUTH = new InMemorySourceOfTruth();

    static {
        for (int i = 0; i < 25; i++) {
            TRUTH.snapshot(
                    String.format("dev-%03d", i), 0, 10 + i, ("{\"n\":" + i + "}").getBytes(StandardCharsets.UTF_8));
        }
    }

    private static final SourceOfTruth.Factory FACTORY = () -> TRUTH;

    /** Polls until the reader ends or {@code max} seeds came, waiting on its availability with a deadline. */
    private static InputStatus run(BootstrapReader reader, Output out, int max) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (out.seeds.size() < max) {
            InputStatus st = reader.pollNext(out);
            if (st == InputStatus.END_OF_INPUT) return st;
            if (st == InputStatus.NOTHING_AVAILABLE) reader.isAvailable().get(30, TimeUnit.SECONDS);
            if (System.nanoTime() > deadline)
                throw new AssertionError("the reader did not finish: " + out.seeds.size());
        }
        return InputStatus.MORE_AVAILABLE;
    }

    @Test
    void readsEveryRowOnceInKeyOrderInChunksThenEnds() throws Exception {
        Context ctx = new Context();
        BootstrapReader reader = new BootstrapReader(ctx, FACTORY, 10, 0);
        reader.start();
        assertEquals(1, ctx.splitRequests, "asks for the split at start");
        reader.addSplits(List.of(BootstrapSplit.fromStart()));
        reader.notifyNoMoreSplits();
        Output out = new Output();
        assertEquals(InputStatus.END_OF_INPUT, run(reader, out, Integer.MAX_VALUE));
        assertEquals(25, out.seeds.size());
        for (int i = 0; i < 25; i++) {
            Increment s = out.seeds.get(i);
            assertTrue(s instanceof Increment.Seed);
            assertEquals(String.format("dev-%03d", i), s.deviceId);
            assertEquals(10 + i, s.seq);
            assertEquals("{\"n\":" + i + "}", new String(s.data, StandardCharsets.UTF_8));
        }
        assertTrue(reader.snapshotState(1).isEmpty(), "a split read to its end is not in the state");
    }

    @Test
    void aRestoredSplitResumesAfterTheLastRowEmittedBeforeTheCheckpoint() throws Exception {
        BootstrapReader first = new BootstrapReader(new Context(), FACTORY, 10, 0);
        first.start();
        first.addSplits(List.of(BootstrapSplit.fromStart()));
        first.notifyNoMoreSplits();
        Output before = new Output();
        run(first, before, 13);
        List<BootstrapSplit> state = first.snapshotState(7);
        assertEquals(1, state.size());
        assertEquals("dev-012", state.get(0).after);
        // Through the serializer, as a checkpoint stores it.
        BootstrapSplit.Serializer ser = new BootstrapSplit.Serializer();
        BootstrapSplit restored = ser.deserialize(ser.getVersion(), ser.serialize(state.get(0)));

        BootstrapReader second = new BootstrapReader(new Context(), FACTORY, 10, 0);
        second.start();
        second.addSplits(List.of(restored));
        second.notifyNoMoreSplits();
        Output after = new Output();
        assertEquals(InputStatus.END_OF_INPUT, run(second, after, Integer.MAX_VALUE));
        assertEquals(12, after.seeds.size());
        assertEquals("dev-013", after.seeds.get(0).deviceId);
        assertEquals("dev-024", after.seeds.get(11).deviceId);
    }

    @Test
    void aReaderWithoutTheSplitEndsOnceThereAreNoMore() throws Exception {
        BootstrapReader reader = new BootstrapReader(new Context(), FACTORY, 10, 0);
        reader.start();
        assertEquals(InputStatus.NOTHING_AVAILABLE, reader.pollNext(new Output()));
        var available = reader.isAvailable();
        reader.notifyNoMoreSplits();
        assertTrue(available.isDone());
        assertEquals(InputStatus.END_OF_INPUT, reader.pollNext(new Output()));
    }

    @Test
    void theEnumeratorHandsTheSplitOnceAndAFreshOneOfARestoredJobHandsNothing() throws Exception {
        BootstrapSource first = new BootstrapSource(FACTORY, 10, 0, false);
        BootstrapSource.PendingSerializer ser = new BootstrapSource.PendingSerializer();
        var pending = first.createEnumerator(null).snapshotState(1);
        assertEquals(1, ser.deserialize(1, ser.serialize(pending)).splits.size());
        BootstrapSource resumeOnly = new BootstrapSource(FACTORY, 10, 0, true);
        assertTrue(resumeOnly.createEnumerator(null).snapshotState(1).splits.isEmpty());
    }

    static final class Output implements ReaderOutput<Increment> {
        final List<Increment> seeds = new ArrayList<>();

        @Override
        public void collect(Increment i) {
            seeds.add(i);
        }

        @Override
        public void collect(Increment i, long ts) {
            seeds.add(i);
        }

        @Override
        public void emitWatermark(Watermark w) {
            throw new AssertionError("the bootstrap emits no watermark");
        }

        @Override
        public void markIdle() {}

        @Override
        public void markActive() {}

        @Override
        public SourceOutput<Increment> createOutputForSplit(String id) {
            return this;
        }

        @Override
        public void releaseOutputForSplit(String id) {}
    }

    static final class Context implements SourceReaderContext {
        int splitRequests;

        @Override
        public SourceReaderMetricGroup metricGroup() {
            return UnregisteredMetricsGroup.createSourceReaderMetricGroup();
        }

        @Override
        public Configuration getConfiguration() {
            return new Configuration();
        }

        @Override
        public String getLocalHostName() {
            return "localhost";
        }

        @Override
        public int getIndexOfSubtask() {
            return 0;
        }

        @Override
        public void sendSplitRequest() {
            splitRequests++;
        }

        @Override
        public void sendSourceEventToCoordinator(SourceEvent e) {}

        @Override
        public UserCodeClassLoader getUserCodeClassLoader() {
            return SimpleUserCodeClassLoader.create(getClass().getClassLoader());
        }
    }
}
