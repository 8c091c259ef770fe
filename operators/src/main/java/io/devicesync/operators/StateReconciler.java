package io.devicesync.operators;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.AuditRecord;
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
import java.util.stream.Stream;
import org.apache.flink.api.common.functions.OpenContext;
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
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
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
public class StateReconciler extends KeyedCoProcessFunction<String, Increment, LookupResult, DeviceState> {
    private static final long serialVersionUID = 1L;

    /** One value per device: the published version and document; cleared by TTL when idle. */
    public static final String DEVICE = "reconciler";
    /** Increments waiting for a repair, by "epoch/seq"; empty for a device that does not wait. */
    public static final String HELD = "reconcilerHeld";

    private final int maxHeld;
    private final Duration idleTtl;
    private final int maxDocumentBytes;

    private transient ValueState<ReconcilerState> device;
    private transient MapState<String, HeldIncrement> held;
    private transient Counter published;
    private transient Counter staleDropped;
    private transient Counter repairs;
    private transient Counter repairsFailed;
    private transient Counter overflows;
    private transient Counter tailLosses;
    private transient Counter tooLarge;
    private transient Histogram repairLatency;
    /** Devices of this subtask waiting for a repair (the gauge): counted on open, then kept up to date. */
    private transient AtomicLong waiting;

    public StateReconciler(int maxHeld, Duration idleTtl, int maxDocumentBytes) {
        this.maxHeld = maxHeld;
        this.idleTtl = idleTtl;
        this.maxDocumentBytes = maxDocumentBytes;
    }

    @Override
    public void open(OpenContext ctx) {
        // A day longer than the guard's: if one forgets a device first, let it be the guard, which
        // then treats it as first-seen and asks for its snapshot.
        StateTtlConfig ttl = IdleTtl.of(idleTtl.plusDays(1));
        ValueStateDescriptor<ReconcilerState> d = new ValueStateDescriptor<>(DEVICE,
                TypeInformation.of(ReconcilerState.class));
        d.enableTimeToLive(ttl);
        MapStateDescriptor<String, HeldIncrement> h = new MapStateDescriptor<>(HELD, Types.STRING,
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
        tailLosses = metrics.counter("tailLossesRepaired");
        tooLarge = metrics.counter("versionsTooLarge");
        repairLatency = metrics.histogram("repairLatencyMs", new DescriptiveStatisticsHistogram(1000));
        waiting = new AtomicLong();
        metrics.gauge("devicesWaitingForRepair", waiting::get);
    }

    /**
     * The devices of this subtask that wait for a repair, counted from its keyed state when the
     * operator opens (see {@link Operator}): right after a restore and a rescale alike.
     */
    void countWaiting(long devices) {
        waiting.set(devices);
    }

    /** Devices of this subtask waiting for a repair (the gauge's value). */
    long waitingDevices() {
        return waiting.get();
    }

    /**
     * The operator that runs the reconciler: on open it counts the devices that wait for a repair,
     * the keys that hold increments in {@link #HELD} (only those of this subtask's key groups, so
     * the gauge is true after any rescale; no operator state to split).
     */
    public static final class Operator extends KeyedCoProcessOperator<String, Increment, LookupResult, DeviceState> {
        private static final long serialVersionUID = 1L;

        public Operator(StateReconciler reconciler) {
            super(reconciler);
        }

        @Override
        public void open() throws Exception {
            super.open();
            long n;
            try (Stream<String> keys = this.<String>getKeyedStateBackend().getKeys(HELD, VoidNamespace.INSTANCE)) {
                n = keys.distinct().count();
            }
            ((StateReconciler) getUserFunction()).countWaiting(n);
        }
    }

    // ---- input 1: in-order increments --------------------------------------------------------

    @Override
    public void processElement1(Increment i, Context ctx, Collector<DeviceState> out) throws Exception {
        ReconcilerState s = device.value();
        if (i.forget) {
            // The guard forgot the device (silent for the idle TTL): so does the reconciler.
            if (s != null && s.waitingSince != 0) waiting.decrementAndGet();
            if (s != null && s.heldCount > 0) held.clear();
            device.clear();
            return;
        }
        if (s == null) s = new ReconcilerState();
        if (s.published && Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) {
            staleDropped.inc(); // already covered by a repair
            return;
        }
        if (follows(s, i)) {
            apply(s, i, DeviceState.SOURCE_INCREMENT, ctx, out);
            drain(s, ctx, out);
        } else {
            // Nothing held can follow now either: the published version did not move.
            hold(s, i, DeviceState.SOURCE_INCREMENT, ctx);
        }
        updateWaiting(s);
        device.update(s);
    }

    // ---- input 2: lookup results -------------------------------------------------------------

    @Override
    public void processElement2(LookupResult r, Context ctx, Collector<DeviceState> out) throws Exception {
        ReconcilerState s = device.value();
        if (s == null) s = new ReconcilerState();
        LookupRequest q = r.request;
        boolean wasWaiting = s.heldCount > 0;
        boolean wasPublished = s.published;
        long pubEpoch = s.epoch;
        long pubSeq = s.seq;
        String cause = null;
        boolean repaired = false;
        boolean audit = LookupRequest.AUDIT.equals(q.kind);
        // An audit brings repair data for a waiting device (repair audit) or for tail loss (quiet
        // audit). A repair audit that finds the device no longer waiting changes nothing.
        String outcome = audit && q.repair && !wasWaiting && isData(r.outcome) ? LookupResult.VERSION : r.outcome;
        switch (outcome) {
            case LookupResult.LOG:
                repaired = applyLog(s, r.increments, ctx, out);
                break;
            case LookupResult.SNAPSHOT:
                repaired = applySnapshot(s, r, ctx, out);
                break;
            case LookupResult.VERSION:
                break;
            default:
                cause = r.cause;
        }
        drain(s, ctx, out);
        Increment firstHeld = s.heldCount > 0 ? firstHeld() : null;
        if (firstHeld == null) s.heldCount = 0;
        // A repair that was attempted and left the device waiting failed; a version-only audit that
        // finds it waiting attempted nothing: it only asks for a repair (REPAIR_PENDING below).
        boolean attempted = isData(outcome);
        boolean failed = firstHeld != null
                && (cause != null || (audit ? attempted : stillMissing(s, q, firstHeld)));
        if (failed) {
            s.failures++;
            repairsFailed.inc();
            if (cause == null) {
                cause = (LookupResult.LOG.equals(r.outcome) ? "the increment log"
                        : LookupResult.SNAPSHOT.equals(r.outcome) ? "the snapshot at " + Versions.format(r.snapshotEpoch, r.snapshotSeq)
                        : "the database at " + Versions.format(r.dbEpoch, r.dbSeq))
                        + " does not reach " + Versions.format(firstHeld.epoch, firstHeld.seq) + " from "
                        + (s.published ? Versions.format(s.epoch, s.seq) : "nothing");
            }
            // The first three failures, then every tenth: a device that cannot be repaired for days
            // does not raise an alert every audit interval.
            if (s.failures <= 3 || s.failures % 10 == 0) {
                ctx.output(Tags.ALERTS, Alerts.of(AlertType.RESYNC_FAILED, s.failures >= 3 ? Severity.CRITICAL : Severity.WARNING)
                        .device(q.deviceId)
                        .cause(cause)
                        .strategy(Strategy.RETRY_ON_AUDIT)
                        .detail("kind", q.kind).detail("epoch", q.epoch).detail("fromSeq", q.fromSeq)
                        .detail("toSeq", q.toSeq).detail("failures", s.failures)
                        .ts(q.ts)
                        // The request identifies the episode; replayed after a restore, it has the same id.
                        .build(q.kind, Long.toString(q.epoch), Long.toString(q.fromSeq), Long.toString(q.toSeq),
                                Long.toString(q.ts)));
            }
        } else if (wasWaiting && s.heldCount == 0) {
            repairs.inc();
            repairLatency.update(Math.max(0, System.currentTimeMillis() - q.issuedAt));
            if (s.failures > 0) {
                ctx.output(Tags.ALERTS, Alerts.of(AlertType.RESYNC_RESOLVED, Severity.INFO)
                        .device(q.deviceId)
                        .cause("repaired after " + s.failures + " failed attempt(s); now at " + Versions.format(s.epoch, s.seq))
                        .strategy(Strategy.NONE)
                        .detail("failures", s.failures).detail("epoch", s.epoch).detail("seq", s.seq)
                        .ts(q.ts)
                        .build(Long.toString(s.epoch), Long.toString(s.seq)));
            }
            s.failures = 0;
        }
        if (audit) audited(s, r, ctx, wasWaiting, wasPublished, pubEpoch, pubSeq, repaired);
        else if (failed && s.heldCount > 0) askForRepair(s, r, ctx);
        updateWaiting(s);
        if (s.published || s.heldCount > 0) device.update(s);
    }

    /**
     * The outcome of an audit, on device-audit: the version published when audited against the
     * database's. A database ahead with nothing held is tail loss: alerted once per episode (the
     * published version it was found at) and repaired from the data the audit brought.
     */
    private void audited(ReconcilerState s, LookupResult r, Context ctx, boolean wasWaiting, boolean wasPublished,
            long pubEpoch, long pubSeq, boolean repaired) {
        LookupRequest q = r.request;
        long e = wasPublished ? pubEpoch : -1;
        long sq = wasPublished ? pubSeq : -1;
        String outcome;
        if (s.heldCount > 0 || LookupResult.FAILED.equals(r.outcome) || LookupResult.TIMED_OUT.equals(r.outcome)
                || LookupResult.UNAVAILABLE.equals(r.outcome)) {
            // Still waiting (the guard repairs it), or the database could not be read (it looks again).
            outcome = AuditRecord.REPAIR_PENDING;
        } else if (repaired && !wasWaiting && q.quiet && !q.repair) {
            outcome = AuditRecord.TAIL_LOSS;
            boolean sameEpoch = wasPublished && r.dbEpoch == pubEpoch;
            tailLosses.inc();
            ctx.output(Tags.ALERTS, Alerts.of(AlertType.TAIL_LOSS, Severity.WARNING)
                    .device(q.deviceId)
                    .cause("the database is at " + Versions.format(r.dbEpoch, r.dbSeq) + " but the stream stopped at "
                            + (wasPublished ? Versions.format(pubEpoch, pubSeq) : "nothing"))
                    .strategy(LookupResult.LOG.equals(r.outcome) ? Strategy.FETCH_INCREMENTS : Strategy.FETCH_SNAPSHOT)
                    .detail("epoch", e).detail("seq", sq).detail("dbEpoch", r.dbEpoch).detail("dbSeq", r.dbSeq)
                    .detail("missing", sameEpoch ? r.dbSeq - pubSeq : -1)
                    .ts(q.ts)
                    .build(Long.toString(e), Long.toString(sq)));
        } else if (LookupResult.NOT_FOUND.equals(r.outcome) || r.dbEpoch < 0) {
            outcome = AuditRecord.DB_MISSING; // the database has no row for the device (yet)
        } else {
            int c = Versions.compare(s.epoch, s.seq, r.dbEpoch, r.dbSeq);
            // (A database ahead that brought no repair: increments on their way, see SnapshotLookup.)
            outcome = c == 0 && s.published ? AuditRecord.VERIFIED : c > 0 ? AuditRecord.DB_BEHIND : AuditRecord.IN_FLIGHT;
        }
        if (!AuditRecord.TAIL_LOSS.equals(outcome) && s.published) {
            // What is published now that the audit's data was applied: a VERIFIED record has the
            // database's version. (TAIL_LOSS keeps where the stream stopped.)
            e = s.epoch;
            sq = s.seq;
        }
        ctx.output(Tags.AUDITS, new AuditRecord(q.deviceId, e, sq, r.dbEpoch, r.dbSeq, outcome, q.ts));
    }

    // ---- helpers -----------------------------------------------------------------------------

    /** Whether {@code i} is the very next version after what was published. */
    private static boolean follows(ReconcilerState s, Increment i) {
        if (!s.published) return i.epoch == 0 && i.seq == 1;
        // A new epoch never follows by itself: only a snapshot that reached it (see applySnapshot).
        return i.epoch == s.epoch && i.seq == s.seq + 1;
    }

    private void apply(ReconcilerState s, Increment i, String source, Context ctx, Collector<DeviceState> out) {
        s.state = JsonMergePatch.apply(s.state == null ? Json.EMPTY_OBJECT : s.state, i.data);
        s.published = true;
        s.epoch = i.epoch;
        s.seq = i.seq;
        s.ts = i.ts;
        emit(s, i.deviceId, source, ctx, out);
    }

    /**
     * Publishes the device's current version, unless its document is larger than
     * {@code maxDocumentBytes}: past the topic's record limit the sink would fail the job, restore
     * it and fail again forever. Such a version is kept in state (a later increment that removes
     * members, or a smaller snapshot, brings it back under the limit, and that version is
     * published) but not published; one {@code STATE_TOO_LARGE} alert per episode says so.
     */
    private void emit(ReconcilerState s, String deviceId, String source, Context ctx, Collector<DeviceState> out) {
        if (s.state.length > maxDocumentBytes) {
            tooLarge.inc();
            if (!s.oversized) {
                s.oversized = true;
                ctx.output(Tags.ALERTS, Alerts.of(AlertType.STATE_TOO_LARGE, Severity.CRITICAL)
                        .device(deviceId)
                        .cause("the state document of " + deviceId + " at " + Versions.format(s.epoch, s.seq) + " is "
                                + s.state.length + " bytes, over the limit of " + maxDocumentBytes
                                + "; not published until it fits again")
                        .strategy(Strategy.NONE)
                        .detail("epoch", s.epoch).detail("seq", s.seq).detail("bytes", s.state.length)
                        .detail("maxBytes", maxDocumentBytes)
                        .ts(s.ts)
                        .build(Long.toString(s.epoch), Long.toString(s.seq)));
            }
            return;
        }
        s.oversized = false;
        out.collect(new DeviceState(deviceId, s.epoch, s.seq, s.ts, s.state, source));
        published.inc();
    }

    /** Read back by the SequenceGuard: the next audit interval retries with a repair. */
    private void askForRepair(ReconcilerState s, LookupResult r, Context ctx) {
        LookupRequest q = r.request;
        ctx.output(Tags.AUDITS, new AuditRecord(q.deviceId, s.published ? s.epoch : -1, s.published ? s.seq : -1,
                r.dbEpoch, r.dbSeq, AuditRecord.REPAIR_PENDING, q.ts));
    }

    private static boolean isData(String outcome) {
        return LookupResult.LOG.equals(outcome) || LookupResult.SNAPSHOT.equals(outcome);
    }

    /**
     * Applies log increments that follow the published version; holds those that come later.
     * Returns whether anything was published.
     */
    private boolean applyLog(ReconcilerState s, Increment[] increments, Context ctx, Collector<DeviceState> out) throws Exception {
        boolean any = false;
        for (Increment i : increments) {
            if (s.published && Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) continue;
            if (follows(s, i)) {
                apply(s, i, DeviceState.SOURCE_LOG, ctx, out);
                removeHeld(s, i.epoch, i.seq);
                any = true;
            } else {
                hold(s, i, DeviceState.SOURCE_LOG, ctx);
            }
        }
        return any;
    }

    /**
     * Applies a snapshot if it is newer than what was published, then the log rows that continue
     * it. Returns whether anything was published.
     */
    private boolean applySnapshot(ReconcilerState s, LookupResult r, Context ctx, Collector<DeviceState> out) throws Exception {
        LookupRequest q = r.request;
        boolean any = false;
        if (!s.published || Versions.compare(r.snapshotEpoch, r.snapshotSeq, s.epoch, s.seq) > 0) {
            s.published = true;
            s.epoch = r.snapshotEpoch;
            s.seq = r.snapshotSeq;
            s.ts = Math.max(s.ts, q.ts);
            s.state = r.snapshotState;
            emit(s, q.deviceId, DeviceState.SOURCE_SNAPSHOT, ctx, out);
            dropHeldUpTo(s);
            any = true;
        }
        // A snapshot still in an older epoch than the one the device moved to does not confirm the
        // reset: the old epoch's last increments may have been lost and not be in it yet (it may
        // lag). The new epoch is published only on top of a snapshot that reached it, which holds
        // the whole old epoch; until then its increments wait and the audit retries.
        if (r.increments != null) any |= applyLog(s, r.increments, ctx, out);
        return any;
    }

    /**
     * Whether the device still waits at a version this request was made to repair: then the repair
     * failed. A device that waits at an earlier hole waits for another request, not this one.
     */
    private static boolean stillMissing(ReconcilerState s, LookupRequest q, Increment firstHeld) {
        boolean upToTrigger = Versions.compare(firstHeld.epoch, firstHeld.seq, q.epoch, q.toSeq + 1) <= 0;
        switch (q.kind) {
            case LookupRequest.GAP:
                // A gap result cannot give an unpublished device its base: FIRST_SEEN's job.
                return s.published && Versions.compare(s.epoch, s.seq + 1, q.epoch, q.fromSeq) >= 0
                        && Versions.compare(s.epoch, s.seq + 1, q.epoch, q.toSeq + 1) <= 0;
            default:
                // RESET, FIRST_SEEN, AUDIT: anything held up to the trigger, in any epoch, was the
                // request's to repair (the guard sends no other request for a reset's old epoch).
                return !s.published || upToTrigger;
        }
    }

    private void hold(ReconcilerState s, Increment i, String source, Context ctx) throws Exception {
        String k = key(i.epoch, i.seq);
        if (held.contains(k)) return;
        held.put(k, new HeldIncrement(i, source));
        s.heldCount++;
        if (s.heldCount > maxHeld) {
            // Drop the oldest held: the device then needs a repair that reaches past them.
            Increment oldest = firstHeld();
            if (oldest == null) return;
            held.remove(key(oldest.epoch, oldest.seq));
            s.heldCount--;
            overflows.inc();
            if (s.overflowed) return; // one alert per waiting episode
            s.overflowed = true;
            ctx.output(Tags.ALERTS, Alerts.of(AlertType.BUFFER_OVERFLOW, Severity.CRITICAL)
                    .device(i.deviceId)
                    .cause("more than " + maxHeld + " increments held while waiting for a repair; the oldest ("
                            + Versions.format(oldest.epoch, oldest.seq) + ") was dropped and the device needs its snapshot")
                    .strategy(Strategy.FETCH_SNAPSHOT)
                    .detail("maxHeld", maxHeld).detail("droppedEpoch", oldest.epoch).detail("droppedSeq", oldest.seq)
                    .ts(i.ts)
                    .build(Long.toString(oldest.epoch), Long.toString(oldest.seq)));
            // The audit fetches the snapshot of a device whose repair is pending.
            ctx.output(Tags.AUDITS, new AuditRecord(i.deviceId, s.published ? s.epoch : -1, s.published ? s.seq : -1,
                    -1, -1, AuditRecord.REPAIR_PENDING, i.ts));
        }
    }

    /** Applies held increments that follow the published version, in order. */
    private void drain(ReconcilerState s, Context ctx, Collector<DeviceState> out) throws Exception {
        if (s.heldCount == 0) return;
        List<HeldIncrement> inOrder = heldInOrder();
        s.heldCount = inOrder.size(); // entries may have expired one by one (TTL)
        for (HeldIncrement h : inOrder) {
            Increment i = h.increment;
            if (s.published && Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) {
                removeHeld(s, i.epoch, i.seq);
            } else if (follows(s, i)) {
                apply(s, i, h.source, ctx, out);
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
        // (null with heldCount > 0 only if entries expired: drain() then corrects the count)
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
            s.overflowed = false;
            waiting.decrementAndGet();
        }
    }

    private static String key(long epoch, long seq) {
        return epoch + "/" + seq;
    }
}
