package io.devicesync.operators.sync;

import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.operators.DeviceRecord;
import io.devicesync.operators.ReconcilerState;
import io.devicesync.operators.alerts.AlertRouting;
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
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * PROTOTYPE (branch wip/fused-sync, not for main): the guard and the reconciler in one keyed step
 * with one value per device, to measure what the fusion gains. Lookup results are not answered
 * into it (the benchmark has no gaps); the reconciler's count check and the interruptible timers
 * are left out.
 */
public class FusedSync extends KeyedCoProcessFunction<String, Increment, AuditRecord, DeviceState>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;

    private final SequenceGuard guardConf;
    private final int maxHeld;
    private final int maxDocumentBytes;
    private final long notSentGraceMs;
    private final Duration idleTtl;

    private transient ValueState<DeviceRecord> device;
    private transient SequenceGuard.HeldInMapState guardHeld;
    private transient StateReconciler.HeldInMapState recHeld;
    private transient GuardRules rules;
    private transient Reconciliation reconciliation;
    private transient Map<GuardDecision.Event, Counter> counters;
    private transient EnumMap<Reconciliation.Effects.Event, Counter> recCounters;
    private transient KeyGroupCounts waiting;
    private transient Fx fx;

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
        this.guardConf = new SequenceGuard(reorderGrace, maxLogFetch, auditInterval, idleTtl, routineJump, bootstrap);
        this.maxHeld = maxHeld;
        this.maxDocumentBytes = maxDocumentBytes;
        this.notSentGraceMs = notSentGrace.toMillis();
        this.idleTtl = idleTtl;
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
        ValueStateDescriptor<DeviceRecord> d = new ValueStateDescriptor<>("device", Compact.DEVICE_RECORD);
        d.enableTimeToLive(IdleTtl.of(idleTtl));
        device = getRuntimeContext().getState(d);
        guardHeld = new SequenceGuard.HeldInMapState(
                getRuntimeContext().getMapState(SequenceGuard.heldDescriptor(idleTtl)));
        recHeld = new StateReconciler.HeldInMapState(
                getRuntimeContext().getMapState(StateReconciler.heldDescriptor(idleTtl)),
                getRuntimeContext().getMapState(StateReconciler.heldOrderDescriptor(idleTtl)));
        rules = guardConf.newRules();
        reconciliation = new Reconciliation(maxHeld, maxDocumentBytes, notSentGraceMs, System::currentTimeMillis);
        var metrics = getRuntimeContext().getMetricGroup();
        counters = new EnumMap<>(GuardDecision.Event.class);
        for (GuardDecision.Event e : GuardDecision.Event.values()) counters.put(e, metrics.counter("guard" + e));
        recCounters = new EnumMap<>(Reconciliation.Effects.Event.class);
        for (Reconciliation.Effects.Event e : Reconciliation.Effects.Event.values())
            recCounters.put(e, metrics.counter("rec" + e));
        fx = new Fx();
    }

    @Override
    public void processElement1(Increment i, Context ctx, Collector<DeviceState> out) throws Exception {
        long wm = ctx.timerService().currentWatermark();
        DeviceRecord r = device.value();
        if (r == null) r = new DeviceRecord();
        GuardDecision d = i instanceof Increment.Seed
                ? rules.onSeed(r.guard, guardHeld, i, wm)
                : rules.onIncrement(r.guard, guardHeld, i, wm);
        apply(r, d, ctx, out);
    }

    @Override
    public void processElement2(AuditRecord a, Context ctx, Collector<DeviceState> out) throws Exception {
        DeviceRecord r = device.value();
        if (r == null) r = new DeviceRecord();
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
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<DeviceState> out) throws Exception {
        long wm = ctx.timerService().currentWatermark();
        OptionalLong moved = rules.moveWithoutState(ctx.getCurrentKey(), timestamp, wm);
        if (moved.isPresent()) {
            ctx.timerService().registerEventTimeTimer(moved.getAsLong());
            return;
        }
        DeviceRecord r = device.value();
        if (r == null) r = new DeviceRecord();
        apply(r, rules.onTimer(r.guard, guardHeld, ctx.getCurrentKey(), timestamp, wm), ctx, out);
    }

    private void apply(DeviceRecord r, GuardDecision d, Context ctx, Collector<DeviceState> out) throws Exception {
        boolean changed = false;
        if (!d.forward.isEmpty()) {
            if (r.reconciler == null) r.reconciler = new ReconcilerState();
            fx.ctx = ctx;
            fx.out = out;
            for (Increment i : d.forward) {
                changed |= i instanceof Increment.Seed
                        ? reconciliation.onSeed(r.reconciler, recHeld, i, fx)
                        : reconciliation.onIncrement(r.reconciler, recHeld, i, fx);
            }
        }
        for (var a : d.alerts) ctx.output(Tags.ALERTS, a);
        for (LookupRequest q : d.lookups) ctx.output(Tags.LOOKUPS, q);
        for (GuardDecision.TimerOp t : d.timers) {
            if (t.register()) ctx.timerService().registerEventTimeTimer(t.time());
            else ctx.timerService().deleteEventTimeTimer(t.time());
        }
        if (!d.counts.isEmpty()) d.counts.forEach((e, n) -> counters.get(e).inc(n));
        if (d.forget) {
            recHeld.clearAll();
            device.clear();
        } else if (d.save || changed) {
            r.guard = d.state;
            device.update(r);
        }
    }

    private final class Fx implements Reconciliation.Effects {
        Context ctx;
        Collector<DeviceState> out;

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
            recCounters.get(event).inc();
        }

        @Override
        public void repaired(LookupRequest request) {}

        @Override
        public void waiting(int delta) {
            waiting.add(ctx.getCurrentKey(), delta);
        }
    }
}
