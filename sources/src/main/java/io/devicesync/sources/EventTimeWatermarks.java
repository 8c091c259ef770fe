package io.devicesync.sources;

import io.devicesync.model.SourceRecord;
import java.io.Serializable;
import java.time.Duration;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;

/**
 * Event time that never stalls. Per Kafka partition (the source creates one generator per split):
 *
 * <ul>
 *   <li>the watermark is the highest event time seen minus the out-of-orderness bound;
 *   <li>a timestamp more than {@code maxFutureSkew} ahead of the wall clock counts as the wall
 *       clock plus that skew: a device with a wildly wrong clock cannot drag event time forward for
 *       everyone (its own records are still processed, with their own timestamps);
 *   <li>once the partition has been idle (no record) for {@code idleTimeout} <em>after its
 *       records</em> (longer after records read far behind the wall clock: as long as they were
 *       behind, at most {@link #CATCH_UP_IDLE_FACTOR} idle timeouts), the watermark follows the
 *       wall clock minus the out-of-orderness bound, so
 *       event-time timers (reorder grace, audits, deadlines) fire at night, during a broker outage
 *       and in a quiet test. A partition with a backlog is never idle: its records keep coming (and
 *       the activity clock stops while the task is backpressured), so during a catch-up event time
 *       follows the data being read, the slowest partition first;
 *   <li>a generator that has never seen a record never pulls event time forward: after
 *       {@code idleTimeout} it only marks itself idle, so it holds back no one either. Flink's
 *       source creates one generator per split <em>and one for the reader's main output</em>
 *       ({@code ProgressiveTimestampsAndWatermarks.createMainOutput}) and forwards the highest
 *       watermark of the two; the Kafka reader emits every record through its splits, so the main
 *       output's generator never sees one. Were it to follow the wall clock, event time would
 *       follow the wall clock whatever the partitions hold, and a catch-up would take every old
 *       increment for late. A reader without partitions is idle the same way.
 * </ul>
 *
 * <p>A record that arrives behind the watermark is not dropped: operators schedule from
 * {@code max(eventTime, watermark)}.
 */
public final class EventTimeWatermarks {
    private EventTimeWatermarks() {}

    /** A wall clock that can be replaced in tests. */
    @FunctionalInterface
    public interface Clock extends Serializable {
        long now();
    }

    public static final Clock SYSTEM_CLOCK = System::currentTimeMillis;

    public static WatermarkStrategy<SourceRecord> strategy(
            Duration outOfOrderness, Duration idleTimeout, Duration maxFutureSkew) {
        return strategy(outOfOrderness, idleTimeout, maxFutureSkew, SYSTEM_CLOCK);
    }

    public static WatermarkStrategy<SourceRecord> strategy(
            Duration outOfOrderness, Duration idleTimeout, Duration maxFutureSkew, Clock clock) {
        return EventTimeWatermarks.<SourceRecord>generator(outOfOrderness, idleTimeout, maxFutureSkew, clock)
                .withTimestampAssigner((r, kafkaTs) -> r.eventTime());
    }

    /** The generator for any record type; the caller adds the timestamp assigner. */
    static <T> WatermarkStrategy<T> generator(
            Duration outOfOrderness, Duration idleTimeout, Duration maxFutureSkew, Clock clock) {
        return WatermarkStrategy.<T>forGenerator(
                new Supplier<>(outOfOrderness.toMillis(), idleTimeout.toMillis(), maxFutureSkew.toMillis(), clock));
    }

    /**
     * What the generators of one reader (one source subtask: its splits' and its main output's)
     * know together: whether any of them has had a record. Flink deserializes the strategy, and so
     * this supplier, once per subtask, and asks it for every generator of that subtask's reader.
     */
    static final class ReaderActivity {
        volatile boolean anyRecord;
    }

    /** Makes the generators of one reader, sharing its {@link ReaderActivity}. */
    static final class Supplier<T> implements WatermarkGeneratorSupplier<T> {
        private static final long serialVersionUID = 1L;
        private final long bound;
        private final long idle;
        private final long skew;
        private final Clock clock;
        private transient ReaderActivity reader;

        Supplier(long bound, long idle, long skew, Clock clock) {
            this.bound = bound;
            this.idle = idle;
            this.skew = skew;
            this.clock = clock;
        }

        @Override
        public WatermarkGenerator<T> createWatermarkGenerator(Context ctx) {
            if (reader == null) reader = new ReaderActivity();
            // Idleness runs on the input activity clock, which stops while the task is backpressured:
            // a backlog that is not being read is not "idle".
            return new Generator<>(bound, idle, skew, clock, ctx.getInputActivityClock()::relativeTimeMillis, reader);
        }
    }

    /**
     * A partition whose last record was behind the wall clock (read during a catch-up) is idle only
     * after up to this many idle timeouts of silence: a stall of the source in the middle of a
     * catch-up (a slow fetch, a broker that pauses) would otherwise make event time jump to the wall
     * clock and the audits take increments still in the backlog for lost.
     */
    public static final long CATCH_UP_IDLE_FACTOR = 6;

    /** The generator; public for tests. */
    public static final class Generator<T> implements WatermarkGenerator<T> {
        private final long bound;
        private final long idleTimeout;
        private final long maxFutureSkew;
        private final Clock clock;
        private final Clock activityClock;
        /** The highest event time seen (clamped); {@code Long.MIN_VALUE} until the first record. */
        private long maxTimestamp = Long.MIN_VALUE;
        /** Activity-clock time of the last record (of the generator's creation before the first). */
        private long lastRecordWallTime;

        /**
         * How far behind the wall clock the partition's event time was at its last record: a
         * partition read far behind (a catch-up) that falls silent is more likely stalled than
         * done, so it waits longer before it is taken for idle (see {@link #CATCH_UP_IDLE_FACTOR}).
         */
        private long lagAtLastRecord;

        private long emitted = Long.MIN_VALUE;
        private final ReaderActivity reader;

        /** A generator alone (tests): the only one of its reader. */
        public Generator(long bound, long idleTimeout, long maxFutureSkew, Clock clock) {
            this(bound, idleTimeout, maxFutureSkew, clock, clock, new ReaderActivity());
        }

        /**
         * @param clock the wall clock, what an idle watermark follows
         * @param activityClock measures idleness (Flink's input activity clock: paused under backpressure)
         * @param reader what the reader's other generators know (has any had a record)
         */
        Generator(
                long bound,
                long idleTimeout,
                long maxFutureSkew,
                Clock clock,
                Clock activityClock,
                ReaderActivity reader) {
            this.bound = bound;
            this.idleTimeout = idleTimeout;
            this.maxFutureSkew = maxFutureSkew;
            this.clock = clock;
            this.activityClock = activityClock;
            this.reader = reader;
            this.lastRecordWallTime = activityClock.now();
        }

        @Override
        public void onEvent(T event, long eventTimestamp, WatermarkOutput output) {
            lastRecordWallTime = activityClock.now();
            if (!reader.anyRecord) reader.anyRecord = true;
            long wall = clock.now();
            maxTimestamp = Math.max(maxTimestamp, Math.min(eventTimestamp, wall + maxFutureSkew));
            // Behind where the partition already is: the highest event time, or the wall clock its
            // idle watermark reached (a late record after an idle spell is no catch-up).
            long reached = emitted == Long.MIN_VALUE ? maxTimestamp : Math.max(maxTimestamp, emitted + bound + 1);
            lagAtLastRecord = wall - reached;
        }

        /**
         * How long the partition must be silent to be idle: the idle timeout, or, when its last
         * record was further behind the wall clock than the idle timeout and the bound (it was being
         * caught up), as long as it was behind, at most {@link #CATCH_UP_IDLE_FACTOR} idle timeouts.
         */
        long silenceForIdle() {
            if (maxTimestamp == Long.MIN_VALUE || lagAtLastRecord <= idleTimeout + bound) return idleTimeout;
            long cap = idleTimeout > Long.MAX_VALUE / CATCH_UP_IDLE_FACTOR
                    ? Long.MAX_VALUE
                    : idleTimeout * CATCH_UP_IDLE_FACTOR;
            return Math.max(idleTimeout, Math.min(lagAtLastRecord, cap));
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {
            boolean idle = activityClock.now() - lastRecordWallTime >= silenceForIdle();
            long candidate;
            if (maxTimestamp != Long.MIN_VALUE) {
                candidate = maxTimestamp - bound - 1;
            } else if (!idle) {
                return;
            } else if (reader.anyRecord) {
                // Never had a record while its reader's partitions have: it knows nothing of event
                // time (the main output beside the partitions' outputs). Idle: it holds back no one.
                output.markIdle();
                return;
            } else {
                // The reader has read nothing for the idle timeout since it started: a job restored
                // onto silent partitions, or a reader without partitions. The wall clock, as for an
                // idle partition, so that restored timers fire at night.
                candidate = Long.MIN_VALUE;
            }
            if (idle) candidate = Math.max(candidate, clock.now() - bound - 1);
            if (candidate > emitted) {
                emitted = candidate;
                output.emitWatermark(new Watermark(candidate));
            }
        }
    }
}
