package io.devicesync.model;

/**
 * A request from the SequenceGuard to the source of truth: what is missing for a device.
 *
 * <ul>
 *   <li>{@code GAP}: the versions {@code (epoch, fromSeq..toSeq)} never arrived within the grace;
 *       repaired from the increment log when it has them all and there are at most
 *       {@code --resync.max-log-fetch}, otherwise from the snapshot;
 *   <li>{@code FIRST_SEEN}: the job knows nothing of the device and its first message is
 *       {@code (epoch, toSeq)}, not (0, 1): the snapshot;
 *   <li>{@code RESET}: the device moved to a higher epoch at {@code (epoch, toSeq)}: the snapshot
 *       confirms the state;
 *   <li>{@code AUDIT}: the periodic audit; {@code (epoch, toSeq)} is the last version the guard
 *       forwarded. The database's version is read (one primary-key lookup); when it is ahead (tail
 *       loss, on a {@code quiet} audit only) or {@code repair} is set (a repair is pending), the
 *       repair data comes along, by the same log-or-snapshot rule as a gap.
 * </ul>
 *
 * <p>The lookup is idempotent: a request replayed after a restore yields the same kind of result.
 */
public class LookupRequest {
    /** What the request is for (see the class comment). */
    public enum Kind {
        GAP,
        FIRST_SEEN,
        RESET,
        AUDIT
    }

    public String deviceId;
    public Kind kind;
    public long epoch;
    public long fromSeq;
    public long toSeq;
    /** Event time of the detection. */
    public long ts;
    /** Wall clock when the request was made (for the repair latency). */
    public long issuedAt;
    /** AUDIT only: a repair of this device failed; fetch the snapshot whatever the version says. */
    public boolean repair;
    /**
     * AUDIT only: the device sent nothing for a whole interval. Only then is a database ahead of
     * the stream tail loss; while the device still sends, its increments may be in flight.
     */
    public boolean quiet;
    /**
     * AUDIT only: the previous audit was inconclusive (IN_FLIGHT, or the database could not be
     * read) and the device stayed quiet since. Where the log cannot tell lost from in flight by
     * its times (its rows are gone), a database still ahead is then taken as tail loss.
     */
    public boolean recheck;

    public LookupRequest() {}

    public LookupRequest(String deviceId, Kind kind, long epoch, long fromSeq, long toSeq, long ts, long issuedAt) {
        this.deviceId = deviceId;
        this.kind = kind;
        this.epoch = epoch;
        this.fromSeq = fromSeq;
        this.toSeq = toSeq;
        this.ts = ts;
        this.issuedAt = issuedAt;
    }

    public static LookupRequest audit(
            String deviceId, long epoch, long seq, boolean repair, boolean quiet, long ts, long issuedAt) {
        LookupRequest r = new LookupRequest(deviceId, Kind.AUDIT, epoch, seq + 1, seq, ts, issuedAt);
        r.repair = repair;
        r.quiet = quiet;
        return r;
    }

    /** Missing versions of a gap request. */
    public long missing() {
        return toSeq - fromSeq + 1;
    }

    @Override
    public String toString() {
        return "LookupRequest{" + kind + (repair ? "+repair" : "") + " " + deviceId + " " + epoch + "/" + fromSeq + ".."
                + toSeq + "}";
    }
}
