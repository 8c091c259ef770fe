package io.devicesync.operators.sync;

import io.devicesync.model.AuditRecord;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.operators.GuardState;
import io.devicesync.operators.serde.Compact;
import io.devicesync.operators.util.IdleTtl;
import io.devicesync.operators.util.Tags;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.OptionalLong;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Orders and deduplicates each device's increments and schedules its audits (keyed by deviceId;
 * input 1: increments, input 2: audit records read back from device-audit, all but VERIFIED).
 *
 * <ul>
 *   <li>at or below the last forwarded version: dropped, counted in {@code duplicatesDropped};
 *   <li>the next version: forwarded at once, then any held successors;
 *   <li>further ahead in the same epoch: held until the missing ones arrive or the reorder grace
 *       (event time) expires; then the missing range is a gap: one {@code SEQUENCE_GAP} alert, one
 *       lookup request, and the held messages are forwarded in order (the reconciler holds them
 *       until the repair arrives);
 *   <li>a device never seen: (0, 1) is forwarded; a later version of epoch 0 is held for the
 *       grace like any early message, then forwarded with a {@code FIRST_SEEN} lookup request
 *       (the job cannot know its state); a first version of a higher epoch is forwarded with a
 *       {@code FIRST_SEEN} request at once;
 *   <li>a higher epoch: a {@code DEVICE_RESET} alert and a {@code RESET} lookup request; the
 *       message is forwarded and the reconciler publishes the new epoch once the lookup confirmed
 *       the state.
 * </ul>
 *
 * <p>Audits: a device that accepted an increment gets an audit request at the next boundary of
 * the audit interval (timers coalesce on the boundaries), then one per interval while it stays
 * active, and one more once it fell quiet. A {@code REPAIR_PENDING} record read back from
 * device-audit schedules one more audit: with a repair when the record shows the device waiting
 * (published below what was forwarded), else a plain re-check; the reconciler writes one after
 * every repair that did not close the device, so a failed repair is audited until it is repaired.
 * An inconclusive audit read back ({@code IN_FLIGHT}: the database ahead while increments may be
 * on their way; {@code DB_BEHIND}, {@code DB_MISSING}: the database lags or has no row; a
 * {@code REPAIR_PENDING} of a device that does not wait: the database could not be read)
 * schedules a re-check, backing off 1, 2, 4 … intervals, until an audit concludes or the device
 * sends again. A {@code TAIL_LOSS} record moves the guard to the version the repair reached. A
 * device silent for the idle TTL is forgotten at its next audit (state and timers), and the
 * reconciler is told; the state TTL removes the state of devices without timers.
 *
 * <p>The decisions are {@link GuardRules}' (a plain class, unit-tested without Flink); this
 * function loads the device's state, asks the rules, and applies the {@link GuardDecision}: what to
 * forward, alert and look up, which timers to delete and register, what to count, and the state to
 * save or forget. Nothing here touches the database; the hot path reads and writes one small value.
 */
public class SequenceGuard extends KeyedCoProcessFunction<String, Increment, AuditRecord, Increment> {
    private static final long serialVersionUID = 1L;

    /** One value per device; cleared by TTL after {@code --state.idle-ttl} without a write. */
    public static final String DEVICE = "guard";
    /** Early messages by seq (current epoch only), while the grace runs; emptied when it ends. */
    public static final String HELD = "guardHeld";

    private final long graceMs;
    private final long maxLogFetch;
    private final long auditMs;
    private final Duration idleTtl;
    /**
     * The longest watermark step that counts as routine: an idle input's jump to the wall clock
     * (the idle timeout, one periodic watermark and the out-of-orderness). An audit timer passed by
     * more than this was passed by a stop, a catch-up's end or an outage: it is not run at once
     * but moved to the device's slot in the interval after the jump.
     */
    private final long routineJumpMs;
    /** The job bootstraps from the database: see {@link GuardRules#onSeed}. */
    private final boolean bootstrap;

    private transient ValueState<GuardState> device;
    private transient HeldInMapState held;
    private transient GuardRules rules;
    private transient Map<GuardDecision.Event, Counter> counters;
    private transient Counter spread;

    /** A guard that runs every audit as due, however far event time jumps (tests of the schedule). */
    public SequenceGuard(Duration reorderGrace, long maxLogFetch, Duration auditInterval, Duration idleTtl) {
        this(reorderGrace, maxLogFetch, auditInterval, idleTtl, Duration.ofMillis(Long.MAX_VALUE));
    }

    /**
     * @param routineJump the longest event-time jump whose audits run as due: the idle timeout plus
     *     the out-of-orderness plus one periodic watermark (what an idle input's jump to the wall
     *     clock takes); audits passed by more are spread over the interval after the jump
     */
    public SequenceGuard(
            Duration reorderGrace, long maxLogFetch, Duration auditInterval, Duration idleTtl, Duration routineJump) {
        this(reorderGrace, maxLogFetch, auditInterval, idleTtl, routineJump, false);
    }

    /**
     * @param bootstrap whether seeds from the bootstrap ({@code --bootstrap.from-database}) come on
     *     input 1: until event time starts, a device first seen in any epoch waits for the grace
     */
    public SequenceGuard(
            Duration reorderGrace,
            long maxLogFetch,
            Duration auditInterval,
            Duration idleTtl,
            Duration routineJump,
            boolean bootstrap) {
        this.bootstrap = bootstrap;
        this.graceMs = reorderGrace.toMillis();
        this.maxLogFetch = maxLogFetch;
        this.auditMs = auditInterval.toMillis();
        this.idleTtl = idleTtl;
        this.routineJumpMs = routineJump.toMillis();
    }

    @Override
    public void open(OpenContext ctx) {
        device = getRuntimeContext().getState(deviceDescriptor(idleTtl));
        held = new HeldInMapState(getRuntimeContext().getMapState(heldDescriptor(idleTtl)));
        rules = new GuardRules(
                graceMs, maxLogFetch, auditMs, idleTtl.toMillis(), routineJumpMs, bootstrap, System::currentTimeMillis);
        var metrics = getRuntimeContext().getMetricGroup();
        counters = counters(metrics);
        spread = metrics.counter("auditsSpreadAfterJump");
    }

    /** The guard's counters, by the event each counts (its metrics' names). */
    static Map<GuardDecision.Event, Counter> counters(org.apache.flink.metrics.MetricGroup metrics) {
        Map<GuardDecision.Event, Counter> c = new EnumMap<>(GuardDecision.Event.class);
        c.put(GuardDecision.Event.FORWARDED, metrics.counter("incrementsForwarded"));
        c.put(GuardDecision.Event.DUPLICATE, metrics.counter("duplicatesDropped"));
        c.put(GuardDecision.Event.GAP, metrics.counter("gapsDetected"));
        c.put(GuardDecision.Event.RESET, metrics.counter("deviceResets"));
        c.put(GuardDecision.Event.LOOKUP, metrics.counter("lookupsRequested"));
        c.put(GuardDecision.Event.HELD, metrics.counter("earlyMessagesHeld"));
        c.put(GuardDecision.Event.AUDIT, metrics.counter("auditsRequested"));
        c.put(GuardDecision.Event.FORGOTTEN, metrics.counter("idleDevicesForgotten"));
        c.put(GuardDecision.Event.SEEDED, metrics.counter("devicesSeeded"));
        c.put(GuardDecision.Event.SEED_SKIPPED, metrics.counter("seedsSkipped"));
        return c;
    }

    /** The rules as this guard makes them (the fused step's guard). */
    GuardRules newRules() {
        return new GuardRules(
                graceMs, maxLogFetch, auditMs, idleTtl.toMillis(), routineJumpMs, bootstrap, System::currentTimeMillis);
    }

    /**
     * The descriptor of {@link #DEVICE} as the guard registers it (name, serializer, TTL): what a
     * reader of its state (the State Processor API, {@code Inspect}) must register too.
     */
    public static ValueStateDescriptor<GuardState> deviceDescriptor(Duration idleTtl) {
        ValueStateDescriptor<GuardState> d = new ValueStateDescriptor<>(DEVICE, Compact.GUARD_STATE);
        d.enableTimeToLive(IdleTtl.of(idleTtl));
        return d;
    }

    /** The descriptor of {@link #HELD} as the guard registers it (see {@link #deviceDescriptor}). */
    public static MapStateDescriptor<Long, Increment> heldDescriptor(Duration idleTtl) {
        MapStateDescriptor<Long, Increment> h = new MapStateDescriptor<>(HELD, Types.LONG, Compact.INCREMENT);
        h.enableTimeToLive(IdleTtl.of(idleTtl));
        return h;
    }

    /** Input 1: an increment, or a seed from the bootstrap. */
    @Override
    public void processElement1(Increment i, Context ctx, Collector<Increment> out) throws Exception {
        long wm = ctx.timerService().currentWatermark();
        apply(
                i instanceof Increment.Seed
                        ? rules.onSeed(device.value(), held, i, wm)
                        : rules.onIncrement(device.value(), held, i, wm),
                ctx,
                out);
    }

    /** Input 2: an audit record read back from device-audit (all but VERIFIED). */
    @Override
    public void processElement2(AuditRecord a, Context ctx, Collector<Increment> out) throws Exception {
        apply(
                rules.onAuditRecord(
                        device.value(),
                        held,
                        a,
                        ctx.getCurrentKey(),
                        ctx.timerService().currentWatermark()),
                ctx,
                out);
    }

    /**
     * Timers: the end of a reorder grace, an audit boundary (see {@link GuardRules#onTimer}). An
     * audit passed by a long jump of event time is moved without reading the device's state
     * ({@link GuardRules#moveWithoutState}): at a jump the whole fleet's timers fire here at once.
     */
    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Increment> out) throws Exception {
        long wm = ctx.timerService().currentWatermark();
        OptionalLong moved = rules.moveWithoutState(ctx.getCurrentKey(), timestamp, wm);
        if (moved.isPresent()) {
            ctx.timerService().registerEventTimeTimer(moved.getAsLong());
            spread.inc();
            return;
        }
        apply(rules.onTimer(device.value(), held, ctx.getCurrentKey(), timestamp, wm), ctx, out);
    }

    private void apply(GuardDecision d, Context ctx, Collector<Increment> out) throws Exception {
        for (Increment i : d.forward) out.collect(i);
        for (var a : d.alerts) ctx.output(Tags.ALERTS, a);
        for (LookupRequest r : d.lookups) ctx.output(Tags.LOOKUPS, r);
        for (GuardDecision.TimerOp t : d.timers) {
            if (t.register()) ctx.timerService().registerEventTimeTimer(t.time());
            else ctx.timerService().deleteEventTimeTimer(t.time());
        }
        if (!d.counts.isEmpty()) d.counts.forEach((e, n) -> counters.get(e).inc(n));
        if (d.forget) device.clear();
        else if (d.save) device.update(d.state);
    }

    /** The early messages of the current key, in the keyed MapState (by seq). */
    static final class HeldInMapState implements GuardRules.Held {
        private final MapState<Long, Increment> map;

        HeldInMapState(MapState<Long, Increment> map) {
            this.map = map;
        }

        @Override
        public Increment get(long seq) throws Exception {
            return map.get(seq);
        }

        @Override
        public boolean contains(long seq) throws Exception {
            return map.contains(seq);
        }

        @Override
        public void put(Increment i) throws Exception {
            map.put(i.seq, i);
        }

        @Override
        public void remove(long seq) throws Exception {
            map.remove(seq);
        }

        @Override
        public Iterable<Increment> all() throws Exception {
            return map.values();
        }

        @Override
        public void clear() {
            map.clear();
        }
    }
}
