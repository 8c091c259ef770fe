package io.devicesync.operators.delivery;

import io.devicesync.model.Alert;
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
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keyed by consumer: the consumer's backlog over the whole job, the sum of the counts by key group
 * that the RedispatchScheduler's subtasks report ({@link BacklogReport}: at most one per key group
 * and second, so its work is bounded by the number of key groups, whatever the fleet or the
 * backlog), and BACKLOG / BACKLOG_CLEARED with {@link SchedulerRules#backlog}'s hysteresis, in
 * processing time. A consumer no longer listed is forgotten within the hour (an hourly timer per
 * consumer with state).
 *
 * <p>It runs under the uid of the scheduler of earlier builds, which was keyed by consumer too:
 * after an upgrade it takes that scheduler's open BACKLOG and episode number from its state
 * ({@link SchedulerState}) at the consumer's first report, and clears what that scheduler kept
 * (its value and its episodes by device; the counts come anew from the scheduler keyed by device,
 * which the tracker tells of every open episode and parking at that start).
 *
 * <p>Metric, per consumer (group {@code consumer}): gauge {@code backlog}, on the subtask that owns
 * the consumer (kept in union operator state: right at once after a restore).
 */
public class DeliveryBacklog extends KeyedProcessFunction<String, BacklogReport, Alert>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;

    public static final String BY_KEY_GROUP = "backlog-by-key-group";
    public static final String BACKLOG = "backlog";
    static final long LISTING_CHECK_MS = 3_600_000;

    private final List<String> consumers;
    private final HashMap<String, Long> thresholds = new HashMap<>();

    /** The earlier builds' scheduler's state: read once after an upgrade, then cleared. */
    static final String LEGACY_SCHEDULER = "scheduler";

    static final String LEGACY_EPISODES = "episodes";

    private transient ValueState<SchedulerState> legacyScheduler;
    private transient MapState<String, EpisodeEntry> legacyEpisodes;
    /** Consumers whose earlier state this run has looked for. */
    private transient java.util.Set<String> legacyChecked;

    private transient MapState<Integer, Long> byKeyGroup;
    private transient ValueState<BacklogState> backlog;
    private transient SchedulerRules rules;
    private transient Map<String, java.util.concurrent.atomic.AtomicLong> gauges;
    private transient ListState<Tuple2<String, Long>> gaugeState;

    /** @param thresholds each consumer's {@code --backlog.threshold}, by name */
    public DeliveryBacklog(List<String> consumers, Map<String, Long> thresholds) {
        this.consumers = List.copyOf(consumers);
        for (String c : consumers) {
            Long t = thresholds.get(c);
            if (t == null) throw new IllegalArgumentException("no backlog threshold for " + c);
            this.thresholds.put(c, t);
        }
    }

    /** Every consumer with the same threshold. */
    public DeliveryBacklog(List<String> consumers, long threshold) {
        this(consumers, same(consumers, threshold));
    }

    private static Map<String, Long> same(List<String> consumers, long threshold) {
        Map<String, Long> m = new HashMap<>();
        for (String c : consumers) m.put(c, threshold);
        return m;
    }

    @Override
    public void initializeState(FunctionInitializationContext ctx) throws Exception {
        gaugeState = ctx.getOperatorStateStore()
                .getUnionListState(new ListStateDescriptor<>("backlogGauges", Types.TUPLE(Types.STRING, Types.LONG)));
        gauges = new HashMap<>();
        if (!ctx.isRestored()) return;
        for (Tuple2<String, Long> g : gaugeState.get()) {
            if (owned(g.f0)) gauges.put(g.f0, new java.util.concurrent.atomic.AtomicLong(g.f1));
        }
    }

    @Override
    public void open(OpenContext ctx) {
        byKeyGroup = getRuntimeContext().getMapState(new MapStateDescriptor<>(BY_KEY_GROUP, Types.INT, Types.LONG));
        backlog = getRuntimeContext()
                .getState(new ValueStateDescriptor<>(BACKLOG, TypeInformation.of(BacklogState.class)));
        legacyScheduler = getRuntimeContext()
                .getState(new ValueStateDescriptor<>(LEGACY_SCHEDULER, TypeInformation.of(SchedulerState.class)));
        legacyEpisodes = getRuntimeContext()
                .getMapState(new MapStateDescriptor<>(
                        LEGACY_EPISODES, Types.STRING, TypeInformation.of(EpisodeEntry.class)));
        legacyChecked = new java.util.HashSet<>();
        rules = new SchedulerRules();
        for (String c : consumers) {
            java.util.concurrent.atomic.AtomicLong g =
                    gauges.computeIfAbsent(c, k -> new java.util.concurrent.atomic.AtomicLong());
            getRuntimeContext().getMetricGroup().addGroup("consumer", c).gauge("backlog", g::get);
        }
    }

    @Override
    public void snapshotState(FunctionSnapshotContext ctx) throws Exception {
        List<Tuple2<String, Long>> mine = new java.util.ArrayList<>();
        for (Map.Entry<String, java.util.concurrent.atomic.AtomicLong> e : gauges.entrySet()) {
            if (owned(e.getKey())) mine.add(Tuple2.of(e.getKey(), e.getValue().get()));
        }
        gaugeState.update(mine);
    }

    private boolean owned(String consumer) {
        TaskInfo t = getRuntimeContext().getTaskInfo();
        return KeyGroupRangeAssignment.assignKeyToParallelOperator(
                        consumer, t.getMaxNumberOfParallelSubtasks(), t.getNumberOfParallelSubtasks())
                == t.getIndexOfThisSubtask();
    }

    @Override
    public void processElement(BacklogReport r, Context ctx, Collector<Alert> out) throws Exception {
        String consumer = ctx.getCurrentKey();
        if (!thresholds.containsKey(consumer)) {
            forget();
            return;
        }
        long now = ctx.timerService().currentProcessingTime();
        BacklogState st = legacyChecked.add(consumer) ? fromEarlierBuild(consumer, now) : null;
        if (st != null) {
            ctx.timerService().registerProcessingTimeTimer(nextListingCheck(now));
            ctx.timerService().registerProcessingTimeTimer(st.gateUntil); // the gate lifts then at the latest
        } else {
            st = backlog.value();
        }
        Long was = byKeyGroup.get(r.keyGroup);
        boolean lifted = st != null && liftGate(st, consumer, now);
        boolean gated = st != null && st.groupsToHear > 0;
        if (!gated && !lifted && r.count == (was == null ? 0 : was)) return; // nothing changed: nothing kept
        if (st == null) {
            st = new BacklogState();
            ctx.timerService().registerProcessingTimeTimer(nextListingCheck(now)); // then each hour again
        }
        if (gated && was == null) st.groupsToHear--; // a key group heard from since the upgrade
        long delta = r.count - (was == null ? 0 : was);
        if (r.count == 0 && !gated) {
            byKeyGroup.remove(r.keyGroup);
        } else if (delta != 0 || was == null) {
            byKeyGroup.put(r.keyGroup, r.count); // while gated, zeros too: heard from
        }
        st.backlog += delta;
        // After an upgrade the sum is whole only once every key group has reported (each subtask
        // reports all of its own within a second): until then no BACKLOG_CLEARED on a part of it.
        if (st.groupsToHear == 0 && (delta != 0 || gated || st.gateUntil != 0)) decide(st, consumer, now, out);
        backlog.update(st);
        gauges.get(consumer).set(st.backlog);
    }

    /**
     * Every key group reports within a second of a restore; should some never come (a scheduler
     * with other key groups than expected), the sum decides after a minute anyway. True when lifted.
     */
    private static boolean liftGate(BacklogState st, String consumer, long now) {
        if (st.groupsToHear <= 0 || now < st.gateUntil) return false;
        LOG.warn(
                "{}: {} key groups never reported after the upgrade; the backlog is taken as it is",
                consumer,
                st.groupsToHear);
        st.groupsToHear = 0;
        return true;
    }

    /** BACKLOG / BACKLOG_CLEARED for the sum as it is; the upgrade's gate is over. */
    private void decide(BacklogState st, String consumer, long now, Collector<Alert> out) {
        st.gateUntil = 0;
        rules.backlog(st, consumer, thresholds.get(consumer), now, new SchedulerRules.Effects() {
            @Override
            public void deadLetter(io.devicesync.model.Redispatch last) {
                throw new IllegalStateException("the backlog dead-letters nothing");
            }

            @Override
            public void alert(Alert alert) {
                out.collect(alert);
            }
        });
    }

    private static long nextListingCheck(long now) {
        return (Math.floorDiv(now, LISTING_CHECK_MS) + 1) * LISTING_CHECK_MS;
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Alert> out) throws Exception {
        if (!thresholds.containsKey(ctx.getCurrentKey())) {
            forget();
            return;
        }
        BacklogState st = backlog.value();
        if (st == null) return;
        long now = ctx.timerService().currentProcessingTime();
        if (liftGate(st, ctx.getCurrentKey(), now)) { // no report came after the gate's minute
            decide(st, ctx.getCurrentKey(), now, out);
            backlog.update(st);
            gauges.get(ctx.getCurrentKey()).set(st.backlog);
        }
        ctx.timerService().registerProcessingTimeTimer(nextListingCheck(now));
    }

    /**
     * The open BACKLOG and episode number the scheduler of an earlier build kept for the current
     * consumer, its state cleared; null when there is none (this build's state).
     */
    /** How long after an upgrade the backlog waits at most for every key group's report. */
    static final long GATE_MS = 60_000;

    private BacklogState fromEarlierBuild(String consumer, long now) throws Exception {
        SchedulerState old = legacyScheduler.value();
        if (old == null) return null;
        BacklogState st = backlog.value();
        if (st == null) st = new BacklogState();
        st.backlogOpen = old.backlogOpen;
        st.backlogEpisode = Math.max(st.backlogEpisode, old.backlogEpisode);
        st.groupsToHear = getRuntimeContext().getTaskInfo().getMaxNumberOfParallelSubtasks();
        st.gateUntil = now + GATE_MS;
        legacyScheduler.clear();
        legacyEpisodes.clear(); // once: every episode that scheduler kept of the consumer
        LOG.info(
                "{}: the BACKLOG state of the earlier scheduler keyed by consumer taken over (open {}, episode {}),"
                        + " its episodes cleared",
                consumer,
                st.backlogOpen,
                st.backlogEpisode);
        return st;
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DeliveryBacklog.class);

    /** A consumer no longer listed: its counts and alert state go (listed again, it starts afresh). */
    private void forget() {
        byKeyGroup.clear();
        backlog.clear();
        legacyScheduler.clear();
        legacyEpisodes.clear();
    }

    /** The consumer's backlog gauge (tests). */
    long gauge(String consumer) {
        return gauges.get(consumer).get();
    }
}
