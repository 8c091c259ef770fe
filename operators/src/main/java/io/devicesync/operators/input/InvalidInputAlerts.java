package io.devicesync.operators.input;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.DeadLetter;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * One {@code INVALID_INPUT} alert per reject reason and event-time minute (the window, one minute
 * unless {@code --alerts.invalid-input-window} says otherwise), with the count — never one per
 * record. Keyed by reason.
 *
 * <p>A record counts in the minute of {@code max(its time, watermark)}, so a minute whose alert
 * went out is never reopened by a late record: each (reason, minute) is alerted once and its id is
 * a hash of the two. Its time is clamped like the events' event time: a time further than
 * {@code --watermark.max-future-skew} ahead of the wall clock counts as the wall clock plus the
 * skew, so a producer's far-future timestamps cannot open windows that close in days (or never)
 * and keep their counts in state meanwhile.
 */
public class InvalidInputAlerts extends KeyedProcessFunction<String, DeadLetter, Alert> {
    private static final long serialVersionUID = 1L;
    private final long window;
    private final long maxFutureSkew;

    /**
     * @param window the aggregation window, at least 1 ms
     * @param maxFutureSkew how far ahead of the wall clock a record's time may count
     */
    public InvalidInputAlerts(java.time.Duration window, java.time.Duration maxFutureSkew) {
        this.window = window.toMillis();
        this.maxFutureSkew = maxFutureSkew.toMillis();
        if (this.window < 1) throw new IllegalArgumentException("window must be at least 1 ms");
    }

    /** Count of rejected records per minute start; an entry is removed when its alert is sent. */
    public static final MapStateDescriptor<Long, Long> COUNTS =
            new MapStateDescriptor<>("invalidCountsByMinute", Types.LONG, Types.LONG);

    private transient MapState<Long, Long> counts;

    @Override
    public void open(OpenContext ctx) {
        counts = getRuntimeContext().getMapState(COUNTS);
    }

    @Override
    public void processElement(DeadLetter d, Context ctx, Collector<Alert> out) throws Exception {
        long latest = saturatedAdd(ctx.timerService().currentProcessingTime(), maxFutureSkew);
        long t = Math.max(Math.min(d.timestamp, latest), ctx.timerService().currentWatermark() + 1);
        long minute = Math.floorDiv(t, window) * window;
        Long n = counts.get(minute);
        if (n == null) {
            // Timer: the end of the minute; firing sends the alert and removes the count.
            ctx.timerService().registerEventTimeTimer(minute + window - 1);
            n = 0L;
        }
        counts.put(minute, n + 1);
    }

    private static long saturatedAdd(long a, long b) {
        long r = a + b;
        return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Alert> out) throws Exception {
        long minute = timestamp + 1 - window;
        Long n = counts.get(minute);
        if (n == null) return;
        counts.remove(minute);
        String reason = ctx.getCurrentKey();
        out.collect(Alerts.of(AlertType.INVALID_INPUT, Severity.WARNING)
                .cause(n + " record(s) rejected to the dead-letter topic: " + reason)
                .strategy(Strategy.DEAD_LETTER)
                .detail("reason", reason)
                .detail("count", n)
                .detail("windowStart", minute)
                .detail("windowMs", window)
                .ts(timestamp)
                .build(reason, Long.toString(minute)));
    }
}
