package io.devicesync.operators.sync;

import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.devicesync.model.JsonMergePatch;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.model.RecordSource;
import io.devicesync.model.Version;
import io.devicesync.model.Versions;
import io.devicesync.operators.HeldIncrement;
import io.devicesync.operators.ReconcilerState;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * What the StateReconciler decides, without Flink: given a device's state, its held increments
 * and one input (an increment from the guard, or a lookup result), what to publish, alert and
 * audit, and how the state changes. The Flink function around it only loads the state, calls this
 * and saves it; this class is unit-tested with plain JUnit ({@code ReconciliationTest}).
 *
 * <ul>
 *   <li>an increment that follows the published version is applied (JSON merge patch) and
 *       published at once; any other (after a gap, for a first-seen device, in a new epoch) is held
 *       until a lookup result repairs the device;
 *   <li>log increments are applied in order, a snapshot only when it is newer than what was
 *       published; then held increments that follow are replayed on top. A new epoch is published
 *       only on top of a snapshot that reached it: a snapshot still in the old epoch may lack the
 *       old epoch's lost tail;
 *   <li>a result that leaves the device waiting raises {@code RESYNC_FAILED} and a
 *       {@code REPAIR_PENDING} audit record (the guard reads it back and retries at its next audit);
 *   <li>the held buffer is bounded: past {@code maxHeld} the oldest held are dropped, the device
 *       needs a snapshot newer than them, and a {@code BUFFER_OVERFLOW} alert says so;
 *   <li>a document over {@code maxDocumentBytes} is kept but not published ({@code STATE_TOO_LARGE}),
 *       up to {@link #KEPT_FACTOR} times that: a version that would grow it further is not applied,
 *       and the device applies nothing more until a snapshot that fits ({@code STATE_TOO_LARGE},
 *       strategy {@code FETCH_SNAPSHOT}).
 * </ul>
 */
public final class Reconciliation {

    /**
     * A device's held increments (a MapState in the job, maps in tests), by version, and their
     * version order as links from each to the next one held: the oldest and the newest are in the
     * device's {@link ReconcilerState}, so the hot operations (hold the newest, drop the oldest at
     * the cap, replay from the oldest) touch a few entries, never the whole buffer.
     */
    public interface Held {
        boolean contains(long epoch, long seq) throws Exception;

        /** The increment held at (epoch, seq); null if none (its entry may have expired: TTL). */
        HeldIncrement get(long epoch, long seq) throws Exception;

        void put(HeldIncrement h) throws Exception;

        void remove(long epoch, long seq) throws Exception;

        /** The version held after (epoch, seq): {epoch, seq}; null if none is recorded. */
        long[] next(long epoch, long seq) throws Exception;

        void setNext(long epoch, long seq, long nextEpoch, long nextSeq) throws Exception;

        void removeNext(long epoch, long seq) throws Exception;

        /**
         * Every held increment, in no particular order: a scan of the whole buffer, used only to
         * rebuild the order (state of a build that did not keep it, or entries expired one by one).
         */
        Iterable<HeldIncrement> all() throws Exception;

        /** Forgets every link (before the order is rebuilt from {@link #all()}). */
        void clearOrder() throws Exception;
    }

    /** What a decision does outside the state: records to emit and events to count. */
    public interface Effects {
        /** Counted events (each a metric of the job). */
        enum Event {
            PUBLISHED,
            STALE_DROPPED,
            REPAIR_FAILED,
            HELD_OVERFLOW,
            TAIL_LOSS_REPAIRED,
            TOO_LARGE,
            TOO_LARGE_TO_KEEP
        }

        void publish(DeviceState state);

        void alert(Alert alert);

        void audit(AuditRecord audit);

        void count(Event event);

        /** A device's repair closed its gap ({@code request} made it; for the repair latency). */
        void repaired(LookupRequest request);

        /** A device started (+1) or stopped (-1) waiting for a repair. */
        void waiting(int delta);
    }

    /** How many times {@code --state.max-document-bytes} a document kept in state may be. */
    public static final int KEPT_FACTOR = 4;

    private final int maxHeld;
    private final int maxDocumentBytes;
    private final int maxKeptBytes;
    private final LongSupplier clock;
    private final long notSentGraceMs;
    /** A version was refused in the current call (too large to keep): the guard is asked for a repair. */
    private boolean refusedNow;

    /** {@code clock}: wall-clock ms, for when a device started waiting. */
    public Reconciliation(int maxHeld, int maxDocumentBytes, LongSupplier clock) {
        this(maxHeld, maxDocumentBytes, 0, clock);
    }

    /**
     * @param notSentGraceMs how long (wall clock, from when the device began to wait) a lookup that
     *     was never sent (shed, or the breaker open) is not yet a failed repair: long enough for a
     *     frozen database's breaker to open (two lookup attempt deadlines), after which the policy
     *     holds the device's RESYNC_FAILED back as caused by the database
     */
    public Reconciliation(int maxHeld, int maxDocumentBytes, long notSentGraceMs, LongSupplier clock) {
        this.notSentGraceMs = notSentGraceMs;
        this.maxHeld = maxHeld;
        this.maxDocumentBytes = maxDocumentBytes;
        this.maxKeptBytes = (int) Math.min(Integer.MAX_VALUE, (long) KEPT_FACTOR * maxDocumentBytes);
        this.clock = clock;
    }

    // ---- an in-order increment from the SequenceGuard ----------------------------------------

    /**
     * An increment the guard forwarded: applied and published when it follows the published
     * version (then any held ones that follow it), else held until a repair. Returns whether the
     * state changed (and must be saved).
     */
    public boolean onIncrement(ReconcilerState s, Held held, Increment i, Effects fx) throws Exception {
        if (s.published && Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) {
            fx.count(Effects.Event.STALE_DROPPED); // already covered by a repair
            return false;
        }
        refusedNow = false;
        if (follows(s, i) && apply(s, i, RecordSource.INCREMENT, fx)) {
            drain(s, held, fx);
        } else {
            // Nothing held can follow now either: the published version did not move.
            hold(s, held, i, RecordSource.INCREMENT, fx);
        }
        updateWaiting(s, fx);
        if (refusedNow) askForRepair(s, i.deviceId, null, i.ts, fx);
        return true;
    }

    // ---- a seed from the bootstrap --------------------------------------------------------------

    /**
     * A bootstrap seed the guard forwarded (a device's snapshot row; the guard forwards one only for
     * a device that has forwarded nothing else): the device's first version, published as a
     * snapshot. A device that already has a version or holds increments keeps them (counted as
     * stale). A document too large to keep is refused as a snapshot would be: the device waits for
     * a snapshot that fits. Returns whether the state changed.
     */
    public boolean onSeed(ReconcilerState s, Held held, Increment seed, Effects fx) throws Exception {
        if (s.published || s.heldCount > 0) {
            fx.count(Effects.Event.STALE_DROPPED);
            return false;
        }
        refusedNow = false;
        if (seed.data.length > maxKeptBytes) {
            refuse(s, seed.deviceId, seed.epoch, seed.seq, seed.ts, seed.data.length, fx);
            askForRepair(s, seed.deviceId, new Version(seed.epoch, seed.seq), seed.ts, fx);
            return true;
        }
        s.tooLargeToKeep = false;
        s.published = true;
        s.epoch = seed.epoch;
        s.seq = seed.seq;
        s.ts = seed.ts;
        s.state = seed.data;
        emit(s, seed.deviceId, RecordSource.SNAPSHOT, fx);
        return true;
    }

    // ---- a lookup result -----------------------------------------------------------------------

    /**
     * A lookup's answer: the repair data applied, held increments replayed on top; a repair that
     * left the device waiting raises {@code RESYNC_FAILED} and asks the guard for another try
     * ({@code REPAIR_PENDING}); an audit's outcome goes to device-audit. Returns whether the state
     * is worth saving (a device that never published nor holds anything is not).
     */
    public boolean onResult(ReconcilerState s, Held held, LookupResult r, Effects fx) throws Exception {
        LookupRequest q = r.request;
        refusedNow = false;
        boolean wasWaiting = s.heldCount > 0;
        boolean wasPublished = s.published;
        long pubEpoch = s.epoch;
        long pubSeq = s.seq;
        String cause = null;
        boolean repaired = false;
        boolean audit = q.kind == LookupRequest.Kind.AUDIT;
        // An audit brings repair data for a waiting device (repair audit) or for tail loss (quiet
        // audit). A repair audit that finds the device no longer waiting changes nothing.
        LookupResult.Outcome outcome =
                audit && q.repair && !wasWaiting && r.outcome.isData() ? LookupResult.Outcome.VERSION : r.outcome;
        switch (outcome) {
            case LOG:
                repaired = applyLog(s, held, r.increments, fx);
                break;
            case SNAPSHOT:
                repaired = applySnapshot(s, held, r, fx);
                break;
            case VERSION:
                break;
            default:
                cause = r.cause;
        }
        Increment firstHeld = drain(s, held, fx);
        // A repair that was attempted and left the device waiting failed; a version-only audit that
        // finds it waiting attempted nothing: it only asks for a repair (REPAIR_PENDING below).
        boolean attempted = outcome.isData();
        // A repair request failed when the device still waits inside the range it was sent for
        // (never because of the message after the range: the guard forwards that one itself, and it
        // may still be on its way), or when the database could not answer for a device that waits.
        boolean failed = audit
                ? firstHeld != null && (cause != null || attempted)
                : notCovered(s, q) || (cause != null && firstHeld != null);
        // A lookup that was never sent (shed, or the breaker open: UNAVAILABLE) is not a failed
        // repair yet while the device has waited less than the grace (two attempt deadlines), nor
        // while it waits for nothing held: a database that freezes fills the lookups in flight long
        // before its breaker has seen enough timeouts to open, and the devices shed meanwhile would
        // each raise a RESYNC_FAILED ahead of DATABASE_UNAVAILABLE. It is counted (repairsFailed)
        // and the device's next audit sends it; it is not one of the device's failures in a row, so
        // past the grace the first three raise as for any device, then every tenth (counted from
        // the first, a device shed for the whole grace would raise nothing until its tenth).
        boolean notYet = failed
                && r.outcome == LookupResult.Outcome.UNAVAILABLE
                && (s.waitingSince == 0 || clock.getAsLong() - s.waitingSince < notSentGraceMs);
        if (failed) fx.count(Effects.Event.REPAIR_FAILED);
        if (failed && !notYet) {
            s.failures++;
            if (cause == null && s.tooLargeToKeep) {
                cause = "the state document would grow past the " + maxKeptBytes + " bytes kept in state ("
                        + KEPT_FACTOR + " x --state.max-document-bytes) at "
                        + (firstHeld != null ? Versions.format(firstHeld.epoch, firstHeld.seq) : "the snapshot")
                        + ": it waits for a snapshot that fits";
            }
            if (cause == null) {
                cause = (r.outcome == LookupResult.Outcome.LOG
                                ? "the increment log"
                                : r.outcome == LookupResult.Outcome.SNAPSHOT
                                        ? "the snapshot at " + Versions.format(r.snapshotEpoch, r.snapshotSeq)
                                        : "the database at " + (r.db == null ? "an unknown version" : r.db))
                        + " does not reach "
                        + (firstHeld != null && audit
                                ? Versions.format(firstHeld.epoch, firstHeld.seq)
                                : Versions.format(q.epoch, Math.max(q.toSeq, 1)))
                        + " from "
                        + (s.published ? Versions.format(s.epoch, s.seq) : "nothing");
            }
            // The first three failures, then every tenth: a device that cannot be repaired for days
            // does not raise an alert every audit interval.
            if (s.failures <= 3 || s.failures % 10 == 0) {
                Alert failedAlert =
                        SyncAlerts.resyncFailed(q, cause, s.failures, r.outcome.name(), r.outcome.isUnreadable());
                // Which outage refused it, for the policy: its closing report may arrive first.
                failedAlert.breaker = r.rejectedBy;
                fx.alert(failedAlert);
            }
        } else if (!failed && wasWaiting && s.heldCount == 0) {
            fx.repaired(q);
            if (s.failures > 0) {
                fx.alert(SyncAlerts.resyncResolved(q.deviceId, s.failures, s.epoch, s.seq, q.ts));
            }
            s.failures = 0;
        }
        if (audit) audited(s, r, fx, wasWaiting, wasPublished, pubEpoch, pubSeq, repaired);
        else if (failed || refusedNow) askForRepair(s, q.deviceId, r.db, q.ts, fx);
        updateWaiting(s, fx);
        return s.published || s.heldCount > 0;
    }

    /**
     * The outcome of an audit, on device-audit: the version published when audited against the
     * database's. A database ahead with nothing held is tail loss: alerted once per episode (the
     * published version it was found at) and repaired from the data the audit brought.
     */
    private void audited(
            ReconcilerState s,
            LookupResult r,
            Effects fx,
            boolean wasWaiting,
            boolean wasPublished,
            long pubEpoch,
            long pubSeq,
            boolean repaired) {
        LookupRequest q = r.request;
        Version pub = wasPublished ? new Version(pubEpoch, pubSeq) : null;
        Version db = r.db;
        AuditRecord.Outcome outcome;
        if (s.heldCount > 0 || r.outcome.isUnreadable()) {
            // Still waiting (the guard repairs it), or the database could not be read (it looks again).
            outcome = AuditRecord.Outcome.REPAIR_PENDING;
        } else if (repaired && !wasWaiting && q.quiet && !q.repair && db != null) {
            outcome = AuditRecord.Outcome.TAIL_LOSS;
            fx.count(Effects.Event.TAIL_LOSS_REPAIRED);
            fx.alert(SyncAlerts.tailLoss(q.deviceId, pub, db, r.outcome == LookupResult.Outcome.LOG, q.ts));
        } else if (r.outcome == LookupResult.Outcome.NOT_FOUND || db == null) {
            outcome = AuditRecord.Outcome.DB_MISSING; // the database has no row for the device (yet)
        } else {
            int c = Versions.compare(s.epoch, s.seq, db.epoch, db.seq);
            // (A database ahead that brought no repair: increments on their way, see SnapshotLookup.)
            outcome = c == 0 && s.published
                    ? AuditRecord.Outcome.VERIFIED
                    : c > 0 ? AuditRecord.Outcome.DB_BEHIND : AuditRecord.Outcome.IN_FLIGHT;
        }
        if (outcome != AuditRecord.Outcome.TAIL_LOSS && s.published) {
            // What is published now that the audit's data was applied: a VERIFIED record has the
            // database's version. (TAIL_LOSS keeps where the stream stopped.)
            pub = new Version(s.epoch, s.seq);
        }
        fx.audit(new AuditRecord(q.deviceId, pub, db, outcome, q.ts));
    }

    // ---- helpers -----------------------------------------------------------------------------

    /**
     * Whether {@code i} is the very next version after what was published (never while the device
     * waits for a snapshot that fits: its next version was too large to keep).
     */
    private static boolean follows(ReconcilerState s, Increment i) {
        if (s.tooLargeToKeep) return false;
        if (!s.published) return i.epoch == 0 && i.seq == 1;
        // A new epoch never follows by itself: only a snapshot that reached it (see applySnapshot).
        return i.epoch == s.epoch && i.seq == s.seq + 1;
    }

    /**
     * Applies {@code i} and publishes the version; returns false, applying nothing, when the
     * document would grow past what is kept (see {@link #refuse}).
     */
    private boolean apply(ReconcilerState s, Increment i, RecordSource source, Effects fx) {
        byte[] merged = JsonMergePatch.apply(s.state == null ? Json.EMPTY_OBJECT : s.state, i.data);
        if (merged.length > maxKeptBytes) {
            refuse(s, i.deviceId, i.epoch, i.seq, i.ts, merged.length, fx);
            return false;
        }
        s.state = merged;
        s.published = true;
        s.epoch = i.epoch;
        s.seq = i.seq;
        s.ts = i.ts;
        emit(s, i.deviceId, source, fx);
        return true;
    }

    /**
     * A version whose document would be larger than {@code maxKeptBytes} ({@link #KEPT_FACTOR} times
     * the publication limit) is not applied: a device that keeps adding members would otherwise grow
     * one state value without bound, until RocksDB and the checkpoints break on it. The device then
     * applies nothing (its later increments are held, within {@code maxHeld}) until a snapshot that
     * fits is applied: it waits for a repair like a device after a gap, the guard is asked for the
     * snapshot, and the audit retries until the database's document fits. Each refusal is counted;
     * one {@code STATE_TOO_LARGE} alert per episode (strategy {@code FETCH_SNAPSHOT}) says so.
     */
    private void refuse(ReconcilerState s, String deviceId, long epoch, long seq, long ts, int bytes, Effects fx) {
        fx.count(Effects.Event.TOO_LARGE_TO_KEEP);
        refusedNow = true;
        if (s.tooLargeToKeep) return;
        s.tooLargeToKeep = true;
        fx.alert(SyncAlerts.tooLargeToKeep(
                deviceId, epoch, seq, bytes, maxDocumentBytes, maxKeptBytes, KEPT_FACTOR, ts));
    }

    /**
     * Publishes the device's current version, unless its document is larger than
     * {@code maxDocumentBytes}: past the topic's record limit the sink would fail the job, restore
     * it and fail again forever. Such a version is kept in state (a later increment that removes
     * members, or a smaller snapshot, brings it back under the limit, and that version is
     * published) but not published; one {@code STATE_TOO_LARGE} alert per episode says so.
     */
    private void emit(ReconcilerState s, String deviceId, RecordSource source, Effects fx) {
        if (s.state.length > maxDocumentBytes) {
            fx.count(Effects.Event.TOO_LARGE);
            if (!s.oversized) {
                s.oversized = true;
                fx.alert(
                        SyncAlerts.tooLargeToPublish(deviceId, s.epoch, s.seq, s.state.length, maxDocumentBytes, s.ts));
            }
            return;
        }
        s.oversized = false;
        fx.publish(new DeviceState(deviceId, s.epoch, s.seq, s.ts, s.state, source));
        fx.count(Effects.Event.PUBLISHED);
    }

    /** Read back by the SequenceGuard: the next audit interval retries with a repair. */
    private static void askForRepair(ReconcilerState s, String deviceId, Version db, long ts, Effects fx) {
        fx.audit(new AuditRecord(deviceId, published(s), db, AuditRecord.Outcome.REPAIR_PENDING, ts));
    }

    /** What the device published, or null for nothing yet. */
    private static Version published(ReconcilerState s) {
        return s.published ? new Version(s.epoch, s.seq) : null;
    }

    /**
     * Applies log increments that follow the published version; holds those that come later.
     * Returns whether anything was published.
     */
    private boolean applyLog(ReconcilerState s, Held held, Increment[] increments, Effects fx) throws Exception {
        boolean any = false;
        // Rows come in version order: each one held is looked for from the previous one.
        long[] hint = null;
        for (Increment i : increments) {
            if (s.published && Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) continue;
            if (follows(s, i) && apply(s, i, RecordSource.LOG, fx)) {
                dropHeldUpTo(s, held);
                any = true;
            } else if (hold(s, held, i, RecordSource.LOG, fx, hint)) {
                hint = new long[] {i.epoch, i.seq};
            }
        }
        return any;
    }

    /**
     * Applies a snapshot if it is newer than what was published, then the log rows that continue
     * it. Returns whether anything was published.
     */
    private boolean applySnapshot(ReconcilerState s, Held held, LookupResult r, Effects fx) throws Exception {
        LookupRequest q = r.request;
        boolean any = false;
        boolean newer = !s.published || Versions.compare(r.snapshotEpoch, r.snapshotSeq, s.epoch, s.seq) > 0;
        if (newer && r.snapshotState != null && r.snapshotState.length > maxKeptBytes) {
            refuse(s, q.deviceId, r.snapshotEpoch, r.snapshotSeq, q.ts, r.snapshotState.length, fx);
        } else if (newer) {
            s.tooLargeToKeep = false;
            s.published = true;
            s.epoch = r.snapshotEpoch;
            s.seq = r.snapshotSeq;
            s.ts = Math.max(s.ts, q.ts);
            s.state = r.snapshotState;
            emit(s, q.deviceId, RecordSource.SNAPSHOT, fx);
            dropHeldUpTo(s, held);
            any = true;
        }
        // A snapshot still in an older epoch than the one the device moved to does not confirm the
        // reset: the old epoch's last increments may have been lost and not be in it yet (it may
        // lag). The new epoch is published only on top of a snapshot that reached it, which holds
        // the whole old epoch; until then its increments wait and the audit retries.
        if (r.increments != null) any |= applyLog(s, held, r.increments, fx);
        return any;
    }

    /**
     * Whether a repair request left the device short of the versions it was made for. A gap request
     * covers (epoch, fromSeq..toSeq): it failed if the device still waits inside that range (a
     * device waiting at an earlier hole waits for another request). A first-seen or reset request
     * covers everything up to (epoch, toSeq): the device must have published that far, in that
     * epoch (a reset is confirmed only by a snapshot that reached the new epoch).
     */
    private static boolean notCovered(ReconcilerState s, LookupRequest q) {
        if (q.kind == LookupRequest.Kind.GAP) {
            return s.published
                    && Versions.compare(s.epoch, s.seq + 1, q.epoch, q.fromSeq) >= 0
                    && Versions.compare(s.epoch, s.seq + 1, q.epoch, q.toSeq) <= 0;
        }
        return !s.published || Versions.compare(s.epoch, s.seq, q.epoch, q.toSeq) < 0;
    }

    private void hold(ReconcilerState s, Held held, Increment i, RecordSource source, Effects fx) throws Exception {
        hold(s, held, i, source, fx, null);
    }

    /**
     * Holds {@code i} until it follows the published version; past {@code maxHeld} the oldest held
     * is dropped. A few state accesses whatever the number held: the oldest and the newest are in
     * the device's state, and an increment newer than all held (the stream's, in order) is linked
     * after the newest. Returns whether {@code i} is held now ({@code hint}: a version held before
     * it, where to start looking for its place; null: the oldest).
     */
    private boolean hold(ReconcilerState s, Held held, Increment i, RecordSource source, Effects fx, long[] hint)
            throws Exception {
        if (held.contains(i.epoch, i.seq)) return true;
        knowOrder(s, held);
        if (s.heldCount >= maxHeld && Versions.compare(i.epoch, i.seq, s.heldFirstEpoch, s.heldFirstSeq) < 0) {
            overflow(s, i, i.epoch, i.seq, fx); // older than everything held at the cap: the one dropped
            return false;
        }
        insert(s, held, new HeldIncrement(i, source.wire), hint); // the held one's source is a String in state
        if (s.heldCount > maxHeld) {
            // Drop the oldest held: the device then needs a repair that reaches past them.
            long epoch = s.heldFirstEpoch;
            long seq = s.heldFirstSeq;
            popFirst(s, held);
            overflow(s, i, epoch, seq, fx);
        }
        return true;
    }

    private void overflow(ReconcilerState s, Increment i, long droppedEpoch, long droppedSeq, Effects fx) {
        fx.count(Effects.Event.HELD_OVERFLOW);
        if (s.overflowed) return; // one alert per waiting episode
        s.overflowed = true;
        fx.alert(SyncAlerts.bufferOverflow(i.deviceId, maxHeld, droppedEpoch, droppedSeq, i.ts));
        // The audit fetches the snapshot of a device whose repair is pending.
        fx.audit(new AuditRecord(i.deviceId, published(s), null, AuditRecord.Outcome.REPAIR_PENDING, i.ts));
    }

    /**
     * Applies held increments that follow the published version, in order from the oldest.
     * Returns the first one still held (null when none is).
     */
    private Increment drain(ReconcilerState s, Held held, Effects fx) throws Exception {
        if (s.heldCount == 0) return null;
        knowOrder(s, held);
        while (s.heldCount > 0) {
            HeldIncrement h = held.get(s.heldFirstEpoch, s.heldFirstSeq);
            if (h == null) {
                relink(s, held); // the oldest expired (TTL): the order is rebuilt from what is left
                continue;
            }
            Increment i = h.increment;
            if (s.published && Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) {
                popFirst(s, held);
            } else if (follows(s, i) && apply(s, i, RecordSource.of(h.source), fx)) {
                popFirst(s, held);
            } else {
                return i;
            }
        }
        return null;
    }

    /** Drops the held increments at or below the published version (the oldest first). */
    private static void dropHeldUpTo(ReconcilerState s, Held held) throws Exception {
        if (s.heldCount == 0) return;
        knowOrder(s, held);
        while (s.heldCount > 0 && Versions.compare(s.heldFirstEpoch, s.heldFirstSeq, s.epoch, s.seq) <= 0) {
            popFirst(s, held);
        }
    }

    // ---- the held buffer's version order --------------------------------------------------

    /**
     * State written by a build that did not keep the order (no oldest recorded while increments
     * are held: a held seq is never 0) gets it from one scan of the buffer, once.
     */
    private static void knowOrder(ReconcilerState s, Held held) throws Exception {
        if (s.heldCount > 0 && s.heldFirstSeq == 0) relink(s, held);
    }

    /** Links {@code h} (not held yet) in version order: at the newest end in a step, else from {@code hint}. */
    private static void insert(ReconcilerState s, Held held, HeldIncrement h, long[] hint) throws Exception {
        long e = h.increment.epoch;
        long q = h.increment.seq;
        if (s.heldCount == 0) {
            held.put(h);
            s.heldFirstEpoch = s.heldLastEpoch = e;
            s.heldFirstSeq = s.heldLastSeq = q;
        } else if (Versions.compare(e, q, s.heldLastEpoch, s.heldLastSeq) > 0) {
            held.put(h);
            held.setNext(s.heldLastEpoch, s.heldLastSeq, e, q);
            s.heldLastEpoch = e;
            s.heldLastSeq = q;
        } else if (Versions.compare(e, q, s.heldFirstEpoch, s.heldFirstSeq) < 0) {
            held.put(h);
            held.setNext(e, q, s.heldFirstEpoch, s.heldFirstSeq);
            s.heldFirstEpoch = e;
            s.heldFirstSeq = q;
        } else {
            // Between two held ones (a log row, or an increment that overtook a repair): walk to its
            // place, from the hint when it lies before it.
            long ce = s.heldFirstEpoch;
            long cq = s.heldFirstSeq;
            if (hint != null
                    && Versions.compare(hint[0], hint[1], ce, cq) > 0
                    && Versions.compare(hint[0], hint[1], e, q) < 0) {
                ce = hint[0];
                cq = hint[1];
            }
            long[] next;
            while ((next = held.next(ce, cq)) != null && Versions.compare(next[0], next[1], e, q) < 0) {
                ce = next[0];
                cq = next[1];
            }
            held.put(h);
            if (next == null) {
                relink(s, held); // a link expired (TTL): the order is rebuilt, this one included
                return;
            }
            if (next[0] == e && next[1] == q) return; // its entry had expired (TTL), its place had not: stored again
            held.setNext(e, q, next[0], next[1]);
            held.setNext(ce, cq, e, q);
        }
        s.heldCount++;
    }

    /** Removes the oldest held increment. */
    private static void popFirst(ReconcilerState s, Held held) throws Exception {
        long e = s.heldFirstEpoch;
        long q = s.heldFirstSeq;
        if (s.heldCount <= 1) {
            held.remove(e, q);
            s.heldCount = 0;
            forgetOrder(s);
            return;
        }
        long[] next = held.next(e, q);
        held.remove(e, q);
        if (next == null) {
            relink(s, held); // a link expired (TTL): the order is rebuilt from what is left
            return;
        }
        held.removeNext(e, q);
        s.heldCount--;
        s.heldFirstEpoch = next[0];
        s.heldFirstSeq = next[1];
    }

    /** Rebuilds the order (and the count) from a scan of the buffer. */
    private static void relink(ReconcilerState s, Held held) throws Exception {
        List<HeldIncrement> all = new ArrayList<>();
        for (HeldIncrement h : held.all()) all.add(h);
        all.sort((a, b) -> Versions.compare(a.increment.epoch, a.increment.seq, b.increment.epoch, b.increment.seq));
        held.clearOrder();
        s.heldCount = all.size();
        if (all.isEmpty()) {
            forgetOrder(s);
            return;
        }
        for (int k = 0; k + 1 < all.size(); k++) {
            Increment a = all.get(k).increment;
            Increment b = all.get(k + 1).increment;
            held.setNext(a.epoch, a.seq, b.epoch, b.seq);
        }
        Increment first = all.get(0).increment;
        Increment last = all.get(all.size() - 1).increment;
        s.heldFirstEpoch = first.epoch;
        s.heldFirstSeq = first.seq;
        s.heldLastEpoch = last.epoch;
        s.heldLastSeq = last.seq;
    }

    private static void forgetOrder(ReconcilerState s) {
        s.heldFirstEpoch = s.heldFirstSeq = s.heldLastEpoch = s.heldLastSeq = 0;
    }

    /**
     * Starts or ends the device's waiting episode; the count of waiting devices follows it (and
     * takes in a device restored waiting from a build that did not count it).
     */
    private void updateWaiting(ReconcilerState s, Effects fx) {
        boolean waits = s.heldCount > 0;
        if (waits && s.waitingSince == 0) {
            s.waitingSince = Math.max(1, clock.getAsLong());
        } else if (!waits && s.waitingSince != 0) {
            s.waitingSince = 0;
            s.overflowed = false;
        }
        boolean counts = s.waitingSince != 0;
        if (counts != s.countedWaiting) {
            s.countedWaiting = counts;
            fx.waiting(counts ? +1 : -1);
        }
    }
}
