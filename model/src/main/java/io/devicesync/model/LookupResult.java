package io.devicesync.model;

/**
 * The answer of the source of truth to a {@link LookupRequest}: increments from the log, the
 * snapshot, or a failure with its cause. Arrays, not lists, so Flink serializes it without Kryo.
 */
public class LookupResult {
    /** What the source of truth answered. */
    public enum Outcome {
        /** The missing increments, from the log. */
        LOG,
        /** The device's snapshot (and the log rows that continue it, if it lags). */
        SNAPSHOT,
        /** The database failed; retried with backoff by the async operator. */
        FAILED,
        /** AUDIT: the database's version only; it is not ahead of what the guard forwarded. */
        VERSION,
        /** The lookup's deadline ({@code --snapshot.timeout}) passed: not retried; the audit retries. */
        TIMED_OUT,
        /**
         * The database was not asked: its circuit breaker is open, or too many lookups already wait
         * for it. Not retried (it would hold Flink's async queue and the whole stream): the audit
         * retries.
         */
        UNAVAILABLE,
        /** The device has no row in {@code device_snapshot}. */
        NOT_FOUND;

        /** Whether the result brings repair data. */
        public boolean isData() {
            return this == LOG || this == SNAPSHOT;
        }

        /** Whether the database could not be read at all. */
        public boolean isUnreadable() {
            return this == FAILED || this == TIMED_OUT || this == UNAVAILABLE;
        }
    }

    public LookupRequest request;
    public Outcome outcome;
    /** LOG: the missing increments, in version order. */
    public Increment[] increments;
    /** SNAPSHOT: the database's version and state. */
    public long snapshotEpoch;

    public long snapshotSeq;
    public byte[] snapshotState;
    /** The database's current version when it was read (audits); null when unknown. */
    public Version db;
    /** FAILED / NOT_FOUND: why. */
    public String cause;
    /**
     * The lookup subtask's breaker, when it changed since the last report (or on the subtask's
     * first result); null on almost every result. Not part of the answer: the reconciler hands it
     * to the AlertPolicy.
     */
    public BreakerReport breaker;
    /**
     * UNAVAILABLE because the breaker was open, or FAILED while it was not closed (the failure that
     * opened it included): the breaker's report of that time (open). The
     * reconciler puts it on the RESYNC_FAILED it raises, so that the AlertPolicy knows the failure
     * belongs to that outage even when it reaches the policy after the breaker's closing report
     * (which travels through another reconciler subtask). Null otherwise.
     */
    public BreakerReport rejectedBy;

    public LookupResult() {}

    public static LookupResult log(LookupRequest request, Increment[] increments) {
        LookupResult r = new LookupResult();
        r.request = request;
        r.outcome = Outcome.LOG;
        r.increments = increments;
        return r;
    }

    /**
     * The snapshot row (its version is the database's), and the log rows that continue it when it
     * lags the request (null if none were read).
     */
    public static LookupResult snapshot(
            LookupRequest request, long epoch, long seq, byte[] state, Increment[] continuation) {
        LookupResult r = snapshot(request, epoch, seq, state);
        r.increments = continuation;
        r.db = new Version(epoch, seq);
        return r;
    }

    /** This result, with the database's version read by the same lookup, if it did not say it already. */
    public LookupResult withDatabaseVersion(long epoch, long seq) {
        if (db != null) return this;
        LookupResult r = new LookupResult();
        r.request = request;
        r.outcome = outcome;
        r.increments = increments;
        r.snapshotEpoch = snapshotEpoch;
        r.snapshotSeq = snapshotSeq;
        r.snapshotState = snapshotState;
        r.cause = cause;
        r.breaker = breaker;
        r.rejectedBy = rejectedBy;
        r.db = new Version(epoch, seq);
        return r;
    }

    public static LookupResult snapshot(LookupRequest request, long epoch, long seq, byte[] state) {
        LookupResult r = new LookupResult();
        r.request = request;
        r.outcome = Outcome.SNAPSHOT;
        r.snapshotEpoch = epoch;
        r.snapshotSeq = seq;
        r.snapshotState = state;
        return r;
    }

    public static LookupResult version(LookupRequest request, long dbEpoch, long dbSeq) {
        LookupResult r = new LookupResult();
        r.request = request;
        r.outcome = Outcome.VERSION;
        r.db = new Version(dbEpoch, dbSeq);
        return r;
    }

    public static LookupResult failed(LookupRequest request, Outcome outcome, String cause) {
        LookupResult r = new LookupResult();
        r.request = request;
        r.outcome = outcome;
        r.cause = cause;
        return r;
    }

    @Override
    public String toString() {
        return "LookupResult{" + outcome + " " + request
                + (outcome == Outcome.SNAPSHOT ? " at " + snapshotEpoch + "/" + snapshotSeq : "")
                + (increments != null ? " " + increments.length + " increments" : "")
                + (cause != null ? " " + cause : "") + "}";
    }
}
