package io.devicesync.operators.sync;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.model.Version;
import io.devicesync.model.Versions;

/**
 * The sync stage's alerts, one method each: its type, severity, strategy, cause, details and the
 * parts of its id (what makes the episode unique, so that a replay after a restore has the same
 * id). The decision classes ({@link GuardRules}, {@link Reconciliation}) say which alert and with
 * what; this says what it looks like.
 */
final class SyncAlerts {
    private SyncAlerts() {}

    /** The stream showed a new epoch. */
    static Alert deviceReset(String deviceId, long fromEpoch, long lastSeq, long toEpoch, long seq, long ts) {
        return Alerts.of(AlertType.DEVICE_RESET, Severity.WARNING)
                .device(deviceId)
                .cause("epoch moved from " + fromEpoch + " to " + toEpoch + " (last seq " + lastSeq + ", now " + seq
                        + ")")
                .strategy(Strategy.FETCH_SNAPSHOT)
                .detail("fromEpoch", fromEpoch)
                .detail("lastSeq", lastSeq)
                .detail("toEpoch", toEpoch)
                .detail("seq", seq)
                .ts(ts)
                .build(Long.toString(toEpoch));
    }

    /** An audit found the device in a new epoch the stream never showed (the same id as if it had). */
    static Alert deviceResetFoundByAudit(String deviceId, long fromEpoch, long lastSeq, Version db, long ts) {
        return Alerts.of(AlertType.DEVICE_RESET, Severity.WARNING)
                .device(deviceId)
                .cause("epoch moved from " + fromEpoch + " to " + db.epoch + " (last seq " + lastSeq
                        + "), found by an audit: the stream lost every message of the new epoch")
                .strategy(Strategy.FETCH_SNAPSHOT)
                .detail("fromEpoch", fromEpoch)
                .detail("lastSeq", lastSeq)
                .detail("toEpoch", db.epoch)
                .detail("seq", db.seq)
                .ts(ts)
                .build(Long.toString(db.epoch));
    }

    /** The versions fromSeq..toSeq of {@code epoch} did not come within the grace. */
    static Alert sequenceGap(
            String deviceId,
            long epoch,
            long lastSeq,
            long nextSeq,
            long fromSeq,
            long toSeq,
            boolean fromLog,
            long ts) {
        return Alerts.of(AlertType.SEQUENCE_GAP, Severity.WARNING)
                .device(deviceId)
                .cause("seq jumped from " + lastSeq + " to " + nextSeq)
                .strategy(fromLog ? Strategy.FETCH_INCREMENTS : Strategy.FETCH_SNAPSHOT)
                .detail("epoch", epoch)
                .detail("fromSeq", fromSeq)
                .detail("toSeq", toSeq)
                .detail("missing", toSeq - fromSeq + 1)
                .ts(ts)
                .build(Long.toString(epoch), Long.toString(fromSeq), Long.toString(toSeq));
    }

    /**
     * A repair that failed ({@code failures} in a row; critical from the third). {@code
     * databaseUnavailable}: the database could not be read at all, which the AlertPolicy holds back
     * while a breaker is open. The request identifies the episode.
     */
    static Alert resyncFailed(LookupRequest q, String cause, int failures, String lookup, boolean databaseUnavailable) {
        Alerts.Builder alert = Alerts.of(AlertType.RESYNC_FAILED, failures >= 3 ? Severity.CRITICAL : Severity.WARNING)
                .device(q.deviceId)
                .cause(cause)
                .strategy(Strategy.RETRY_ON_AUDIT)
                .detail("kind", q.kind.name())
                .detail("epoch", q.epoch)
                .detail("fromSeq", q.fromSeq)
                .detail("toSeq", q.toSeq)
                .detail("failures", failures)
                .detail("lookup", lookup);
        if (databaseUnavailable) alert.detail("databaseUnavailable", true);
        return alert.ts(q.ts)
                .build(
                        q.kind.name(),
                        Long.toString(q.epoch),
                        Long.toString(q.fromSeq),
                        Long.toString(q.toSeq),
                        Long.toString(q.ts));
    }

    /** The device was repaired after failed attempts. */
    static Alert resyncResolved(String deviceId, int failures, long epoch, long seq, long ts) {
        return Alerts.of(AlertType.RESYNC_RESOLVED, Severity.INFO)
                .device(deviceId)
                .cause("repaired after " + failures + " failed attempt(s); now at " + Versions.format(epoch, seq))
                .strategy(Strategy.NONE)
                .detail("failures", failures)
                .detail("epoch", epoch)
                .detail("seq", seq)
                .ts(ts)
                .build(Long.toString(epoch), Long.toString(seq));
    }

    /**
     * A quiet device's audit found the database ahead of what was published ({@code published}:
     * null for nothing): its lost tail is repaired from the data the audit brought.
     */
    static Alert tailLoss(String deviceId, Version published, Version db, boolean fromLog, long ts) {
        boolean sameEpoch = published != null && db.epoch == published.epoch;
        return Alerts.of(AlertType.TAIL_LOSS, Severity.WARNING)
                .device(deviceId)
                .cause("the database is at " + db + " but the stream stopped at "
                        + (published != null ? published.toString() : "nothing"))
                .strategy(fromLog ? Strategy.FETCH_INCREMENTS : Strategy.FETCH_SNAPSHOT)
                .version("epoch", "seq", published)
                .version("dbEpoch", "dbSeq", db)
                .detail("missing", sameEpoch ? db.seq - published.seq : -1)
                .ts(ts)
                // The episode's key: "-1" for nothing published, as ever, so that ids do not change.
                .build(
                        published != null ? Long.toString(published.epoch) : "-1",
                        published != null ? Long.toString(published.seq) : "-1");
    }

    /** A version would grow the document past what is kept in state: not applied. */
    static Alert tooLargeToKeep(
            String deviceId, long epoch, long seq, int bytes, int maxBytes, int maxKeptBytes, int factor, long ts) {
        return Alerts.of(AlertType.STATE_TOO_LARGE, Severity.CRITICAL)
                .device(deviceId)
                .cause(
                        "applying " + Versions.format(epoch, seq) + " would grow the state document of " + deviceId
                                + " to " + bytes + " bytes, over the " + maxKeptBytes + " kept in state (" + factor
                                + " x --state.max-document-bytes): it is not applied, and the device waits for a snapshot that fits")
                .strategy(Strategy.FETCH_SNAPSHOT)
                .detail("epoch", epoch)
                .detail("seq", seq)
                .detail("bytes", bytes)
                .detail("maxBytes", maxBytes)
                .detail("maxKeptBytes", maxKeptBytes)
                .ts(ts)
                .build("kept", Long.toString(epoch), Long.toString(seq));
    }

    /** The document is over the publication limit: kept, not published. */
    static Alert tooLargeToPublish(String deviceId, long epoch, long seq, int bytes, int maxBytes, long ts) {
        return Alerts.of(AlertType.STATE_TOO_LARGE, Severity.CRITICAL)
                .device(deviceId)
                .cause("the state document of " + deviceId + " at " + Versions.format(epoch, seq) + " is " + bytes
                        + " bytes, over the limit of " + maxBytes + "; not published until it fits again")
                .strategy(Strategy.NONE)
                .detail("epoch", epoch)
                .detail("seq", seq)
                .detail("bytes", bytes)
                .detail("maxBytes", maxBytes)
                .ts(ts)
                .build(Long.toString(epoch), Long.toString(seq));
    }

    /** The held buffer overflowed: the oldest held increment was dropped. */
    static Alert bufferOverflow(String deviceId, int maxHeld, long droppedEpoch, long droppedSeq, long ts) {
        return Alerts.of(AlertType.BUFFER_OVERFLOW, Severity.CRITICAL)
                .device(deviceId)
                .cause("more than " + maxHeld + " increments held while waiting for a repair; the oldest ("
                        + Versions.format(droppedEpoch, droppedSeq) + ") was dropped and the device needs its snapshot")
                .strategy(Strategy.FETCH_SNAPSHOT)
                .detail("maxHeld", maxHeld)
                .detail("droppedEpoch", droppedEpoch)
                .detail("droppedSeq", droppedSeq)
                .ts(ts)
                .build(Long.toString(droppedEpoch), Long.toString(droppedSeq));
    }
}
