package io.devicesync.operators;

import io.devicesync.operators.serde.Compact;
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
    /**
     * The longest watermark step that counts as routine: an idle input's jump to the wall clock
     * (the idle timeout, one periodic watermark and the out-of-orderness). An audit timer passed by
     * more than this was passed by a stop, a catch-up's end or an outage: it is not run at once
     * but moved to the device's slot in the interval after the jump.
     */
    private final long routineJumpMs;

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
    private transient Counter postponed;

    /** A guard that runs every audit as due, however far event time jumps (tests of the schedule). */
    public SequenceGuard(Duration reorderGrace, long maxLogFetch, Duration auditInterval, Duration idleTtl) {
        this(reorderGrace, maxLogFetch, auditInterval, idleTtl, Duration.ofMillis(Long.MAX_VALUE));
    }

    /**
     * @param routineJump the longest event-time jump whose audits run as due: the idle timeout plus
     *     the out-of-orderness plus one periodic watermark (what an idle input's jump to the wall
     *     clock takes); audits passed by more are spread over the interval after the jump
     */
    public SequenceGuard(Duration reorderGrace, long maxLogFetch, Duration auditInterval, Duration idleTtl,
            Duration routineJump) {
        this.graceMs = reorderGrace.toMillis();
        this.maxLogFetch = maxLogFetch;
        this.auditMs = auditInterval.toMillis();
        this.idleTtl = idleTtl;
        this.routineJumpMs = routineJump.toMillis();
    }

    @Override
    public void open(OpenContext ctx) {
        StateTtlConfig ttl = IdleTtl.of(idleTtl);
        ValueStateDescriptor<GuardState> d = new ValueStateDescriptor<>(DEVICE, Compact.GUARD_STATE);
        d.enableTimeToLive(ttl);
        MapStateDescriptor<Long, Increment> h = new MapStateDescriptor<>(HELD, Types.LONG, Compact.INCREMENT);
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
        postponed = metrics.counter("auditsSpreadAfterJump");
    }

    // ---- input 1: increments ----------------------------------------------------------------

    @Override
    public void processElement1(Increment i, Context ctx, Collector<Increment> out) throws Exception {
        GuardState s = device.value();
        if (s == null) {
            s = new GuardState();
            if (i.epoch > 0) {
                // State carries across epochs: only the database knows what came before.
                request(s, ctx, new LookupRequest(i.deviceId, LookupRequest.Kind.FIRST_SEEN, i.epoch, 1, i.seq - 1,
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
        if (s.seq == 0) {
            // Never forwarded anything (its first messages wait for the grace) and now in a higher
            // epoch: still a device first seen, not a reset. What waits goes downstream, and the
            // database gives the base of the new epoch.
            for (Increment h : heldInOrder()) forward(s, h, out);
            clearHeld(s, ctx);
            request(s, ctx, new LookupRequest(i.deviceId, LookupRequest.Kind.FIRST_SEEN, i.epoch, 1, i.seq - 1,
                    i.ts, System.currentTimeMillis()));
            forward(s, i, out);
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
        request(s, ctx, new LookupRequest(i.deviceId, LookupRequest.Kind.RESET, i.epoch, 1, i.seq - 1, i.ts,
                System.currentTimeMillis()));
        forward(s, i, out);
        accepted(s, i, ctx);
    }

    // ---- input 2: audit records read back from device-audit ---------------------------------

    @Override
    public void processElement2(AuditRecord a, Context ctx, Collector<Increment> out) throws Exception {
        GuardState s = device.value();
        // Forgotten (idle TTL): nothing to audit; if it comes back, it is first-seen and repaired so.
        if (s == null || a.outcome == null) return;
        switch (a.outcome) {
            case REPAIR_PENDING:
                if (a.seq < 0 || Versions.compare(a.epoch, a.seq, s.epoch, s.seq) < 0) {
                    // Published below what was forwarded: the device waits for a repair.
                    s.repairPending = true;
                    armAudit(s, ctx, a.ts);
                } else {
                    // The database could not be read (down, or its breaker open): look again.
                    recheck(s, ctx, a);
                }
                break;
            case IN_FLIGHT: // increments were on their way
            case DB_BEHIND: // the database lags
            case DB_MISSING: // the database has no row (yet)
                // Look again, backing off, until an audit is VERIFIED or repairs the device;
                // only a device that sends again stops it (its own audits take over).
                recheck(s, ctx, a);
                break;
            case TAIL_LOSS:
                repairedTail(s, a, ctx, out);
                break;
            default:
                return;
        }
        device.update(s);
    }

    /**
     * A quiet audit found the database ahead and the reconciler repaired the device up to the
     * database's version: that is where the stream continues. Without this, the device's next
     * message would wait for the grace and be declared a gap that was already repaired.
     */
    private void repairedTail(GuardState s, AuditRecord a, Context ctx, Collector<Increment> out) throws Exception {
        if (a.dbSeq < 0 || Versions.compare(a.dbEpoch, a.dbSeq, s.epoch, s.seq) <= 0) return;
        // Only where the audit found the stream: a record of another run (replayed after a restore
        // from an older savepoint) must not move the guard past what this run published.
        if (a.epoch != s.epoch || a.seq != s.seq) return;
        if (a.dbEpoch > s.epoch) {
            // Every message of the new epoch was lost: the epoch change is still one DEVICE_RESET
            // (the same id as if the stream had shown it).
            resets.inc();
            ctx.output(Tags.ALERTS, Alerts.of(AlertType.DEVICE_RESET, Severity.WARNING)
                    .device(ctx.getCurrentKey())
                    .cause("epoch moved from " + s.epoch + " to " + a.dbEpoch + " (last seq " + s.seq
                            + "), found by an audit: the stream lost every message of the new epoch")
                    .strategy(Strategy.FETCH_SNAPSHOT)
                    .detail("fromEpoch", s.epoch).detail("lastSeq", s.seq).detail("toEpoch", a.dbEpoch).detail("seq", a.dbSeq)
                    .ts(a.ts)
                    .build(Long.toString(a.dbEpoch)));
        }
        if (s.heldCount > 0) {
            // Held messages the repair covered are stale now; those that follow it go downstream.
            for (Increment h : heldInOrder()) {
                if (Versions.compare(h.epoch, h.seq, a.dbEpoch, a.dbSeq) > 0) break;
                held.remove(h.seq);
                s.heldCount--;
            }
        }
        if (a.dbEpoch != s.epoch && s.heldCount > 0) clearHeld(s, ctx); // another epoch: all stale
        s.epoch = a.dbEpoch;
        s.seq = a.dbSeq;
        s.requestedEpoch = a.dbEpoch;
        s.requestedSeq = a.dbSeq;
        if (s.heldCount > 0) drainHeld(s, ctx, out);
        else clearHeld(s, ctx);
    }

    /**
     * Schedules a plain re-check audit at the device's boundary 1, 2, 4 … intervals later (at most
     * {@value #MAX_BACKOFF_INTERVALS}) as the re-checks in a row go on: bounded cost for a database
     * that lags for long, and no device left unchecked. Any increment the device sends ends the
     * series (its own audits take over).
     */
    private void recheck(GuardState s, Context ctx, AuditRecord a) {
        if (s.auditTimer != 0) {
            // The device is active: its next audit is armed already. After IN_FLIGHT (increments
            // seemed on their way), that audit, if quiet, may conclude. Any other outcome of an
            // active audit says nothing about tail loss: the quiet audit looks afresh.
            if (a.outcome == AuditRecord.Outcome.IN_FLIGHT) s.recheck = true;
            return;
        }
        s.recheck = true;
        long intervals = Math.min(MAX_BACKOFF_INTERVALS, 1L << Math.min(s.rechecks, 20));
        s.rechecks++;
        armAudit(s, ctx, plus(a.ts, (intervals - 1) * auditMs), intervals * auditMs);
    }

    /** The longest wait between two re-checks of an inconclusive audit, in audit intervals. */
    static final long MAX_BACKOFF_INTERVALS = 8;

    // ---- timers -----------------------------------------------------------------------------

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Increment> out) throws Exception {
        GuardState s = device.value();
        if (s == null) return;
        if (timestamp == s.graceTimer) graceExpired(s, timestamp, ctx, out);
        if (timestamp == s.auditTimer) {
            s.auditTimer = 0;
            long wm = ctx.timerService().currentWatermark();
            if (!s.auditMoved && wm != Long.MAX_VALUE && wm - timestamp > routineJumpMs) {
                // Passed by a long jump of event time (a stop, the end of a catch-up, an outage):
                // the device is audited at its slot in the interval after the jump, not now, so
                // the fleet's missed audits neither run at once nor once per interval missed.
                postponed.inc();
                armAudit(s, ctx, wm);
                s.auditMoved = true;
                device.update(s);
                return;
            }
            if (!s.active && timestamp - s.lastSeen >= idleTtl.toMillis()) {
                // Silent for the idle TTL: forget the device; if it comes back, it is first-seen.
                // The reconciler forgets it too (it may hold increments that wait for a repair).
                clearHeld(s, ctx);
                device.clear();
                forgotten.inc();
                out.collect(Increment.forget(ctx.getCurrentKey(), timestamp));
                return;
            }
            s.auditMoved = false;
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

    /**
     * The grace of the earliest held message ended: the hole before it is a gap (one
     * {@code SEQUENCE_GAP} with its true range and one request), and that message and the ones
     * that follow it without a hole go downstream. Each later hole keeps its own grace, which ran
     * from the time of the message after it: ended already, it is declared now as well; else a
     * timer waits for it, and a late message that closes it is forwarded like any in-order one.
     */
    private void graceExpired(GuardState s, long timestamp, OnTimerContext ctx, Collector<Increment> out) throws Exception {
        s.graceTimer = 0;
        if (s.heldCount == 0) return;
        List<Increment> early = heldInOrder();
        int k = 0;
        while (k < early.size()) {
            Increment first = early.get(k);
            if (k > 0) {
                // A later hole: its grace ran from its successor's time (bounded like armGrace's).
                long end = plus(Math.min(Math.max(first.ts, timestamp - graceMs), timestamp), graceMs);
                if (end > timestamp) {
                    s.graceTimer = end;
                    ctx.timerService().registerEventTimeTimer(end);
                    break;
                }
            }
            declareHole(s, first, timestamp, ctx);
            // The held message after the hole, and its in-order successors.
            do {
                Increment h = early.get(k++);
                held.remove(h.seq);
                s.heldCount--;
                forward(s, h, out);
            } while (k < early.size() && early.get(k).seq == s.seq + 1);
        }
        if (s.heldCount <= 0) {
            s.heldCount = 0;
            held.clear();
        }
    }

    /** The hole before the held message {@code next}: a gap, or for a device first seen, its base. */
    private void declareHole(GuardState s, Increment next, long timestamp, OnTimerContext ctx) {
        long fromSeq = s.seq + 1;
        long toSeq = next.seq - 1;
        if (s.seq == 0) {
            // A device first seen past (0, 1), and (0, 1) did not come within the grace: the job
            // cannot know its state. Not an alert: a job started after the fleet sees every device so.
            request(s, ctx, new LookupRequest(next.deviceId, LookupRequest.Kind.FIRST_SEEN, s.epoch, 1, toSeq,
                    timestamp, System.currentTimeMillis()));
            return;
        }
        gaps.inc();
        long missing = toSeq - fromSeq + 1;
        ctx.output(Tags.ALERTS, Alerts.of(AlertType.SEQUENCE_GAP, Severity.WARNING)
                .device(next.deviceId)
                .cause("seq jumped from " + s.seq + " to " + next.seq)
                .strategy(missing <= maxLogFetch ? Strategy.FETCH_INCREMENTS : Strategy.FETCH_SNAPSHOT)
                .detail("epoch", s.epoch).detail("fromSeq", fromSeq).detail("toSeq", toSeq).detail("missing", missing)
                .ts(timestamp)
                .build(Long.toString(s.epoch), Long.toString(fromSeq), Long.toString(toSeq)));
        request(s, ctx, new LookupRequest(next.deviceId, LookupRequest.Kind.GAP, s.epoch, fromSeq, toSeq, timestamp,
                System.currentTimeMillis()));
    }

    // ---- helpers ----------------------------------------------------------------------------

    /** Records activity (for the audit) and saves the device. */
    private void accepted(GuardState s, Increment i, Context ctx) throws Exception {
        s.active = true;
        s.rechecks = 0;
        // Event time of the last increment, no further ahead than the watermark allows: a device
        // clock far ahead must not keep the device from ever being forgotten.
        long wm = ctx.timerService().currentWatermark();
        s.lastSeen = Math.max(s.lastSeen, wm == Long.MIN_VALUE ? i.ts : Math.min(i.ts, plus(wm, auditMs)));
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
        armAudit(s, ctx, time, auditMs);
    }

    /**
     * As {@link #armAudit(GuardState, Context, long)}, at most {@code maxAhead} past the watermark.
     * An audit already armed at or before that boundary serves; one armed later (a re-check backing
     * off) is brought forward: a device that sends again, or waits for a repair, is audited on its
     * usual schedule.
     */
    private void armAudit(GuardState s, Context ctx, long time, long maxAhead) {
        long wm = ctx.timerService().currentWatermark();
        long t = wm == Long.MIN_VALUE ? time : Math.max(wm, Math.min(time, plus(wm, maxAhead)));
        // The end of event time (a drained stop, the end of a bounded input): no later audit.
        if (t > Long.MAX_VALUE - 2 * auditMs) return;
        long offset = Math.floorMod(ctx.getCurrentKey().hashCode(), auditMs);
        long at = (Math.floorDiv(t - offset, auditMs) + 1) * auditMs + offset;
        if (s.auditTimer != 0) {
            if (s.auditTimer <= at) return;
            if (s.auditTimer != s.graceTimer) ctx.timerService().deleteEventTimeTimer(s.auditTimer);
        }
        s.auditTimer = at;
        s.auditMoved = false;
        ctx.timerService().registerEventTimeTimer(at);
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
        long start = wm == Long.MIN_VALUE ? ts : Math.max(wm, Math.min(ts, plus(wm, graceMs)));
        s.graceTimer = plus(start, graceMs); // at the end of event time, at its very end
        ctx.timerService().registerEventTimeTimer(s.graceTimer);
    }

    /** {@code a + b} for b >= 0, saturating at the end of event time instead of wrapping around. */
    static long plus(long a, long b) {
        return a > Long.MAX_VALUE - b ? Long.MAX_VALUE : a + b;
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
        if (LookupRequest.Kind.GAP.equals(r.kind) && s.requestedEpoch >= 0
                && Versions.compare(r.epoch, r.toSeq, s.requestedEpoch, s.requestedSeq) <= 0) {
            return;
        }
        s.requestedEpoch = r.epoch;
        s.requestedSeq = r.toSeq;
        lookups.inc();
        ctx.output(Tags.LOOKUPS, r);
    }
}
