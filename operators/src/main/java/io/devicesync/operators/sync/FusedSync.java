package io.devicesync.operators.sync;

import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.operators.DeviceRecord;
import io.devicesync.operators.GuardState;
import io.devicesync.operators.ReconcilerState;
import io.devicesync.operators.SyncFeedback;
import io.devicesync.operators.alerts.AlertRouting;
import io.devicesync.operators.alerts.PolicyInput;
import io.devicesync.operators.serde.Compact;
import io.devicesync.operators.util.IdleTtl;
import io.devicesync.operators.util.KeyGroupCounts;
import io.devicesync.operators.util.Tags;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.OptionalLong;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.TimeDomain;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The guard and the reconciler in one keyed step (keyed by deviceId; input 1: increments and
 * bootstrap seeds, input 2: audit records read back from device-audit and the answers of the
 * device's own lookups, which {@link FusedSyncOperator} sends and answers into it). Everything the
 * step knows of a device is one value ({@link DeviceRecord}: the guard's and the reconciler's),
 * read once and written at most once per input; the early messages and the increments waiting for
 * a repair stay in their maps, touched only when the values say there are some.
 *
 * <p>The decisions are those of {@link GuardRules} and {@link Reconciliation}, unchanged: what the
 * guard forwards goes to the reconciliation at once, in order, instead of over a keyed exchange;
 * a lookup's answer goes to the reconciliation as it did from the Async I/O operator. The rest is
 * as {@link SequenceGuard} and {@link StateReconciler} describe it, with their metrics' names.
 */
public class FusedSync extends KeyedCoProcessFunction<String, Increment, SyncFeedback, DeviceState>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;

    /** One value per device: the guard's and the reconciler's. */
    public static final String DEVICE = "device";

    private final SequenceGuard guard;
    private final int maxHeld;
    private final int maxDocumentBytes;
    private final long notSentGraceMs;
    private final Duration idleTtl;

    private transient ValueState<DeviceRecord> device;
    private transient ValueState<Long> countCheck;
    private transient SequenceGuard.HeldInMapState guardHeld;
    private transient StateReconciler.HeldInMapState waitingHeld;
    private transient GuardRules rules;
    private transient Reconciliation reconciliation;
    private transient Map<GuardDecision.Event, Counter> counters;
    private transient Counter spread;
    private transient KeyGroupCounts waiting;
    private transient Emitter emitter;

    public FusedSync(
            Duration reorderGrace,
            long maxLogFetch,
            Duration auditInterval,
            Duration idleTtl,
            Duration routineJump,
            boolean bootstrap,
            int maxHeld,
            int maxDocumentBytes,
            Duration notSentGrace) {
        this.guard = new SequenceGuard(reorderGrace, maxLogFetch, auditInterval, idleTtl, routineJump, bootstrap);
        this.maxHeld = maxHeld;
        this.maxDocumentBytes = maxDocumentBytes;
        this.notSentGraceMs = notSentGrace.toMillis();
        this.idleTtl = idleTtl;
    }

    /**
     * The value's descriptor: the TTL is the reconciler's, a day longer than {@code
     * --state.idle-ttl}: the guard forgets a silent device by its own timer first (its last quiet
     * audit arms its end, one idle TTL on); the TTL is the backstop (see {@link IdleTtl}).
     */
    public static ValueStateDescriptor<DeviceRecord> deviceDescriptor(Duration idleTtl) {
        ValueStateDescriptor<DeviceRecord> d = new ValueStateDescriptor<>(DEVICE, Compact.DEVICE_RECORD);
        d.enableTimeToLive(IdleTtl.of(idleTtl.plusDays(1)));
        return d;
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
    public void open(OpenContext ctx) {
        device = getRuntimeContext().getState(deviceDescriptor(idleTtl));
        countCheck = getRuntimeContext().getState(new ValueStateDescriptor<>(StateReconciler.COUNT_CHECK, Types.LONG));
        guardHeld = new SequenceGuard.HeldInMapState(
                getRuntimeContext().getMapState(SequenceGuard.heldDescriptor(idleTtl)));
        waitingHeld = new StateReconciler.HeldInMapState(
                getRuntimeContext().getMapState(StateReconciler.heldDescriptor(idleTtl)),
                getRuntimeContext().getMapState(StateReconciler.heldOrderDescriptor(idleTtl)));
        rules = guard.newRules();
        reconciliation = new Reconciliation(maxHeld, maxDocumentBytes, notSentGraceMs, System::currentTimeMillis);
        var metrics = getRuntimeContext().getMetricGroup();
        counters = SequenceGuard.counters(metrics);
        spread = metrics.counter("auditsSpreadAfterJump");
        emitter = new Emitter(
                StateReconciler.counters(metrics),
                metrics.counter("repairsCompleted"),
                metrics.histogram("repairLatencyMs", new DescriptiveStatisticsHistogram(1000)),
                waiting);
        metrics.gauge("devicesWaitingForRepair", waiting::total);
    }

    /** Devices of this subtask waiting for a repair (the gauge's value). */
    long waitingDevices() {
        return waiting.total();
    }

    @Override
    public void processElement1(Increment i, Context ctx, Collector<DeviceState> out) throws Exception {
        long wm = ctx.timerService().currentWatermark();
        DeviceRecord r = load();
        GuardDecision d = i instanceof Increment.Seed
                ? rules.onSeed(r.guard, guardHeld, i, wm)
                : rules.onIncrement(r.guard, guardHeld, i, wm);
        apply(r, d, ctx, out);
    }

    @Override
    public void processElement2(SyncFeedback f, Context ctx, Collector<DeviceState> out) throws Exception {
        if (f.audit != null) {
            DeviceRecord r = load();
            AuditRecord a = f.audit;
            apply(
                    r,
                    rules.onAuditRecord(
                            r.guard,
                            guardHeld,
                            a,
                            ctx.getCurrentKey(),
                            ctx.timerService().currentWatermark()),
                    ctx,
                    out);
            return;
        }
        LookupResult res = f.result;
        // Not the device's: the lookup's breaker changed; the AlertPolicy keeps count.
        if (res.breaker != null) ctx.output(AlertRouting.RECONCILER, PolicyInput.breaker(res.breaker));
        DeviceRecord r = load();
        ReconcilerState s = r.reconciler != null ? r.reconciler : new ReconcilerState();
        boolean counted = s.countedWaiting;
        boolean changed = reconciliation.onResult(s, waitingHeld, res, emitter.to(ctx, out));
        if (changed || s.countedWaiting != counted) {
            r.reconciler = s;
            device.update(r);
        }
        if (s.countedWaiting != counted) countChanged(s.countedWaiting, ctx.timerService());
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<DeviceState> out) throws Exception {
        if (ctx.timeDomain() == TimeDomain.PROCESSING_TIME) {
            countCheck(timestamp, ctx);
            return;
        }
        long wm = ctx.timerService().currentWatermark();
        OptionalLong moved = rules.moveWithoutState(ctx.getCurrentKey(), timestamp, wm);
        if (moved.isPresent()) {
            ctx.timerService().registerEventTimeTimer(moved.getAsLong());
            spread.inc();
            return;
        }
        DeviceRecord r = load();
        apply(r, rules.onTimer(r.guard, guardHeld, ctx.getCurrentKey(), timestamp, wm), ctx, out);
    }

    private DeviceRecord load() throws Exception {
        DeviceRecord r = device.value();
        return r != null ? r : new DeviceRecord();
    }

    /** The guard's decision, and the reconciliation of what it forwards; one write of the value. */
    private void apply(DeviceRecord r, GuardDecision d, Context ctx, Collector<DeviceState> out) throws Exception {
        boolean reconciled = false;
        boolean forgotten = false;
        for (Increment i : d.forward) {
            if (i instanceof Increment.Forget) {
                forgetWaiting(r, ctx);
                forgotten = true;
                continue;
            }
            ReconcilerState s = r.reconciler != null ? r.reconciler : (r.reconciler = new ReconcilerState());
            boolean counted = s.countedWaiting;
            boolean changed = i instanceof Increment.Seed
                    ? reconciliation.onSeed(s, waitingHeld, i, emitter.to(ctx, out))
                    : reconciliation.onIncrement(s, waitingHeld, i, emitter.to(ctx, out));
            reconciled |= changed || s.countedWaiting != counted;
            if (s.countedWaiting != counted) countChanged(s.countedWaiting, ctx.timerService());
        }
        for (Alert a : d.alerts) ctx.output(Tags.ALERTS, a);
        for (LookupRequest q : d.lookups) ctx.output(Tags.LOOKUPS, q);
        for (GuardDecision.TimerOp t : d.timers) {
            if (t.register()) ctx.timerService().registerEventTimeTimer(t.time());
            else ctx.timerService().deleteEventTimeTimer(t.time());
        }
        if (!d.counts.isEmpty()) d.counts.forEach((e, n) -> counters.get(e).inc(n));
        if (d.forget) {
            if (!forgotten) forgetWaiting(r, ctx);
            device.clear();
            return;
        }
        GuardState g = d.save ? d.state : r.guard;
        if (d.save || reconciled) {
            r.guard = g;
            device.update(r);
        }
    }

    /** The guard forgot the device (silent for the idle TTL): so does the reconciliation. */
    private void forgetWaiting(DeviceRecord r, Context ctx) throws Exception {
        if (r.reconciler != null && r.reconciler.countedWaiting) {
            waiting.add(ctx.getCurrentKey(), -1);
            countChanged(false, ctx.timerService());
        }
        waitingHeld.clearAll(); // always, as the reconciler did: entries a count lost track of go too
        r.reconciler = null;
    }

    /** When the check of a counted device's value is due: one TTL (and a minute) after it is written. */
    private long checkAfter(long now) {
        return now + idleTtl.plusDays(1).toMillis() + 60_000;
    }

    /** See {@link StateReconciler}: the device entered or left the count of waiting devices. */
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

    /** A counted device's check (see {@link StateReconciler#onTimer}). */
    private void countCheck(long timestamp, OnTimerContext ctx) throws Exception {
        Long due = countCheck.value();
        if (due == null || due != timestamp) return;
        DeviceRecord r = device.value();
        if (r != null && r.reconciler != null && r.reconciler.countedWaiting) {
            long at = checkAfter(ctx.timerService().currentProcessingTime());
            ctx.timerService().registerProcessingTimeTimer(at);
            countCheck.update(at);
            return;
        }
        if (r == null) waiting.add(ctx.getCurrentKey(), -1);
        countCheck.clear();
        waitingHeld.clearAll();
    }

    /** Emits and counts what the reconciliation decided; reused for every element (task thread only). */
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
