package io.devicesync.operators;

import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.model.Versions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Orders and deduplicates each device's increments and schedules its audits (keyed by deviceId;
 * input 1: increments, input 2: {@code REPAIR_PENDING} records read back from device-audit).
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
 * An {@code IN_FLIGHT} record (the database ahead while increments may be on their way) schedules
 * a re-check, at most {@value #MAX_RECHECKS} in a row. A device silent for the idle TTL is
 * forgotten at its next audit (state and timers); the state TTL removes the state of devices
 * without timers.
 *
 * <p>Nothing here touches the database; the hot path reads and writes one small value.
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

    private transient ValueState<GuardState> device;
    private transient MapState<Long, Increment> held;
    private transient Counter forwarded;
    private transient Counter duplicates;
    private transient Counter gaps;
    private transient Counter resets;
    private transient Counter lookups;
    private transient Counter heldMessages;
    private transient Counter audits;
    private transient Counter forgotten;

    public SequenceGuard(Duration reorderGrace, long maxLogFetch, Duration auditInterval, Duration idleTtl) {
        this.graceMs = reorderGrace.toMillis();
        this.maxLogFetch = maxLogFetch;
        this.auditMs = auditInterval.toMillis();
        this.idleTtl = idleTtl;
    }

    @Override
    public void open(OpenContext ctx) {
        StateTtlConfig ttl = IdleTtl.of(idleTtl);
        ValueStateDescriptor<GuardState> d = new ValueStateDescriptor<>(DEVICE, TypeInformation.of(GuardState.class));
        d.enableTimeToLive(ttl);
        MapStateDescriptor<Long, Increment> h = new MapStateDescriptor<>(HELD, Types.LONG, TypeInformation.of(Increment.class));
        h.enableTimeToLive(ttl);
        device = getRuntimeContext().getState(d);
        held = getRuntimeContext().getMapState(h);
        var metrics = getRuntimeContext().getMetricGroup();
        forwarded = metrics.counter("incrementsForwarded");
        duplicates = metrics.counter("duplicatesDropped");
        gaps = metrics.counter("gapsDetected");
        resets = metrics.counter("deviceResets");
        lookups = metrics.counter("lookupsRequested");
        heldMessages = metrics.counter("earlyMessagesHeld");
        audits = metrics.counter("auditsRequested");
        forgotten = metrics.counter("idleDevicesForgotten");
    }

    // ---- input 1: increments ----------------------------------------------------------------

    @Override
    public void processElement1(Increment i, Context ctx, Collector<Increment> out) throws Exception {
        GuardState s = device.value();
        if (s == null) {
            s = new GuardState();
            if (i.epoch > 0) {
                // State carries across epochs: only the database knows what came before.
                request(s, ctx, new LookupRequest(i.deviceId, LookupRequest.FIRST_SEEN, i.epoch, 1, i.seq - 1,
                        i.ts, System.currentTimeMillis()));
                forward(s, i, out);
                accepted(s, i, ctx);
                return;
            }
            // Epoch 0: nothing forwarded yet (seq 0); (0, 1) is next, later ones wait for the grace.
        }
        if (Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) {
            duplicates.inc();
            return;
        }
        if (i.epoch == s.epoch) {
            if (i.seq == s.seq + 1) {
                forward(s, i, out);
                if (s.heldCount > 0) drainHeld(s, ctx, out);
            } else if (s.heldCount > 0 && held.contains(i.seq)) {
                duplicates.inc();
                return;
            } else {
                held.put(i.seq, i);
                s.heldCount++;
                heldMessages.inc();
                if (s.graceTimer == 0) armGrace(s, ctx, i.ts);
            }
            accepted(s, i, ctx);
            return;
        }
        // A higher epoch: the device restarted its numbering.
        resets.inc();
        long oldEpoch = s.epoch;
        long oldSeq = s.seq;
        if (s.heldCount > 0) {
            // Early messages of the old epoch still go downstream, in order: the reset lookup
            // confirms the whole state, so no separate gap request.
            for (Increment h : heldInOrder()) forward(s, h, out);
            clearHeld(s, ctx);
        }
        ctx.output(Tags.ALERTS, Alerts.of(AlertType.DEVICE_RESET, Severity.WARNING)
                .device(i.deviceId)
                .cause("epoch moved from " + oldEpoch + " to " + i.epoch + " (last seq " + oldSeq + ", now " + i.seq + ")")
                .strategy(Strategy.FETCH_SNAPSHOT)
                .detail("fromEpoch", oldEpoch).detail("lastSeq", oldSeq).detail("toEpoch", i.epoch).detail("seq", i.seq)
                .ts(i.ts)
                .build(Long.toString(i.epoch)));
        request(s, ctx, new LookupRequest(i.deviceId, LookupRequest.RESET, i.epoch, 1, i.seq - 1, i.ts,
                System.currentTimeMillis()));
        forward(s, i, out);
        accepted(s, i, ctx);
    }

    // ---- input 2: audit records read back from device-audit ---------------------------------

    @Override
    public void processElement2(AuditRecord a, Context ctx, Collector<Increment> out) throws Exception {
        GuardState s = device.value();
        // Forgotten (idle TTL): nothing to audit; if it comes back, it is first-seen and repaired so.
        if (s == null) return;
        boolean waiting = a.seq < 0 || Versions.compare(a.epoch, a.seq, s.epoch, s.seq) < 0;
        if (AuditRecord.REPAIR_PENDING.equals(a.outcome) && waiting) {
            // Published below what was forwarded: the device waits for a repair.
            s.repairPending = true;
        } else if (AuditRecord.REPAIR_PENDING.equals(a.outcome) || AuditRecord.IN_FLIGHT.equals(a.outcome)) {
            // Inconclusive (the database could not be read, or increments were in flight): look again.
            if (s.rechecks >= MAX_RECHECKS) return;
            s.recheck = true;
            s.rechecks++;
        } else {
            return;
        }
        armAudit(s, ctx, a.ts);
        device.update(s);
    }

    /** Inconclusive audits re-checked in a row at most, until the device sends again. */
    static final int MAX_RECHECKS = 3;

    // ---- timers -----------------------------------------------------------------------------

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Increment> out) throws Exception {
        GuardState s = device.value();
        if (s == null) return;
        if (timestamp == s.graceTimer) graceExpired(s, timestamp, ctx, out);
        if (timestamp == s.auditTimer) {
            s.auditTimer = 0;
            if (!s.active && timestamp - s.lastSeen >= idleTtl.toMillis()) {
                // Silent for the idle TTL: forget the device; if it comes back, it is first-seen.
                clearHeld(s, ctx);
                device.clear();
                forgotten.inc();
                return;
            }
            audits.inc();
            boolean wasActive = s.active;
            // Quiet: nothing accepted for a whole interval and nothing waiting for its grace.
            boolean quiet = !wasActive && s.heldCount == 0;
            LookupRequest audit = LookupRequest.audit(ctx.getCurrentKey(), s.epoch, s.seq, s.repairPending, quiet,
                    timestamp, System.currentTimeMillis());
            audit.recheck = s.recheck && quiet;
            ctx.output(Tags.LOOKUPS, audit);
            s.recheck = false;
            s.active = false;
            s.repairPending = false;
            // Timer: the next boundary, for one more audit after the device fell quiet. A quiet
            // audit arms nothing: the next increment or REPAIR_PENDING record does.
            if (wasActive) armAudit(s, ctx, timestamp);
        }
        device.update(s);
    }

    private void graceExpired(GuardState s, long timestamp, OnTimerContext ctx, Collector<Increment> out) throws Exception {
        s.graceTimer = 0;
        if (s.heldCount == 0) return;
        List<Increment> early = heldInOrder();
        Increment first = early.get(0);
        long fromSeq = s.seq + 1;
        // The holes between the held messages: one request spans from the first to the last.
        long toSeq = fromSeq - 1;
        long missing = 0;
        long expected = fromSeq;
        for (Increment h : early) {
            if (h.seq > expected) {
                missing += h.seq - expected;
                toSeq = h.seq - 1;
            }
            expected = h.seq + 1;
        }
        if (s.seq == 0) {
            // A device first seen past (0, 1), and (0, 1) did not come within the grace: the job
            // cannot know its state. Not an alert: a job started after the fleet sees every device so.
            request(s, ctx, new LookupRequest(first.deviceId, LookupRequest.FIRST_SEEN, s.epoch, 1, toSeq,
                    timestamp, System.currentTimeMillis()));
        } else {
            gaps.inc();
            ctx.output(Tags.ALERTS, Alerts.of(AlertType.SEQUENCE_GAP, Severity.WARNING)
                    .device(first.deviceId)
                    .cause("seq jumped from " + s.seq + " to " + first.seq)
                    .strategy(toSeq - fromSeq + 1 <= maxLogFetch ? Strategy.FETCH_INCREMENTS : Strategy.FETCH_SNAPSHOT)
                    .detail("epoch", s.epoch).detail("fromSeq", fromSeq).detail("toSeq", toSeq).detail("missing", missing)
                    .ts(timestamp)
                    .build(Long.toString(s.epoch), Long.toString(fromSeq), Long.toString(toSeq)));
            request(s, ctx, new LookupRequest(first.deviceId, LookupRequest.GAP, s.epoch, fromSeq, toSeq, timestamp,
                    System.currentTimeMillis()));
        }
        for (Increment h : early) forward(s, h, out);
        held.clear();
        s.heldCount = 0;
    }

    // ---- helpers ----------------------------------------------------------------------------

    /** Records activity (for the audit) and saves the device. */
    private void accepted(GuardState s, Increment i, Context ctx) throws Exception {
        s.active = true;
        s.rechecks = 0;
        s.lastSeen = Math.max(s.lastSeen, i.ts);
        armAudit(s, ctx, i.ts);
        device.update(s);
    }

    /**
     * Arms the audit timer at the device's next interval boundary after {@code time} (no earlier
     * than the watermark, no later than one interval past it: a clock far ahead cannot push the
     * audit away). Each device's boundaries are offset by a hash of its id, so that the audits of
     * all devices spread over the interval instead of hitting the database at one instant.
     */
    private void armAudit(GuardState s, Context ctx, long time) {
        if (s.auditTimer != 0) return;
        long wm = ctx.timerService().currentWatermark();
        long t = wm == Long.MIN_VALUE ? time : Math.max(wm, Math.min(time, wm + auditMs));
        long offset = Math.floorMod(ctx.getCurrentKey().hashCode(), auditMs);
        s.auditTimer = (Math.floorDiv(t - offset, auditMs) + 1) * auditMs + offset;
        ctx.timerService().registerEventTimeTimer(s.auditTimer);
    }

    /** Deletes the grace timer, unless the audit shares its timestamp (one timer serves both). */
    private void deleteGraceTimer(GuardState s, Context ctx) {
        if (s.graceTimer != s.auditTimer) ctx.timerService().deleteEventTimeTimer(s.graceTimer);
        s.graceTimer = 0;
    }

    private void forward(GuardState s, Increment i, Collector<Increment> out) {
        out.collect(i);
        forwarded.inc();
        s.epoch = i.epoch;
        s.seq = i.seq;
    }

    /** Forwards held messages that are now next; stops the grace timer once none is left. */
    private void drainHeld(GuardState s, Context ctx, Collector<Increment> out) throws Exception {
        Increment next;
        boolean drained = false;
        while (s.heldCount > 0 && (next = held.get(s.seq + 1)) != null) {
            held.remove(next.seq);
            s.heldCount--;
            forward(s, next, out);
            drained = true;
        }
        if (s.heldCount == 0) {
            clearHeld(s, ctx);
        } else if (drained && s.graceTimer != 0) {
            // The earliest held went out: the ones left get their own full grace.
            deleteGraceTimer(s, ctx);
            armGrace(s, ctx, heldInOrder().get(0).ts);
        }
    }

    /**
     * Timer: the end of the grace for the earliest held message; firing declares the gap. The grace
     * runs from the message's time, but from no earlier than the watermark (a late record still
     * gets it) and no later than one grace past the watermark (a clock far ahead holds nothing for
     * long).
     */
    private void armGrace(GuardState s, Context ctx, long ts) {
        long wm = ctx.timerService().currentWatermark();
        long start = wm == Long.MIN_VALUE ? ts : Math.max(wm, Math.min(ts, wm + graceMs));
        s.graceTimer = start + graceMs;
        ctx.timerService().registerEventTimeTimer(s.graceTimer);
    }

    private void clearHeld(GuardState s, Context ctx) throws Exception {
        if (s.graceTimer != 0) deleteGraceTimer(s, ctx);
        if (s.heldCount > 0) held.clear();
        s.heldCount = 0;
    }

    private List<Increment> heldInOrder() throws Exception {
        List<Increment> list = new ArrayList<>();
        for (Increment i : held.values()) list.add(i);
        list.sort(Comparator.comparingLong(i -> i.seq));
        return list;
    }

    /** Sends a lookup request; a gap already covered by an earlier request is not sent again. */
    private void request(GuardState s, Context ctx, LookupRequest r) {
        if (LookupRequest.GAP.equals(r.kind) && s.requestedEpoch >= 0
                && Versions.compare(r.epoch, r.toSeq, s.requestedEpoch, s.requestedSeq) <= 0) {
            return;
        }
        s.requestedEpoch = r.epoch;
        s.requestedSeq = r.toSeq;
        lookups.inc();
        ctx.output(Tags.LOOKUPS, r);
    }
}
