package io.devicesync.operators.sync;

import io.devicesync.model.AuditRecord;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.Version;
import io.devicesync.model.Versions;
import io.devicesync.operators.GuardState;
import io.devicesync.operators.sync.GuardDecision.Event;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.OptionalLong;
import java.util.function.LongSupplier;

/**
 * What the SequenceGuard decides, without Flink: given a device's state, its early messages and
 * one input (an increment, an audit record read back, a timer), what to forward, alert and look
 * up, which timers to set and delete, and how the state changes, returned as a {@link
 * GuardDecision}. Event time comes in as the watermark; the wall clock (only for the requests'
 * {@code issuedAt}) is passed in. Unit-tested with plain JUnit ({@code GuardRulesTest}).
 *
 * <ul>
 *   <li>at or below the last forwarded version: dropped ({@code DUPLICATE});
 *   <li>the next version: forwarded at once, then any held successors;
 *   <li>further ahead in the same epoch: held until the missing ones arrive or the reorder grace
 *       (event time) expires; then the missing range is a gap: one {@code SEQUENCE_GAP} alert, one
 *       lookup request, and the held messages are forwarded in order (the reconciler holds them
 *       until the repair arrives). Each hole has its own grace, from the message after it;
 *   <li>a device never seen: (0, 1) is forwarded; a later version of epoch 0 is held for the grace
 *       like any early message, then forwarded with a {@code FIRST_SEEN} request; a first version
 *       of a higher epoch is forwarded with a {@code FIRST_SEEN} request at once;
 *   <li>a higher epoch: a {@code DEVICE_RESET} alert and a {@code RESET} request; held messages of
 *       the old epoch go first.
 * </ul>
 *
 * <p>Audits: a device that accepted an increment is audited at its next boundary of the audit
 * interval (offset per device), then every interval while active, once more when quiet. Records
 * read back from device-audit schedule repairs and re-checks (backing off 1, 2, 4, 8 intervals); a
 * {@code TAIL_LOSS} record moves the guard to the repaired version. An audit passed by an
 * event-time jump longer than the routine one is moved, once, to the device's slot in the interval
 * after the jump. A device silent for the idle TTL is forgotten at its next audit.
 */
public final class GuardRules implements Serializable {
    private static final long serialVersionUID = 1L;

    /** A device's early messages by seq (current epoch only): a MapState in the job, a map in tests. */
    public interface Held {
        Increment get(long seq) throws Exception;

        boolean contains(long seq) throws Exception;

        void put(Increment i) throws Exception;

        void remove(long seq) throws Exception;

        Iterable<Increment> all() throws Exception;

        void clear() throws Exception;
    }

    /** The longest wait between two re-checks of an inconclusive audit, in audit intervals. */
    static final long MAX_BACKOFF_INTERVALS = 8;

    private final long graceMs;
    private final long maxLogFetch;
    private final long auditMs;
    private final long idleTtlMs;
    private final long routineJumpMs;
    /**
     * The job bootstraps from the database ({@code --bootstrap.from-database}): while event time
     * has not started (the bootstrap source holds it until it has read every row), a device first
     * seen in an epoch above 0 waits for the grace like one in epoch 0, so that its seed can arrive.
     */
    private final boolean bootstrap;

    private final LongSupplier wallClock;
    private final GuardDecision d = new GuardDecision();

    /**
     * @param routineJumpMs the longest event-time jump whose audits run as due (idle timeout +
     *     out-of-orderness + one periodic watermark); audits passed by more are spread
     * @param wallClock the wall clock, for the requests' {@code issuedAt} only
     */
    public GuardRules(
            long graceMs, long maxLogFetch, long auditMs, long idleTtlMs, long routineJumpMs, LongSupplier wallClock) {
        this(graceMs, maxLogFetch, auditMs, idleTtlMs, routineJumpMs, false, wallClock);
    }

    /**
     * @param bootstrap whether the job seeds devices from the database at its start: then, until
     *     event time starts, a device first seen in any epoch waits for the grace (its seed may come)
     */
    public GuardRules(
            long graceMs,
            long maxLogFetch,
            long auditMs,
            long idleTtlMs,
            long routineJumpMs,
            boolean bootstrap,
            LongSupplier wallClock) {
        if (auditMs < 1) throw new IllegalArgumentException("the audit interval must be at least 1 ms");
        this.graceMs = graceMs;
        this.maxLogFetch = maxLogFetch;
        this.auditMs = auditMs;
        this.idleTtlMs = idleTtlMs;
        this.routineJumpMs = routineJumpMs;
        this.bootstrap = bootstrap;
        this.wallClock = wallClock;
    }

    // ---- increments -------------------------------------------------------------------------

    /**
     * One increment of device {@code key} ({@code s} null: never seen, or forgotten), at watermark
     * {@code wm}. The returned decision is reused by the next call: apply it first.
     */
    public GuardDecision onIncrement(GuardState s, Held held, Increment i, long wm) throws Exception {
        if (s == null) {
            s = new GuardState();
            d.reset(s);
            if (i.epoch > 0 && bootstrap && wm == Long.MIN_VALUE) {
                // The bootstrap is still reading the database (event time has not started): the
                // device waits for the grace, which ends once the bootstrap has read every row, for
                // its seed; then, unseeded, it is looked up as below. Nothing forwarded yet: seq 0.
                s.epoch = i.epoch;
            } else if (i.epoch > 0) {
                // State carries across epochs: only the database knows what came before.
                request(
                        s,
                        new LookupRequest(
                                i.deviceId,
                                LookupRequest.Kind.FIRST_SEEN,
                                i.epoch,
                                1,
                                i.seq - 1,
                                i.ts,
                                wallClock.getAsLong()));
                forward(s, i);
                accepted(s, i, i.deviceId, wm);
                return d;
            }
            // Epoch 0: nothing forwarded yet (seq 0); (0, 1) is next, later ones wait for the grace.
        } else {
            d.reset(s);
            gracePassed(s, held, i.deviceId, wm);
        }
        if (Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) {
            d.count(Event.DUPLICATE);
            return d;
        }
        if (i.epoch == s.epoch) {
            // (A device first seen in an epoch above 0 while a bootstrap runs: even seq 1 needs the
            // base of what came before, the seed or a lookup.)
            if (i.seq == s.seq + 1 && (s.seq > 0 || s.epoch == 0)) {
                forward(s, i);
                if (s.heldCount > 0) drainHeld(s, held, wm);
            } else if (s.heldCount > 0 && held.contains(i.seq)) {
                d.count(Event.DUPLICATE);
                return d;
            } else {
                held.put(i);
                s.heldCount++;
                d.count(Event.HELD);
                if (s.graceTimer == 0) armGrace(s, i.ts, wm);
            }
            accepted(s, i, i.deviceId, wm);
            return d;
        }
        if (s.seq == 0) {
            // Never forwarded anything (its first messages wait for the grace) and now in a higher
            // epoch: still a device first seen, not a reset. What waits goes downstream, and the
            // database gives the base of the new epoch.
            for (Increment h : inOrder(held)) forward(s, h);
            clearHeld(s, held);
            request(
                    s,
                    new LookupRequest(
                            i.deviceId,
                            LookupRequest.Kind.FIRST_SEEN,
                            i.epoch,
                            1,
                            i.seq - 1,
                            i.ts,
                            wallClock.getAsLong()));
            forward(s, i);
            accepted(s, i, i.deviceId, wm);
            return d;
        }
        // A higher epoch: the device restarted its numbering.
        d.count(Event.RESET);
        long oldEpoch = s.epoch;
        long oldSeq = s.seq;
        if (s.heldCount > 0) {
            // Early messages of the old epoch still go downstream, in order: the reset lookup
            // confirms the whole state, so no separate gap request.
            for (Increment h : inOrder(held)) forward(s, h);
            clearHeld(s, held);
        }
        d.alerts.add(SyncAlerts.deviceReset(i.deviceId, oldEpoch, oldSeq, i.epoch, i.seq, i.ts));
        request(
                s,
                new LookupRequest(
                        i.deviceId, LookupRequest.Kind.RESET, i.epoch, 1, i.seq - 1, i.ts, wallClock.getAsLong()));
        forward(s, i);
        accepted(s, i, i.deviceId, wm);
        return d;
    }

    // ---- a seed from the bootstrap ------------------------------------------------------------

    /**
     * A device's row of {@code device_snapshot} read by the bootstrap ({@code seed}: its version and
     * whole document). A device that has forwarded nothing yet (never seen, or its first messages
     * waiting for the grace) takes it as its base: the seed goes downstream (the reconciler
     * publishes it as a snapshot), the held messages it covers are dropped and those that follow it
     * go after it; a hole between the seed and them is a gap when the grace ends. A device that
     * already forwarded something (it spoke first: (0, 1), or a lookup is on its way), or whose
     * messages are of a newer epoch than the seed, keeps what it has: a seed never overwrites the
     * stream. No lookup, no timer, no audit: the device is not active until it sends.
     */
    public GuardDecision onSeed(GuardState s, Held held, Increment seed, long wm) throws Exception {
        if (s == null) {
            s = new GuardState();
            d.reset(s);
        } else {
            d.reset(s);
            if (s.seq > 0 || seed.epoch < s.epoch) {
                d.count(Event.SEED_SKIPPED);
                return d;
            }
        }
        if (s.heldCount > 0) {
            if (seed.epoch > s.epoch) {
                clearHeld(s, held); // all of an older epoch than the seed: stale
            } else {
                boolean dropped = false;
                for (Increment h : inOrder(held)) {
                    if (h.seq > seed.seq) break;
                    held.remove(h.seq);
                    s.heldCount--;
                    dropped = true;
                }
                if (s.heldCount == 0) {
                    clearHeld(s, held);
                } else if (dropped && s.graceTimer != 0) {
                    deleteGraceTimer(s);
                    armGrace(s, inOrder(held).get(0).ts, wm);
                }
            }
        }
        s.epoch = seed.epoch;
        s.seq = seed.seq;
        d.forward.add(seed);
        d.count(Event.SEEDED);
        if (s.heldCount > 0) drainHeld(s, held, wm);
        d.save = true;
        return d;
    }

    // ---- audit records read back from device-audit ------------------------------------------

    /** An audit record of device {@code key} read back (all outcomes but VERIFIED). */
    public GuardDecision onAuditRecord(GuardState s, Held held, AuditRecord a, String key, long wm) throws Exception {
        d.reset(s);
        // Forgotten (idle TTL): nothing to audit; if it comes back, it is first-seen and repaired so.
        if (s == null || a.outcome == null) return d;
        gracePassed(s, held, key, wm);
        switch (a.outcome) {
            case REPAIR_PENDING:
                if (a.published == null || Versions.compare(a.published.epoch, a.published.seq, s.epoch, s.seq) < 0) {
                    // Published below what was forwarded: the device waits for a repair.
                    s.repairPending = true;
                    armAudit(s, key, a.ts, wm, auditMs);
                } else {
                    // The database could not be read (down, or its breaker open): look again.
                    recheck(s, key, a, wm);
                }
                break;
            case IN_FLIGHT: // increments were on their way
            case DB_BEHIND: // the database lags
            case DB_MISSING: // the database has no row (yet)
                // Look again, backing off, until an audit is VERIFIED or repairs the device;
                // only a device that sends again stops it (its own audits take over).
                recheck(s, key, a, wm);
                break;
            case TAIL_LOSS:
                repairedTail(s, held, a, key, wm);
                break;
            default:
                return d;
        }
        d.save = true;
        return d;
    }

    /**
     * A quiet audit found the database ahead and the reconciler repaired the device up to the
     * database's version: that is where the stream continues. Without this, the device's next
     * message would wait for the grace and be declared a gap that was already repaired.
     */
    private void repairedTail(GuardState s, Held held, AuditRecord a, String key, long wm) throws Exception {
        Version db = a.db;
        if (db == null || Versions.compare(db.epoch, db.seq, s.epoch, s.seq) <= 0) return;
        // Only where the audit found the stream: a record of another run (replayed after a restore
        // from an older savepoint) must not move the guard past what this run published.
        if (a.published == null || a.published.epoch != s.epoch || a.published.seq != s.seq) return;
        if (db.epoch > s.epoch) {
            // Every message of the new epoch was lost: the epoch change is still one DEVICE_RESET
            // (the same id as if the stream had shown it).
            d.count(Event.RESET);
            d.alerts.add(SyncAlerts.deviceResetFoundByAudit(key, s.epoch, s.seq, db, a.ts));
        }
        if (s.heldCount > 0) {
            // Held messages the repair covered are stale now; those that follow it go downstream.
            for (Increment h : inOrder(held)) {
                if (Versions.compare(h.epoch, h.seq, db.epoch, db.seq) > 0) break;
                held.remove(h.seq);
                s.heldCount--;
            }
        }
        if (db.epoch != s.epoch && s.heldCount > 0) clearHeld(s, held); // another epoch: all stale
        s.epoch = db.epoch;
        s.seq = db.seq;
        s.requestedEpoch = db.epoch;
        s.requestedSeq = db.seq;
        if (s.heldCount > 0) drainHeld(s, held, wm);
        else clearHeld(s, held);
    }

    /**
     * Schedules a plain re-check audit at the device's boundary 1, 2, 4 … intervals later (at most
     * {@value #MAX_BACKOFF_INTERVALS}) as the re-checks in a row go on: bounded cost for a database
     * that lags for long, and no device left unchecked. Any increment the device sends ends the
     * series (its own audits take over).
     */
    private void recheck(GuardState s, String key, AuditRecord a, long wm) {
        if (s.auditTimer != 0 && !isEnd(s)) {
            // The device is active: its next audit is armed already. After IN_FLIGHT (increments
            // seemed on their way), that audit, if quiet, may conclude. Any other outcome of an
            // active audit says nothing about tail loss: the quiet audit looks afresh.
            if (a.outcome == AuditRecord.Outcome.IN_FLIGHT) s.recheck = true;
            return;
        }
        s.recheck = true;
        long intervals = Math.min(MAX_BACKOFF_INTERVALS, 1L << Math.min(s.rechecks, 20));
        s.rechecks++;
        armAudit(s, key, plus(a.ts, (intervals - 1) * auditMs), wm, intervals * auditMs);
    }

    // ---- timers -----------------------------------------------------------------------------

    /**
     * An audit timer of device {@code key} at {@code timestamp} passed by a long jump of event time
     * (a stop, the end of a catch-up, an outage: more than the routine jump behind the watermark
     * {@code wm}) is moved to the device's slot in the interval after the jump, without the device's
     * state: at a jump every device's timer fires in one watermark step, on the task thread, ahead
     * of the checkpoint barrier, so each costs a timer taken and one registered, nothing more (a
     * state read and write each was 10-25 µs a device at 1,000,000 devices). The moved timer is 1 ms
     * before that slot, off the device's grid of slots: when it fires the device's state says what
     * is due (see {@link #onTimer}), and it is never moved again, however coarse the watermark's
     * steps after the jump. A timer off the grid (a grace, a moved audit) is not moved here.
     *
     * @return the time of the moved timer, or empty when the timer is to be handled with the state
     */
    public OptionalLong moveWithoutState(String key, long timestamp, long wm) {
        if (wm == Long.MAX_VALUE || wm - timestamp <= routineJumpMs || slotAfter(key, timestamp - 1) != timestamp) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(movedSlotAfter(key, wm));
    }

    /**
     * An event-time timer of device {@code key} at {@code timestamp} fired (watermark {@code wm}):
     * what its state has due at that time runs (the grace, the audit), whichever timer it was:
     * an audit moved by {@link #moveWithoutState} left the state's audit time behind it.
     */
    public GuardDecision onTimer(GuardState s, Held held, String key, long timestamp, long wm) throws Exception {
        d.reset(s);
        if (s == null) return d;
        d.save = true;
        if (s.graceTimer != 0 && s.graceTimer <= timestamp) graceExpired(s, held, key, timestamp, wm);
        if (s.auditTimer != 0 && s.auditTimer <= timestamp) {
            if (wm == Long.MAX_VALUE && isEnd(s)) {
                // The end of event time (a drained stop, the end of a bounded input) passes every
                // quiet device's end: that is not a month of silence. Nothing is forgotten and
                // nothing audited; the timer is spent (a job restored from here arms the end again
                // at the device's next quiet audit, or the state TTL drops it).
                s.auditTimer = 0;
                return d;
            }
            s.auditTimer = 0;
            if (!s.active && timestamp - s.lastSeen >= idleTtlMs) {
                // Silent for the idle TTL: forget the device; if it comes back, it is first-seen.
                // The reconciler forgets it too (it may hold increments that wait for a repair).
                clearHeld(s, held);
                d.count(Event.FORGOTTEN);
                d.forward.add(Increment.forget(key, timestamp));
                d.save = false;
                d.forget = true;
                return d;
            }
            d.count(Event.AUDIT);
            boolean wasActive = s.active;
            // Quiet: nothing accepted for a whole interval and nothing waiting for its grace.
            boolean quiet = !wasActive && s.heldCount == 0;
            LookupRequest audit =
                    LookupRequest.audit(key, s.epoch, s.seq, s.repairPending, quiet, timestamp, wallClock.getAsLong());
            audit.recheck = s.recheck && quiet;
            d.lookups.add(audit);
            s.recheck = false;
            s.active = false;
            s.repairPending = false;
            // Timer: the next boundary, for one more audit after the device fell quiet. A quiet
            // audit arms the device's end instead: one idle TTL on, that timer forgets it (above),
            // unless an increment, a re-check or a REPAIR_PENDING record brings an audit forward
            // first. Without it a device that stops sending would be left to the state TTL, which
            // on the heap backend never drops it while the job runs.
            // From 1 ms on: a moved audit ran 1 ms before its slot, and the slot itself is not the next.
            if (wasActive) armAudit(s, key, timestamp + 1, wm, auditMs);
            else armAudit(s, key, plus(timestamp, idleTtlMs), wm, idleTtlMs);
        }
        return d;
    }

    /**
     * A grace the watermark has passed whose timer has not fired yet: Flink fires the timers a
     * watermark passes in a loop that may be interrupted (SequenceGuardOperator), and the device's
     * next record or audit record can come in between. What the timer would have done runs first,
     * as it would without the interruption: the holes whose grace ended are declared and what
     * follows them goes on, and a later hole's grace runs from the time of its own successor (held
     * now, it would get one that ended already, or none); a later hole whose grace ended too is
     * declared as well. The passed timer is left: due, it fires in the same loop and finds its grace
     * done. (Deleting it could delete an audit moved to the same time, see {@link
     * #moveWithoutState}, which the device's state does not know of.)
     */
    private void gracePassed(GuardState s, Held held, String key, long wm) throws Exception {
        if (wm == Long.MIN_VALUE) return;
        while (s.graceTimer != 0 && s.graceTimer <= wm) {
            graceExpired(s, held, key, s.graceTimer, wm);
            d.save = true;
        }
    }

    /**
     * The grace of the earliest held message ended: the hole before it is a gap (one
     * {@code SEQUENCE_GAP} with its true range and one request), and that message and the ones
     * that follow it without a hole go downstream. Each later hole keeps its own grace, which ran
     * from the time of the message after it: ended already, it is declared now as well; else a
     * timer waits for it, and a late message that closes it is forwarded like any in-order one.
     */
    private void graceExpired(GuardState s, Held held, String key, long timestamp, long wm) throws Exception {
        s.graceTimer = 0;
        if (s.heldCount == 0) return;
        List<Increment> early = inOrder(held);
        int k = 0;
        while (k < early.size()) {
            Increment first = early.get(k);
            if (k > 0) {
                // A later hole: its grace ran from its successor's time (bounded like armGrace's).
                long end = plus(Math.min(Math.max(first.ts, timestamp - graceMs), timestamp), graceMs);
                if (end > timestamp) {
                    s.graceTimer = end;
                    d.register(end);
                    break;
                }
            }
            declareHole(s, first, timestamp);
            // The held message after the hole, and its in-order successors.
            do {
                Increment h = early.get(k++);
                held.remove(h.seq);
                s.heldCount--;
                forward(s, h);
            } while (k < early.size() && early.get(k).seq == s.seq + 1);
        }
        if (s.heldCount <= 0) {
            s.heldCount = 0;
            held.clear();
        }
    }

    /** The hole before the held message {@code next}: a gap, or for a device first seen, its base. */
    private void declareHole(GuardState s, Increment next, long timestamp) {
        long fromSeq = s.seq + 1;
        long toSeq = next.seq - 1;
        if (s.seq == 0) {
            // A device first seen past (0, 1), and (0, 1) did not come within the grace: the job
            // cannot know its state. Not an alert: a job started after the fleet sees every device so.
            request(
                    s,
                    new LookupRequest(
                            next.deviceId,
                            LookupRequest.Kind.FIRST_SEEN,
                            s.epoch,
                            1,
                            toSeq,
                            timestamp,
                            wallClock.getAsLong()));
            return;
        }
        d.count(Event.GAP);
        long missing = toSeq - fromSeq + 1;
        d.alerts.add(SyncAlerts.sequenceGap(
                next.deviceId, s.epoch, s.seq, next.seq, fromSeq, toSeq, missing <= maxLogFetch, timestamp));
        request(
                s,
                new LookupRequest(
                        next.deviceId,
                        LookupRequest.Kind.GAP,
                        s.epoch,
                        fromSeq,
                        toSeq,
                        timestamp,
                        wallClock.getAsLong()));
    }

    // ---- helpers ----------------------------------------------------------------------------

    /** Records activity (for the audit); the device is saved. */
    private void accepted(GuardState s, Increment i, String key, long wm) {
        s.active = true;
        s.rechecks = 0;
        // Event time of the last increment, no further ahead than the watermark allows: a device
        // clock far ahead must not keep the device from ever being forgotten.
        s.lastSeen = Math.max(s.lastSeen, wm == Long.MIN_VALUE ? i.ts : Math.min(i.ts, plus(wm, auditMs)));
        armAudit(s, key, i.ts, wm, auditMs);
        d.save = true;
    }

    /**
     * Arms the audit timer at the device's next interval boundary after {@code time}, no earlier
     * than the watermark and at most {@code maxAhead} past it (a clock far ahead cannot push the
     * audit away). Each device's boundaries are offset by a hash of its id, so that the audits of
     * all devices spread over the interval instead of hitting the database at one instant. An
     * audit already armed at or before that boundary serves; one armed later (a re-check backing
     * off) is brought forward: a device that sends again, or waits for a repair, is audited on its
     * usual schedule.
     */
    private void armAudit(GuardState s, String key, long time, long wm, long maxAhead) {
        long t = wm == Long.MIN_VALUE ? time : Math.max(wm, Math.min(time, plus(wm, maxAhead)));
        // The end of event time (a drained stop, the end of a bounded input): no later audit.
        if (t > Long.MAX_VALUE - 2 * auditMs) return;
        long at = slotAfter(key, t);
        if (s.auditTimer != 0) {
            // An audit a long jump passed was moved without the state (moveWithoutState), or waits
            // in the interrupted loop to be: its timer is not where the state says. Armed anew, the
            // device's audit is one the state knows of, which no deleted grace can take with it (a
            // grace at the moved audit's millisecond would). A moved timer finds nothing due.
            boolean moved = wm != Long.MIN_VALUE && wm - s.auditTimer > routineJumpMs;
            if (s.auditTimer <= at && !moved) return;
            if (s.auditTimer != s.graceTimer) d.delete(s.auditTimer);
        }
        s.auditTimer = at;
        d.register(at);
    }

    /** Where {@link #moveWithoutState} moves an audit passed at {@code wm}: 1 ms before its slot after it. */
    long movedSlotAfter(String key, long wm) {
        return slotAfter(key, wm + 1) - 1;
    }

    /** The device's first audit boundary after {@code t}. */
    long slotAfter(String key, long t) {
        long offset = Math.floorMod(key.hashCode(), auditMs);
        return (Math.floorDiv(t - offset, auditMs) + 1) * auditMs + offset;
    }

    /**
     * Whether the device's audit timer is its end (armed by its last quiet audit, one idle TTL on):
     * a timer that, when it fires, forgets the device, not an audit to wait for.
     */
    private boolean isEnd(GuardState s) {
        return s.auditTimer - s.lastSeen >= idleTtlMs;
    }

    /** Deletes the grace timer, unless the audit shares its timestamp (one timer serves both). */
    private void deleteGraceTimer(GuardState s) {
        if (s.graceTimer != s.auditTimer) d.delete(s.graceTimer);
        s.graceTimer = 0;
    }

    private void forward(GuardState s, Increment i) {
        d.forward.add(i);
        d.count(Event.FORWARDED);
        s.epoch = i.epoch;
        s.seq = i.seq;
    }

    /** Forwards held messages that are now next; stops the grace timer once none is left. */
    private void drainHeld(GuardState s, Held held, long wm) throws Exception {
        Increment next;
        boolean drained = false;
        while (s.heldCount > 0 && (next = held.get(s.seq + 1)) != null) {
            held.remove(next.seq);
            s.heldCount--;
            forward(s, next);
            drained = true;
        }
        if (s.heldCount == 0) {
            clearHeld(s, held);
        } else if (drained && s.graceTimer != 0) {
            // The earliest held went out: the ones left get their own full grace.
            deleteGraceTimer(s);
            armGrace(s, inOrder(held).get(0).ts, wm);
        }
    }

    /**
     * Timer: the end of the grace for the earliest held message; firing declares the gap. The grace
     * runs from the message's time, but from no earlier than the watermark (a late record still
     * gets it) and no later than one grace past the watermark (a clock far ahead holds nothing for
     * long).
     */
    private void armGrace(GuardState s, long ts, long wm) {
        long start = wm == Long.MIN_VALUE ? ts : Math.max(wm, Math.min(ts, plus(wm, graceMs)));
        s.graceTimer = plus(start, graceMs); // at the end of event time, at its very end
        d.register(s.graceTimer);
    }

    /** {@code a + b} for b >= 0, saturating at the end of event time instead of wrapping around. */
    static long plus(long a, long b) {
        return a > Long.MAX_VALUE - b ? Long.MAX_VALUE : a + b;
    }

    private void clearHeld(GuardState s, Held held) throws Exception {
        if (s.graceTimer != 0) deleteGraceTimer(s);
        if (s.heldCount > 0) held.clear();
        s.heldCount = 0;
    }

    private static List<Increment> inOrder(Held held) throws Exception {
        List<Increment> list = new ArrayList<>();
        for (Increment i : held.all()) list.add(i);
        list.sort(Comparator.comparingLong(i -> i.seq));
        return list;
    }

    /** Sends a lookup request; a gap already covered by an earlier request is not sent again. */
    private void request(GuardState s, LookupRequest r) {
        if (LookupRequest.Kind.GAP.equals(r.kind)
                && s.requestedEpoch >= 0
                && Versions.compare(r.epoch, r.toSeq, s.requestedEpoch, s.requestedSeq) <= 0) {
            return;
        }
        s.requestedEpoch = r.epoch;
        s.requestedSeq = r.toSeq;
        d.count(Event.LOOKUP);
        d.lookups.add(r);
    }
}
