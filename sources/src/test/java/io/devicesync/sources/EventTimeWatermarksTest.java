package io.devicesync.sources;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.junit.jupiter.api.Test;

class EventTimeWatermarksTest {
    private long now = 1_000_000;
    private final List<Long> emitted = new ArrayList<>();
    private final WatermarkOutput out = new WatermarkOutput() {
        @Override
        public void emitWatermark(Watermark w) {
            emitted.add(w.getTimestamp());
        }

        @Override
        public void markIdle() {}

        @Override
        public void markActive() {}
    };
    // bound 1 s, idle after 10 s, timestamps at most 60 s ahead of the wall clock count
    private final EventTimeWatermarks.Generator<Object> g =
            new EventTimeWatermarks.Generator<>(1_000, 10_000, 60_000, () -> now);

    private long last() {
        return emitted.get(emitted.size() - 1);
    }

    @Test
    void followsEventTimeMinusTheBound() {
        g.onEvent("x", 500_000, out);
        g.onPeriodicEmit(out);
        assertEquals(500_000 - 1_000 - 1, last());
    }

    @Test
    void followsTheWallClockOnceIdle() {
        g.onEvent("x", now - 500, out); // a partition read in real time
        long ts = now - 500;
        now += 9_999;
        g.onPeriodicEmit(out);
        assertEquals(ts - 1_001, last(), "not idle yet");
        now += 1;
        g.onPeriodicEmit(out);
        assertEquals(now - 1_001, last(), "idle: wall clock minus the bound");
        now += 5_000;
        g.onPeriodicEmit(out);
        assertEquals(now - 1_001, last(), "keeps moving while idle");
    }

    /**
     * A catch-up whose source stalls for longer than the idle timeout (CatchUpITCase once: 10 false
     * TAIL_LOSS) is not taken for an idle partition: read 500 s behind the wall clock, the partition
     * must be silent for 6 idle timeouts (60 s) before its watermark follows the wall clock.
     */
    @Test
    void aPartitionReadFarBehindTheWallClockWaitsLongerBeforeItIsIdle() {
        g.onEvent("x", 500_000, out); // 500 s behind: a backlog being read
        now += 30_000; // a stall of 30 s mid-catch-up
        g.onPeriodicEmit(out);
        assertEquals(500_000 - 1_001, last(), "a stalled catch-up is not idle");
        now += 29_999;
        g.onPeriodicEmit(out);
        assertEquals(500_000 - 1_001, last());
        now += 1;
        g.onPeriodicEmit(out);
        assertEquals(now - 1_001, last(), "silent for 6 idle timeouts: idle, it follows the wall clock");
    }

    /**
     * A record far behind a partition whose idle watermark already follows the wall clock (a slow
     * device clock, an old record) is no catch-up: the partition is idle again after the idle
     * timeout, not after a minute (records like it more often than that would hold event time).
     */
    @Test
    void aLateRecordAfterAnIdleSpellIsNoCatchUp() {
        g.onEvent("x", now - 500, out);
        now += 10_000;
        g.onPeriodicEmit(out);
        assertEquals(now - 1_001, last(), "idle, on the wall clock");
        now += 60_000;
        g.onPeriodicEmit(out);
        assertEquals(now - 1_001, last(), "a minute later, still on the wall clock");
        g.onEvent("x", now - 3_600_000, out); // an hour old
        now += 10_000;
        g.onPeriodicEmit(out);
        assertEquals(now - 1_001, last(), "idle again after the idle timeout");
    }

    @Test
    void aPartitionALittleBehindWaitsAsLongAsItWasBehind() {
        g.onEvent("x", now - 25_000, out); // 25 s behind: more than the idle timeout and the bound
        now += 24_999;
        g.onPeriodicEmit(out);
        assertEquals(now - 24_999 - 25_000 - 1_001, last(), "not idle before 25 s");
        now += 1;
        g.onPeriodicEmit(out);
        assertEquals(now - 1_001, last());
        // Back in real time: the idle timeout again.
        g.onEvent("x", now, out);
        long ts = now;
        now += 10_000;
        g.onPeriodicEmit(out);
        assertEquals(now - 1_001, last(), "idle after the idle timeout (" + ts + ")");
    }

    @Test
    void aGeneratorWhoseReaderHasRecordsButItselfNoneOnlyGoesIdle() {
        // The main output of a reader whose partitions have records: it never sees one itself.
        EventTimeWatermarks.ReaderActivity reader = new EventTimeWatermarks.ReaderActivity();
        EventTimeWatermarks.Generator<Object> split =
                new EventTimeWatermarks.Generator<>(1_000, 10_000, 60_000, () -> now, () -> now, reader);
        EventTimeWatermarks.Generator<Object> main =
                new EventTimeWatermarks.Generator<>(1_000, 10_000, 60_000, () -> now, () -> now, reader);
        List<String> status = new ArrayList<>();
        WatermarkOutput o = new WatermarkOutput() {
            @Override
            public void emitWatermark(Watermark w) {
                emitted.add(w.getTimestamp());
            }

            @Override
            public void markIdle() {
                status.add("idle");
            }

            @Override
            public void markActive() {
                status.add("active");
            }
        };
        split.onEvent("x", now - 3_600_000, out);
        main.onPeriodicEmit(o);
        now += 10_000;
        main.onPeriodicEmit(o);
        now += 3_600_000;
        main.onPeriodicEmit(o);
        assertEquals(List.of(), emitted, "event time not pulled forward");
        assertEquals(List.of("idle", "idle"), status, "idle once the timeout passed");
    }

    @Test
    void aReaderThatHasReadNothingFollowsTheWallClockAfterTheIdleTimeout() {
        // A job restored onto silent partitions (or a reader without partitions): its restored
        // timers still fire at night.
        g.onPeriodicEmit(out);
        assertEquals(0, emitted.size());
        now += 10_000;
        g.onPeriodicEmit(out);
        assertEquals(now - 1_001, last());
    }

    @Test
    void aFarFutureClockDoesNotDragEventTimeAlong() {
        g.onEvent("broken clock", now + 365L * 24 * 3600 * 1000, out);
        g.onPeriodicEmit(out);
        assertEquals(now + 60_000 - 1_001, last(), "capped at wall clock plus the allowed skew");
    }

    @Test
    void neverGoesBackwards() {
        g.onEvent("x", 500_000, out);
        g.onPeriodicEmit(out);
        g.onEvent("late", 100_000, out);
        g.onPeriodicEmit(out);
        assertEquals(1, emitted.size());
    }
}
