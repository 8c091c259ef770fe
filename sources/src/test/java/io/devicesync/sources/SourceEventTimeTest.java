package io.devicesync.sources;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceOutput;
import org.apache.flink.runtime.metrics.groups.UnregisteredMetricGroups;
import org.apache.flink.streaming.api.operators.source.CollectingDataOutput;
import org.apache.flink.streaming.api.operators.source.TimestampsAndWatermarks;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.tasks.TestProcessingTimeService;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;
import org.apache.flink.util.clock.ManualClock;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Event time as Flink's source operator makes it from our generator: the real per-split logic
 * ({@code ProgressiveTimestampsAndWatermarks}: one generator per split and one for the reader's
 * main output, whose watermarks the source forwards, the highest first), fed as the Kafka reader
 * feeds it (every record through its split's output), on a manual clock.
 */
class SourceEventTimeTest {
    private static final long BOUND = 1_000;
    private static final long IDLE = 10_000;
    private static final long START = 1_763_800_000_000L;

    private final ManualClock clock = new ManualClock(START * 1_000_000);
    private final TestProcessingTimeService timers = new TestProcessingTimeService();
    private final CollectingDataOutput<Long> out = new CollectingDataOutput<>();
    private ReaderOutput<Long> reader;

    @BeforeEach
    void start() throws Exception {
        timers.setCurrentTime(START);
        // records are their own event time; the wall clock and the activity clock are the manual clock
        WatermarkStrategy<Long> strategy = EventTimeWatermarks.<Long>generator(
                        Duration.ofMillis(BOUND),
                        Duration.ofMillis(IDLE),
                        Duration.ofMinutes(1),
                        clock::absoluteTimeMillis)
                .withTimestampAssigner((r, kafkaTs) -> r);
        TimestampsAndWatermarks<Long> logic = TimestampsAndWatermarks.createProgressiveEventTimeLogic(
                strategy,
                UnregisteredMetricGroups.createUnregisteredOperatorMetricGroup(),
                timers,
                200,
                clock,
                clock,
                UnregisteredMetricGroups.createUnregisteredTaskMetricGroup().getIOMetricGroup());
        reader = logic.createMainOutput(out, new TimestampsAndWatermarks.WatermarkUpdateListener() {
            @Override
            public void updateIdle(boolean idle) {}

            @Override
            public void updateCurrentEffectiveWatermark(long watermark) {}

            @Override
            public void updateCurrentSplitWatermark(String splitId, long watermark) {}

            @Override
            public void updateCurrentSplitIdle(String splitId, boolean idle) {}

            @Override
            public void splitFinished(String splitId) {}
        });
        logic.startPeriodicWatermarkEmits();
    }

    /** Moves both clocks; the source's periodic emits run on the way. */
    private void advance(long ms) throws Exception {
        for (long done = 0; done < ms; done += 200) {
            clock.advanceTime(Duration.ofMillis(200));
            timers.advance(200);
        }
    }

    private long now() {
        return clock.absoluteTimeMillis();
    }

    private List<Long> watermarks() {
        return out.getEvents().stream()
                .filter(e -> e instanceof Watermark)
                .map(e -> ((Watermark) e).getTimestamp())
                .collect(Collectors.toList());
    }

    private long lastWatermark() {
        List<Long> w = watermarks();
        assertFalse(w.isEmpty(), "no watermark at all");
        return w.get(w.size() - 1);
    }

    @Test
    void aLaggingSplitHoldsTheWatermarkBack() throws Exception {
        // A catch-up: partition 0 holds 20 minutes of backlog, read at 10 minutes of event time per
        // minute; partition 1 is current and then quiet (it follows the wall clock once idle).
        SourceOutput<Long> lagging = reader.createOutputForSplit("events-0");
        SourceOutput<Long> current = reader.createOutputForSplit("events-1");
        long backlog = START - Duration.ofMinutes(20).toMillis();
        current.collect(START);
        for (int step = 0; step < 300; step++) { // 60 s of reading
            lagging.collect(backlog);
            backlog += 2_000;
            advance(200);
        }
        assertTrue(now() - START > 2 * IDLE, "long enough for the idle timeout to pass");
        assertEquals(backlog - 2_000 - BOUND - 1, lastWatermark(), "held back by the lagging partition");
    }

    @Test
    void theMainOutputNeverAdvancesItPastThePartitions() throws Exception {
        // The reader's main output never sees a record (the Kafka reader emits through its splits'
        // outputs): however long the partitions' data lags the wall clock, it adds nothing.
        SourceOutput<Long> split = reader.createOutputForSplit("events-0");
        long old = START - Duration.ofHours(1).toMillis();
        for (int step = 0; step < 5 * IDLE / 200; step++) {
            split.collect(old + step);
            advance(200);
        }
        assertTrue(watermarks().stream().allMatch(w -> w < old + 5 * IDLE / 200), "only the partition's event time");
    }

    @Test
    void aReaderThatHasReadNothingFollowsTheWallClockOnceIdle() throws Exception {
        // A job restored onto silent partitions, or a reader with no partition: no record since the
        // start, for the idle timeout. The wall clock, as for an idle partition: timers restored
        // from a savepoint fire at night.
        advance(IDLE - 200);
        assertEquals(List.of(), watermarks(), "nothing before the idle timeout");
        advance(400);
        assertEquals(now() - BOUND - 1, lastWatermark());
    }

    @Test
    void aReaderWhoseFirstRecordsComeWithinTheIdleTimeoutStartsFromThem() throws Exception {
        // The backlog's first fetch takes a while: until the idle timeout, nothing moves event time.
        advance(IDLE - 400);
        SourceOutput<Long> split = reader.createOutputForSplit("events-0");
        long old = START - Duration.ofHours(1).toMillis();
        split.collect(old);
        advance(IDLE - 400); // the reader has been running for longer than the idle timeout
        assertEquals(List.of(old - BOUND - 1), watermarks(), "the data's event time, the main output out of it");
    }

    @Test
    void aPartitionIdleAfterItsRecordsFollowsTheWallClock() throws Exception {
        // At night: the partitions had records, then none; timers (audits, grace, deadlines) still fire.
        SourceOutput<Long> split = reader.createOutputForSplit("events-0");
        split.collect(START - 5_000);
        advance(IDLE - 200);
        assertEquals(START - 5_000 - BOUND - 1, lastWatermark(), "not idle yet");
        advance(400);
        assertEquals(now() - BOUND - 1, lastWatermark(), "idle: the wall clock minus the bound");
        advance(Duration.ofHours(1).toMillis());
        assertEquals(now() - BOUND - 1, lastWatermark(), "and it keeps following it");
        assertFalse(out.getEvents().contains(WatermarkStatus.IDLE), "never idle: its event time moves");
    }
}
