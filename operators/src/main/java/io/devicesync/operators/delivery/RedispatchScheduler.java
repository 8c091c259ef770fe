package io.devicesync.operators.delivery;

import io.devicesync.model.Alert;
import io.devicesync.model.Redispatch;
import io.devicesync.operators.util.Tags;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple4;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keyed by consumer: sends the attempts the DeliveryTracker found due within the consumer's budget
 * ({@code --redispatch.rate} per second, {@link SendWindow}), the waiting ones in priority order
 * ({@link RedispatchQueue}), a newer attempt replacing a queued one; dead-letters exhausted episodes
 * (with one REDISPATCH_EXHAUSTED alert) and counts the backlog (devices with an open episode or
 * parked) with BACKLOG / BACKLOG_CLEARED hysteresis. Its work follows the problems (attempts,
 * episode changes), never the event rate. The budget is in processing time: it protects the
 * consumer's real throughput, also while a backlog of input is replayed.
 *
 * <p>Metrics, per consumer (group {@code consumer}): {@code redispatchesSent},
 * {@code redispatchesDeferred} (attempts that waited for the budget), {@code redispatchesExhausted},
 * gauges {@code backlog}, {@code redispatchesQueued} and {@code oldestUnacknowledgedAgeMs}.
 */
public class RedispatchScheduler extends KeyedProcessFunction<String, DeliveryEvent, Redispatch>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;

    public static final String EPISODES = "episodes";
    public static final String SCHEDULER = "scheduler";
    /**
     * Every consumer with state has a processing-time timer on the next full hour: a consumer no
     * longer listed (the list changed at a restore) is forgotten within the hour, even if nothing
     * of it comes again (no attempt queued, no drain timer).
     */
    static final long LISTING_CHECK_MS = 3_600_000;

    private final List<String> consumers;
    /** Each consumer's budget per second and backlog threshold ({@code --delivery.consumer.<name>.*}). */
    private final java.util.HashMap<String, Integer> rates = new java.util.HashMap<>();

    private final java.util.HashMap<String, Long> thresholds = new java.util.HashMap<>();

    private transient MapState<String, EpisodeEntry> episodes;
    private transient ValueState<SchedulerState> scheduler;
    private transient Map<String, RedispatchQueue> queues;
    private transient Map<String, ConsumerMetrics> metrics;
    private transient SchedulerRules rules;
    private transient Effects effects;
    /**
     * The gauges of this subtask's consumers (backlog, queued, oldest waiting since), in union
     * operator state: right at once after a restore, before the consumer's queue is rebuilt (at its
     * next event or drain timer), at any parallelism.
     */
    private transient ListState<Tuple4<String, Long, Long, Long>> gauges;

    private transient Map<String, long[]> restoredGauges;

    /** Every consumer with the same budget and backlog threshold. */
    public RedispatchScheduler(List<String> consumers, int rate, long backlogThreshold) {
        this(consumers, same(consumers, rate), same(consumers, backlogThreshold));
    }

    /** Each consumer's budget per second and backlog threshold, by name (one of each for every consumer). */
    public RedispatchScheduler(List<String> consumers, Map<String, Integer> rates, Map<String, Long> thresholds) {
        this.consumers = List.copyOf(consumers);
        for (String c : consumers) {
            if (!rates.containsKey(c) || !thresholds.containsKey(c)) {
                throw new IllegalArgumentException("no budget or backlog threshold for " + c);
            }
            this.rates.put(c, rates.get(c));
            this.thresholds.put(c, thresholds.get(c));
        }
    }

    private static <V> Map<String, V> same(List<String> consumers, V value) {
        Map<String, V> m = new java.util.HashMap<>();
        for (String c : consumers) m.put(c, value);
        return m;
    }

    /** A consumer's budget: its own, or the smallest of the listed ones for a key not listed (none is keyed so). */
    private int rate(String consumer) {
        Integer r = rates.get(consumer);
        return r != null ? r : rates.values().stream().min(Integer::compare).orElse(1);
    }

    private long backlogThreshold(String consumer) {
        Long t = thresholds.get(consumer);
        return t != null ? t : thresholds.values().stream().min(Long::compare).orElse(1L);
    }

    /** Per-consumer metrics; gauges read values the task thread wrote. */
    static final class ConsumerMetrics {
        final Counter sent;
        final Counter deferred;
        final Counter exhausted;
        volatile long backlog;
        volatile long queued;
        volatile long oldestWaitingSince = Long.MAX_VALUE;

        ConsumerMetrics(MetricGroup g) {
            sent = g.counter("redispatchesSent");
            deferred = g.counter("redispatchesDeferred");
            exhausted = g.counter("redispatchesExhausted");
            g.gauge("backlog", () -> backlog);
            g.gauge("redispatchesQueued", () -> queued);
            g.gauge("oldestUnacknowledgedAgeMs", () -> {
                long oldest = oldestWaitingSince;
                return oldest == Long.MAX_VALUE ? 0L : Math.max(0L, System.currentTimeMillis() - oldest);
            });
        }
    }

    @Override
    public void open(OpenContext ctx) {
        episodes = getRuntimeContext()
                .getMapState(new MapStateDescriptor<>(EPISODES, Types.STRING, TypeInformation.of(EpisodeEntry.class)));
        scheduler = getRuntimeContext()
                .getState(new ValueStateDescriptor<>(SCHEDULER, TypeInformation.of(SchedulerState.class)));
        queues = new HashMap<>();
        metrics = new HashMap<>();
        rules = new SchedulerRules();
        effects = new Effects();
        MetricGroup group = getRuntimeContext().getMetricGroup();
        for (String c : consumers) metrics.put(c, new ConsumerMetrics(group.addGroup("consumer", c)));
        for (Map.Entry<String, long[]> e : restoredGauges.entrySet()) {
            ConsumerMetrics m = metrics.get(e.getKey());
            if (m == null) continue; // no longer listed
            m.backlog = e.getValue()[0];
            m.queued = e.getValue()[1];
            m.oldestWaitingSince = e.getValue()[2];
        }
    }

    @Override
    public void initializeState(FunctionInitializationContext ctx) throws Exception {
        gauges = ctx.getOperatorStateStore()
                .getUnionListState(new ListStateDescriptor<>(
                        "consumerGauges", Types.TUPLE(Types.STRING, Types.LONG, Types.LONG, Types.LONG)));
        restoredGauges = new HashMap<>();
        if (!ctx.isRestored()) return;
        for (Tuple4<String, Long, Long, Long> g : gauges.get()) {
            if (owned(g.f0)) restoredGauges.put(g.f0, new long[] {g.f1, g.f2, g.f3});
        }
    }

    @Override
    public void snapshotState(FunctionSnapshotContext ctx) throws Exception {
        List<Tuple4<String, Long, Long, Long>> mine = new java.util.ArrayList<>();
        for (Map.Entry<String, ConsumerMetrics> e : metrics.entrySet()) {
            if (!owned(e.getKey())) continue;
            ConsumerMetrics m = e.getValue();
            mine.add(Tuple4.of(e.getKey(), m.backlog, m.queued, m.oldestWaitingSince));
        }
        gauges.update(mine);
    }

    /** Whether {@code consumer}, the key, belongs to this subtask. */
    private boolean owned(String consumer) {
        TaskInfo t = getRuntimeContext().getTaskInfo();
        return KeyGroupRangeAssignment.assignKeyToParallelOperator(
                        consumer, t.getMaxNumberOfParallelSubtasks(), t.getNumberOfParallelSubtasks())
                == t.getIndexOfThisSubtask();
    }

    @Override
    public void processElement(DeliveryEvent e, Context ctx, Collector<Redispatch> out) throws Exception {
        String consumer = ctx.getCurrentKey();
        if (!consumers.contains(consumer)) {
            forget(consumer);
            return;
        }
        EpisodeEntry en = episodes.get(e.deviceId);
        if (e.kind == DeliveryEvent.Kind.CLOSED && en == null) return; // nothing to close: nothing changes
        SchedulerState st = load();
        RedispatchQueue q = queue(consumer);
        ConsumerMetrics m = metrics(consumer);
        long now = ctx.timerService().currentProcessingTime();
        SchedulerRules.Outcome o = rules.onEvent(st, consumer, en, e, now, effects.to(ctx));
        if (e.kind == DeliveryEvent.Kind.EXHAUSTED && m != null) m.exhausted.inc();
        switch (o.store) {
            case PUT:
                episodes.put(e.deviceId, o.entry);
                q.put(e.deviceId, o.entry);
                break;
            case REMOVE:
                episodes.remove(e.deviceId);
                q.remove(e.deviceId);
                break;
            default:
                break;
        }
        rules.backlog(st, consumer, backlogThreshold(consumer), now, effects);
        boolean sentNow = drain(st, q, consumer, now, ctx, out, e.deviceId);
        if (e.kind == DeliveryEvent.Kind.ATTEMPT && !sentNow && m != null) m.deferred.inc();
        scheduler.update(st);
        refresh(m, st, q);
        ctx.timerService().registerProcessingTimeTimer(nextListingCheck(now)); // the same hour again is one timer
    }

    private static long nextListingCheck(long now) {
        return (Math.floorDiv(now, LISTING_CHECK_MS) + 1) * LISTING_CHECK_MS;
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Redispatch> out) throws Exception {
        String consumer = ctx.getCurrentKey();
        if (!consumers.contains(consumer)) {
            forget(consumer);
            return;
        }
        SchedulerState st = scheduler.value();
        if (st == null) return; // nothing kept for it
        if (st.drainTimer == timestamp) st.drainTimer = 0;
        RedispatchQueue q = queue(consumer);
        long now = ctx.timerService().currentProcessingTime();
        drain(st, q, consumer, now, ctx, out, null);
        scheduler.update(st);
        refresh(metrics(consumer), st, q);
        if (timestamp % LISTING_CHECK_MS == 0) ctx.timerService().registerProcessingTimeTimer(nextListingCheck(now));
    }

    /** Sends queued attempts, first in priority order, while the budget allows; a timer for the rest. */
    private boolean drain(
            SchedulerState st,
            RedispatchQueue q,
            String consumer,
            long now,
            Context ctx,
            Collector<Redispatch> out,
            String watched)
            throws Exception {
        boolean watchedSent = false;
        ConsumerMetrics m = metrics(consumer);
        int rate = rate(consumer);
        while (q.queuedCount() > 0 && SendWindow.canSend(st, now, rate)) {
            String deviceId = q.pollQueued();
            EpisodeEntry en = episodes.get(deviceId);
            if (en == null || !en.queued) continue;
            out.collect(new Redispatch(en.state, consumer, en.attempt));
            SendWindow.record(st, now);
            en.sent++;
            en.queued = false;
            episodes.put(deviceId, en);
            if (m != null) m.sent.inc();
            if (deviceId.equals(watched)) watchedSent = true;
        }
        long next = q.queuedCount() > 0 ? SendWindow.nextAllowed(st, now, rate) : 0;
        if (next != st.drainTimer) {
            if (st.drainTimer != 0) ctx.timerService().deleteProcessingTimeTimer(st.drainTimer);
            if (next != 0) ctx.timerService().registerProcessingTimeTimer(next);
            st.drainTimer = next;
        }
        return watchedSent;
    }

    private SchedulerState load() throws Exception {
        SchedulerState st = scheduler.value();
        return st == null ? new SchedulerState() : st;
    }

    /** The consumer's queue, rebuilt from its entries the first time this instance needs it. */
    private RedispatchQueue queue(String consumer) throws Exception {
        RedispatchQueue q = queues.get(consumer);
        if (q == null) {
            q = new RedispatchQueue();
            for (Map.Entry<String, EpisodeEntry> e : episodes.entries()) q.put(e.getKey(), e.getValue());
            queues.put(consumer, q);
        }
        return q;
    }

    private ConsumerMetrics metrics(String consumer) {
        return metrics.get(consumer);
    }

    private static void refresh(ConsumerMetrics m, SchedulerState st, RedispatchQueue q) {
        if (m == null) return;
        m.backlog = st.backlog;
        m.queued = q.queuedCount();
        m.oldestWaitingSince = q.oldestWaitingSince();
    }

    /**
     * A consumer no longer listed: its episodes, queue and backlog are dropped (were it listed again,
     * it would start afresh, as the tracker does). A drain timer still set finds nothing.
     */
    private void forget(String consumer) {
        episodes.clear();
        scheduler.clear();
        queues.remove(consumer);
    }

    /** The consumer's gauges: backlog, queued, oldest waiting since (tests). */
    long[] gauges(String consumer) {
        ConsumerMetrics m = metrics.get(consumer);
        return new long[] {m.backlog, m.queued, m.oldestWaitingSince};
    }

    /** The consumer's redispatchesDeferred so far (tests). */
    long deferred(String consumer) {
        return metrics.get(consumer).deferred.getCount();
    }

    /** The rules' effects as side outputs (the metrics are counted by the function). */
    private static final class Effects implements SchedulerRules.Effects {
        private Context ctx;

        Effects to(Context ctx) {
            this.ctx = ctx;
            return this;
        }

        @Override
        public void deadLetter(Redispatch last) {
            ctx.output(Tags.REDISPATCH_DEAD_LETTERS, last);
        }

        @Override
        public void alert(Alert alert) {
            ctx.output(Tags.ALERTS, alert);
        }
    }
}
