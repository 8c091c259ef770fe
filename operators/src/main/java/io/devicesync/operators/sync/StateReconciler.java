package io.devicesync.operators.sync;

import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.operators.HeldIncrement;
import io.devicesync.operators.ReconcilerState;
import io.devicesync.operators.alerts.AlertRouting;
import io.devicesync.operators.alerts.PolicyInput;
import io.devicesync.operators.serde.Compact;
import io.devicesync.operators.util.IdleTtl;
import io.devicesync.operators.util.KeyGroupCounts;
import io.devicesync.operators.util.Tags;
import java.time.Duration;
import java.util.EnumMap;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The Flink side of the reconciler (keyed by deviceId; input 1: in-order increments from the
 * SequenceGuard, input 2: lookup results): it loads the device's state, lets {@link Reconciliation}
 * decide, emits what it decided (device-state versions, alerts, audit records), counts, and saves.
 * The rules are in {@link Reconciliation}. Its alerts and the lookup breakers' reports leave on one
 * side output, {@link AlertRouting#RECONCILER}, so that the AlertPolicy sees them in this order.
 */
public class StateReconciler extends KeyedCoProcessFunction<String, Increment, LookupResult, DeviceState>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;

    /** One value per device: the published version and document; cleared by TTL when idle. */
    public static final String DEVICE = "reconciler";
    /** Increments waiting for a repair, by "epoch/seq"; empty for a device that does not wait. */
    public static final String HELD = "reconcilerHeld";
    /**
     * The held increments' version order: for each held "epoch/seq" but the newest, the version
     * held after it ({epoch, seq}); the oldest and newest are in the device's value.
     */
    public static final String HELD_ORDER = "reconcilerHeldOrder";
    /**
     * For a device in the count of waiting devices: the processing time of its count's check, the
     * one timer it has. A counted device's value can expire by TTL without the guard's word (a stop
     * longer than a day, say): the check, one TTL after the device's last write, finds it gone and
     * takes it out of the count. Apart from the device's value so that checking writes nothing to it.
     */
    public static final String COUNT_CHECK = "reconcilerCountCheck";

    private final int maxHeld;
    private final Duration idleTtl;
    private final int maxDocumentBytes;
    private final long notSentGraceMs;

    private transient ValueState<ReconcilerState> device;
    private transient MapState<String, HeldIncrement> heldState;
    private transient MapState<String, long[]> heldOrder;
    private transient Reconciliation rules;
    private transient HeldInMapState held;
    private transient Emitter emitter;
    /**
     * Devices of this subtask waiting for a repair (the gauge), by key group in operator state: right
     * at once after a restore, at any parallelism. After a restore from a build that did not keep
     * it, a device restored waiting is counted when it is next touched.
     */
    private transient KeyGroupCounts waiting;

    private transient ValueState<Long> countCheck;

    public StateReconciler(int maxHeld, Duration idleTtl, int maxDocumentBytes) {
        this(maxHeld, idleTtl, maxDocumentBytes, Duration.ZERO);
    }

    /**
     * @param notSentGrace how long a device's lookups that were never sent (shed, breaker open) are
     *     not yet failed repairs (see {@link Reconciliation}): two lookup attempt deadlines
     */
    public StateReconciler(int maxHeld, Duration idleTtl, int maxDocumentBytes, Duration notSentGrace) {
        this.notSentGraceMs = notSentGrace.toMillis();
        this.maxHeld = maxHeld;
        this.idleTtl = idleTtl;
        this.maxDocumentBytes = maxDocumentBytes;
    }

    @Override
    public void open(OpenContext ctx) {
        device = getRuntimeContext().getState(deviceDescriptor(idleTtl));
        heldState = getRuntimeContext().getMapState(heldDescriptor(idleTtl));
        heldOrder = getRuntimeContext().getMapState(heldOrderDescriptor(idleTtl));
        countCheck = getRuntimeContext().getState(new ValueStateDescriptor<>(COUNT_CHECK, Types.LONG));
        held = new HeldInMapState(heldState, heldOrder);
        rules = new Reconciliation(maxHeld, maxDocumentBytes, notSentGraceMs, System::currentTimeMillis);
        var metrics = getRuntimeContext().getMetricGroup();
        EnumMap<Reconciliation.Effects.Event, Counter> counters = counters(metrics);
        emitter = new Emitter(
                counters,
                metrics.counter("repairsCompleted"),
                metrics.histogram("repairLatencyMs", new DescriptiveStatisticsHistogram(1000)),
                waiting);
        metrics.gauge("devicesWaitingForRepair", waiting::total);
    }

    /** The reconciler's counters, by the event each counts (its metrics' names). */
    static EnumMap<Reconciliation.Effects.Event, Counter> counters(org.apache.flink.metrics.MetricGroup metrics) {
        EnumMap<Reconciliation.Effects.Event, Counter> c = new EnumMap<>(Reconciliation.Effects.Event.class);
        c.put(Reconciliation.Effects.Event.PUBLISHED, metrics.counter("versionsPublished"));
        c.put(Reconciliation.Effects.Event.STALE_DROPPED, metrics.counter("staleDropped"));
        c.put(Reconciliation.Effects.Event.REPAIR_FAILED, metrics.counter("repairsFailed"));
        c.put(Reconciliation.Effects.Event.HELD_OVERFLOW, metrics.counter("heldBufferOverflows"));
        c.put(Reconciliation.Effects.Event.TAIL_LOSS_REPAIRED, metrics.counter("tailLossesRepaired"));
        c.put(Reconciliation.Effects.Event.TOO_LARGE, metrics.counter("versionsTooLarge"));
        c.put(Reconciliation.Effects.Event.TOO_LARGE_TO_KEEP, metrics.counter("versionsTooLargeToKeep"));
        return c;
    }

    /**
     * The reconciler's TTL: a day longer than the guard's, {@code --state.idle-ttl}. The guard
     * forgets a device first and tells the reconciler (a forget marker on input 1); the TTL is only
     * the backstop.
     */
    private static StateTtlConfig ttl(Duration idleTtl) {
        return IdleTtl.of(idleTtl.plusDays(1));
    }

    /**
     * The descriptor of {@link #DEVICE} as the reconciler registers it (name, serializer, TTL), for
     * the job's {@code --state.idle-ttl}: what a reader of its state ({@code Inspect}) registers too.
     */
    public static ValueStateDescriptor<ReconcilerState> deviceDescriptor(Duration idleTtl) {
        ValueStateDescriptor<ReconcilerState> d = new ValueStateDescriptor<>(DEVICE, Compact.RECONCILER_STATE);
        d.enableTimeToLive(ttl(idleTtl));
        return d;
    }

    /** The descriptor of {@link #HELD} (see {@link #deviceDescriptor}). */
    public static MapStateDescriptor<String, HeldIncrement> heldDescriptor(Duration idleTtl) {
        MapStateDescriptor<String, HeldIncrement> h =
                new MapStateDescriptor<>(HELD, Types.STRING, TypeInformation.of(HeldIncrement.class));
        h.enableTimeToLive(ttl(idleTtl));
        return h;
    }

    /** The descriptor of {@link #HELD_ORDER} (see {@link #deviceDescriptor}). */
    public static MapStateDescriptor<String, long[]> heldOrderDescriptor(Duration idleTtl) {
        MapStateDescriptor<String, long[]> o = new MapStateDescriptor<>(
                HELD_ORDER, Types.STRING, PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO);
        o.enableTimeToLive(ttl(idleTtl));
        return o;
    }

    /** Devices of this subtask waiting for a repair (the gauge's value). */
    long waitingDevices() {
        return waiting.total();
    }

    @Override
    public void initializeState(FunctionInitializationContext ctx) throws Exception {
        waiting = new KeyGroupCounts("devicesWaitingByKeyGroup");
        waiting.initialize(ctx, getRuntimeContext().getTaskInfo());
    }

    @Override
    public void snapshotState(FunctionSnapshotContext ctx) throws Exception {
        waiting.snapshot();
    }

    @Override
    public void processElement1(Increment i, Context ctx, Collector<DeviceState> out) throws Exception {
        ReconcilerState s = device.value();
        if (i instanceof Increment.Forget) {
            // The guard forgot the device (silent for the idle TTL): so does the reconciler.
            if (s != null && s.countedWaiting) {
                waiting.add(ctx.getCurrentKey(), -1);
                countChanged(false, ctx.timerService());
            }
            heldState.clear();
            heldOrder.clear();
            device.clear();
            return;
        }
        if (s == null) s = new ReconcilerState();
        boolean counted = s.countedWaiting;
        boolean changed = i instanceof Increment.Seed
                ? rules.onSeed(s, held, i, emitter.to(ctx, out))
                : rules.onIncrement(s, held, i, emitter.to(ctx, out));
        if (changed || s.countedWaiting != counted) device.update(s);
        if (s.countedWaiting != counted) countChanged(s.countedWaiting, ctx.timerService());
    }

    @Override
    public void processElement2(LookupResult r, Context ctx, Collector<DeviceState> out) throws Exception {
        // Not the device's: the lookup subtask's breaker changed; the AlertPolicy keeps count.
        if (r.breaker != null) ctx.output(AlertRouting.RECONCILER, PolicyInput.breaker(r.breaker));
        ReconcilerState s = device.value();
        if (s == null) s = new ReconcilerState();
        boolean counted = s.countedWaiting;
        // Saved also when only the count changed: the flag must say what the count holds.
        if (rules.onResult(s, held, r, emitter.to(ctx, out)) || s.countedWaiting != counted) device.update(s);
        if (s.countedWaiting != counted) countChanged(s.countedWaiting, ctx.timerService());
    }

    /** When the check of a counted device's value is due: one TTL (and a minute) after it is written. */
    private long checkAfter(long now) {
        return now + ttl(idleTtl).getTimeToLive().toMillis() + 60_000;
    }

    /** The device entered ({@code counted}) or left the count: its check timer follows. */
    private void countChanged(boolean counted, TimerService timers) throws Exception {
        Long due = countCheck.value();
        if (due != null) timers.deleteProcessingTimeTimer(due);
        if (counted) {
            long at = checkAfter(timers.currentProcessingTime());
            timers.registerProcessingTimeTimer(at);
            countCheck.update(at);
        } else {
            countCheck.clear();
        }
    }

    /**
     * A counted device's check: gone by TTL (never forgotten by the guard), it leaves the count;
     * still there, it was written within the TTL, and is checked again a TTL later.
     */
    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<DeviceState> out) throws Exception {
        Long due = countCheck.value();
        if (due == null || due != timestamp) return; // not the current check
        ReconcilerState s = device.value();
        if (s != null && s.countedWaiting) {
            long at = checkAfter(ctx.timerService().currentProcessingTime());
            ctx.timerService().registerProcessingTimeTimer(at);
            countCheck.update(at);
            return;
        }
        if (s == null) waiting.add(ctx.getCurrentKey(), -1);
        countCheck.clear();
        heldState.clear();
        heldOrder.clear();
    }

    /** The held increments of the current key and their order, in two keyed MapStates (by "epoch/seq"). */
    static final class HeldInMapState implements Reconciliation.Held {
        private final MapState<String, HeldIncrement> map;
        private final MapState<String, long[]> order;

        HeldInMapState(MapState<String, HeldIncrement> map, MapState<String, long[]> order) {
            this.map = map;
            this.order = order;
        }

        @Override
        public boolean contains(long epoch, long seq) throws Exception {
            return map.contains(key(epoch, seq));
        }

        @Override
        public HeldIncrement get(long epoch, long seq) throws Exception {
            return map.get(key(epoch, seq));
        }

        @Override
        public void put(HeldIncrement h) throws Exception {
            map.put(key(h.increment.epoch, h.increment.seq), h);
        }

        @Override
        public void remove(long epoch, long seq) throws Exception {
            map.remove(key(epoch, seq));
        }

        @Override
        public long[] next(long epoch, long seq) throws Exception {
            return order.get(key(epoch, seq));
        }

        @Override
        public void setNext(long epoch, long seq, long nextEpoch, long nextSeq) throws Exception {
            order.put(key(epoch, seq), new long[] {nextEpoch, nextSeq});
        }

        @Override
        public void removeNext(long epoch, long seq) throws Exception {
            order.remove(key(epoch, seq));
        }

        @Override
        public Iterable<HeldIncrement> all() throws Exception {
            return map.values();
        }

        @Override
        public void clearOrder() throws Exception {
            order.clear();
        }

        void clearAll() {
            map.clear();
            order.clear();
        }

        private static String key(long epoch, long seq) {
            return epoch + "/" + seq;
        }
    }

    /** Emits and counts what the rules decided; reused for every element (task thread only). */
    private static final class Emitter implements Reconciliation.Effects {
        private final EnumMap<Event, Counter> counters;
        private final Counter repairs;
        private final Histogram repairLatency;
        private final KeyGroupCounts waiting;
        private Context ctx;
        private Collector<DeviceState> out;

        Emitter(EnumMap<Event, Counter> counters, Counter repairs, Histogram repairLatency, KeyGroupCounts waiting) {
            this.counters = counters;
            this.repairs = repairs;
            this.repairLatency = repairLatency;
            this.waiting = waiting;
        }

        Emitter to(Context ctx, Collector<DeviceState> out) {
            this.ctx = ctx;
            this.out = out;
            return this;
        }

        @Override
        public void publish(DeviceState state) {
            out.collect(state);
        }

        @Override
        public void alert(Alert alert) {
            AlertRouting.route(alert, in -> ctx.output(AlertRouting.RECONCILER, in));
        }

        @Override
        public void audit(AuditRecord audit) {
            ctx.output(Tags.AUDITS, audit);
        }

        @Override
        public void count(Event event) {
            counters.get(event).inc();
        }

        @Override
        public void repaired(LookupRequest request) {
            repairs.inc();
            repairLatency.update(Math.max(0, System.currentTimeMillis() - request.issuedAt));
        }

        @Override
        public void waiting(int delta) {
            waiting.add(ctx.getCurrentKey(), delta);
        }
    }
}
