package io.devicesync.operators;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.devicesync.model.JsonMergePatch;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.model.Versions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Applies each device's increments as JSON merge patches and publishes every version, in strictly
 * increasing order, never skipping one (keyed by deviceId; input 1: in-order increments from the
 * SequenceGuard, input 2: lookup results).
 *
 * <ul>
 *   <li>an increment that follows the published version is applied and published at once;
 *   <li>any other (after a gap, for a first-seen device, in a new epoch) is held until a lookup
 *       result repairs the device: log increments are applied in order, a snapshot only when it is
 *       newer than what was published; then held increments that follow are replayed on top;
 *   <li>a result that leaves the device waiting raises {@code RESYNC_FAILED} (the audit retries);
 *   <li>the held buffer is bounded: past {@code maxHeld} the oldest held are dropped, the device
 *       needs a snapshot newer than them, and a {@code BUFFER_OVERFLOW} alert says so.
 * </ul>
 */
public class StateReconciler extends KeyedCoProcessFunction<String, Increment, LookupResult, DeviceState>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;

    /** One value per device: the published version and document; cleared by TTL when idle. */
    public static final ValueStateDescriptor<ReconcilerState> DEVICE =
            new ValueStateDescriptor<>("reconciler", TypeInformation.of(ReconcilerState.class));
    /** Increments waiting for a repair, by "epoch/seq"; empty for a device that does not wait. */
    public static final MapStateDescriptor<String, HeldIncrement> HELD =
            new MapStateDescriptor<>("reconcilerHeld", Types.STRING, TypeInformation.of(HeldIncrement.class));

    private final int maxHeld;
    private final Duration idleTtl;

    private transient ValueState<ReconcilerState> device;
    private transient MapState<String, HeldIncrement> held;
    private transient Counter published;
    private transient Counter staleDropped;
    private transient Counter repairs;
    private transient Counter repairsFailed;
    private transient Counter overflows;
    private transient Histogram repairLatency;
    /** Devices of this subtask waiting for a repair (the gauge), kept across checkpoints. */
    private transient AtomicLong waiting;
    private transient ListState<Long> waitingCheckpointed;

    public StateReconciler(int maxHeld, Duration idleTtl) {
        this.maxHeld = maxHeld;
        this.idleTtl = idleTtl;
    }

    @Override
    public void open(OpenContext ctx) {
        StateTtlConfig ttl = StateTtlConfig.newBuilder(idleTtl)
                .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                .build();
        ValueStateDescriptor<ReconcilerState> d = new ValueStateDescriptor<>(DEVICE.getName(),
                TypeInformation.of(ReconcilerState.class));
        d.enableTimeToLive(ttl);
        MapStateDescriptor<String, HeldIncrement> h = new MapStateDescriptor<>(HELD.getName(), Types.STRING,
                TypeInformation.of(HeldIncrement.class));
        h.enableTimeToLive(ttl);
        device = getRuntimeContext().getState(d);
        held = getRuntimeContext().getMapState(h);
        var metrics = getRuntimeContext().getMetricGroup();
        published = metrics.counter("versionsPublished");
        staleDropped = metrics.counter("staleDropped");
        repairs = metrics.counter("repairsCompleted");
        repairsFailed = metrics.counter("repairsFailed");
        overflows = metrics.counter("heldBufferOverflows");
        repairLatency = metrics.histogram("repairLatencyMs", new DescriptiveStatisticsHistogram(1000));
        if (waiting == null) waiting = new AtomicLong();
        metrics.gauge("devicesWaitingForRepair", waiting::get);
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        waitingCheckpointed = context.getOperatorStateStore()
                .getListState(new ListStateDescriptor<>("devicesWaiting", Types.LONG));
        waiting = new AtomicLong();
        for (Long n : waitingCheckpointed.get()) waiting.addAndGet(n);
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        waitingCheckpointed.update(List.of(waiting.get()));
    }

    // ---- input 1: in-order increments --------------------------------------------------------

    @Override
    public void processElement1(Increment i, Context ctx, Collector<DeviceState> out) throws Exception {
        ReconcilerState s = device.value();
        if (s == null) s = new ReconcilerState();
        if (s.published && Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) {
            staleDropped.inc(); // already covered by a repair
            return;
        }
        if (s.heldCount == 0 && follows(s, i)) {
            apply(s, i, DeviceState.SOURCE_INCREMENT, out);
        } else {
            hold(s, i, DeviceState.SOURCE_INCREMENT, ctx);
            drain(s, out);
        }
        updateWaiting(s);
        device.update(s);
    }

    // ---- input 2: lookup results -------------------------------------------------------------

    @Override
    public void processElement2(LookupResult r, Context ctx, Collector<DeviceState> out) throws Exception {
        ReconcilerState s = device.value();
        if (s == null) s = new ReconcilerState();
        boolean wasWaiting = s.waitingSince != 0;
        LookupRequest q = r.request;
        String cause = null;
        switch (r.outcome) {
            case LookupResult.LOG:
                applyLog(s, r.increments, ctx, out);
                break;
            case LookupResult.SNAPSHOT:
                if (!s.published || Versions.compare(r.snapshotEpoch, r.snapshotSeq, s.epoch, s.seq) > 0) {
                    s.published = true;
                    s.epoch = r.snapshotEpoch;
                    s.seq = r.snapshotSeq;
                    s.ts = Math.max(s.ts, q.ts);
                    s.state = r.snapshotState;
                    emit(s, q.deviceId, DeviceState.SOURCE_SNAPSHOT, out);
                    dropHeldUpTo(s);
                }
                if (!LookupRequest.GAP.equals(q.kind) && r.snapshotEpoch < q.epoch && s.published) {
                    // The database has not seen the new epoch: it confirms the old epoch's state,
                    // on top of which the new epoch starts again at seq 1.
                    s.confirmedEpoch = Math.max(s.confirmedEpoch, q.epoch);
                }
                if (r.increments != null) applyLog(s, r.increments, ctx, out);
                break;
            default:
                cause = r.cause;
        }
        drain(s, out);
        Increment firstHeld = s.heldCount > 0 ? firstHeld() : null;
        if (firstHeld != null && (cause != null || stillMissing(s, q, firstHeld))) {
            s.failures++;
            repairsFailed.inc();
            if (cause == null) {
                cause = (LookupResult.LOG.equals(r.outcome) ? "the increment log" : "the snapshot at "
                        + Versions.format(r.snapshotEpoch, r.snapshotSeq)) + " does not reach "
                        + Versions.format(firstHeld.epoch, firstHeld.seq) + " from "
                        + (s.published ? Versions.format(s.epoch, s.seq) : "nothing");
            }
            ctx.output(Tags.ALERTS, Alerts.of(AlertType.RESYNC_FAILED,
                            s.failures >= 3 ? Severity.CRITICAL : Severity.WARNING)
                    .device(q.deviceId)
                    .cause(cause)
                    .strategy(Strategy.RETRY_ON_AUDIT)
                    .detail("kind", q.kind).detail("epoch", q.epoch).detail("fromSeq", q.fromSeq)
                    .detail("toSeq", q.toSeq).detail("failures", s.failures)
                    .ts(q.ts)
                    .build(q.kind, Long.toString(q.epoch), Long.toString(q.fromSeq), Long.toString(q.toSeq),
                            Integer.toString(s.failures)));
        } else if (wasWaiting && s.heldCount == 0) {
            s.failures = 0;
            repairs.inc();
            repairLatency.update(Math.max(0, System.currentTimeMillis() - q.issuedAt));
        }
        updateWaiting(s);
        if (s.published || s.heldCount > 0) device.update(s);
    }

    // ---- helpers -----------------------------------------------------------------------------

    /** Whether {@code i} is the very next version after what was published. */
    private static boolean follows(ReconcilerState s, Increment i) {
        if (!s.published) return i.epoch == 0 && i.seq == 1;
        if (i.epoch == s.epoch) return i.seq == s.seq + 1;
        return i.seq == 1 && i.epoch > s.epoch && i.epoch <= s.confirmedEpoch;
    }

    private void apply(ReconcilerState s, Increment i, String source, Collector<DeviceState> out) {
        s.state = JsonMergePatch.apply(s.state == null ? Json.EMPTY_OBJECT : s.state, i.data);
        s.published = true;
        s.epoch = i.epoch;
        s.seq = i.seq;
        s.ts = i.ts;
        emit(s, i.deviceId, source, out);
    }

    private void emit(ReconcilerState s, String deviceId, String source, Collector<DeviceState> out) {
        out.collect(new DeviceState(deviceId, s.epoch, s.seq, s.ts, s.state, source));
        published.inc();
    }

    /** Applies log increments that follow the published version; holds those that come later. */
    private void applyLog(ReconcilerState s, Increment[] increments, Context ctx, Collector<DeviceState> out) throws Exception {
        for (Increment i : increments) {
            if (s.published && Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) continue;
            if (follows(s, i)) {
                apply(s, i, DeviceState.SOURCE_LOG, out);
                removeHeld(s, i.epoch, i.seq);
            } else {
                hold(s, i, DeviceState.SOURCE_LOG, ctx);
            }
        }
    }

    /**
     * Whether the device still waits at a version this request was made to repair: then the repair
     * failed. A device that waits at an earlier hole waits for another request, not this one.
     */
    private static boolean stillMissing(ReconcilerState s, LookupRequest q, Increment firstHeld) {
        if (!s.published || !LookupRequest.GAP.equals(q.kind)) {
            return Versions.compare(firstHeld.epoch, firstHeld.seq, q.epoch, q.toSeq + 1) <= 0;
        }
        return Versions.compare(s.epoch, s.seq + 1, q.epoch, q.fromSeq) >= 0
                && Versions.compare(s.epoch, s.seq + 1, q.epoch, q.toSeq + 1) <= 0;
    }

    private void hold(ReconcilerState s, Increment i, String source, Context ctx) throws Exception {
        String k = key(i.epoch, i.seq);
        if (held.contains(k)) return;
        held.put(k, new HeldIncrement(i, source));
        s.heldCount++;
        if (s.heldCount > maxHeld) {
            // Drop the oldest held: the device then needs a repair that reaches past them.
            Increment oldest = firstHeld();
            held.remove(key(oldest.epoch, oldest.seq));
            s.heldCount--;
            overflows.inc();
            ctx.output(Tags.ALERTS, Alerts.of(AlertType.BUFFER_OVERFLOW, Severity.CRITICAL)
                    .device(i.deviceId)
                    .cause("more than " + maxHeld + " increments held while waiting for a repair; the oldest ("
                            + Versions.format(oldest.epoch, oldest.seq) + ") was dropped and the device needs its snapshot")
                    .strategy(Strategy.FETCH_SNAPSHOT)
                    .detail("maxHeld", maxHeld).detail("droppedEpoch", oldest.epoch).detail("droppedSeq", oldest.seq)
                    .ts(i.ts)
                    .build(Long.toString(oldest.epoch), Long.toString(oldest.seq)));
        }
    }

    /** Applies held increments that follow the published version, in order. */
    private void drain(ReconcilerState s, Collector<DeviceState> out) throws Exception {
        if (s.heldCount == 0) return;
        for (HeldIncrement h : heldInOrder()) {
            Increment i = h.increment;
            if (s.published && Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) {
                removeHeld(s, i.epoch, i.seq);
            } else if (follows(s, i)) {
                apply(s, i, h.source, out);
                removeHeld(s, i.epoch, i.seq);
            } else {
                break;
            }
        }
    }

    private void dropHeldUpTo(ReconcilerState s) throws Exception {
        if (s.heldCount == 0) return;
        for (HeldIncrement h : heldInOrder()) {
            if (Versions.compare(h.increment.epoch, h.increment.seq, s.epoch, s.seq) > 0) break;
            removeHeld(s, h.increment.epoch, h.increment.seq);
        }
    }

    private void removeHeld(ReconcilerState s, long epoch, long seq) throws Exception {
        if (s.heldCount == 0) return;
        String k = key(epoch, seq);
        if (held.contains(k)) {
            held.remove(k);
            s.heldCount--;
        }
    }

    private Increment firstHeld() throws Exception {
        Increment first = null;
        for (HeldIncrement h : held.values()) {
            Increment i = h.increment;
            if (first == null || Versions.compare(i.epoch, i.seq, first.epoch, first.seq) < 0) first = i;
        }
        return first;
    }

    private List<HeldIncrement> heldInOrder() throws Exception {
        List<HeldIncrement> list = new ArrayList<>();
        for (HeldIncrement h : held.values()) list.add(h);
        list.sort((a, b) -> Versions.compare(a.increment.epoch, a.increment.seq, b.increment.epoch, b.increment.seq));
        return list;
    }

    private void updateWaiting(ReconcilerState s) {
        boolean waits = s.heldCount > 0;
        if (waits && s.waitingSince == 0) {
            s.waitingSince = Math.max(1, System.currentTimeMillis());
            waiting.incrementAndGet();
        } else if (!waits && s.waitingSince != 0) {
            s.waitingSince = 0;
            waiting.decrementAndGet();
        }
    }

    private static String key(long epoch, long seq) {
        return epoch + "/" + seq;
    }
}
