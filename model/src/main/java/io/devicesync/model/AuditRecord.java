package io.devicesync.model;

/**
 * One audit of a device (topic {@code device-audit}, key = deviceId, compacted): what was published
 * when it was audited, the database's version, and the outcome. Versions unknown are -1 (JSON
 * null): nothing published yet, or the database could not be read.
 *
 * <p>The job also reads this topic back: a {@code REPAIR_PENDING} record makes the SequenceGuard
 * audit the device again at the next interval, with a repair, until it is repaired; {@code IN_FLIGHT},
 * {@code DB_BEHIND} and {@code DB_MISSING} schedule a re-check; {@code TAIL_LOSS} tells the guard
 * the version the repair reached.
 */
public class AuditRecord {
    public static final String VERIFIED = "VERIFIED";
    public static final String DB_BEHIND = "DB_BEHIND";
    public static final String TAIL_LOSS = "TAIL_LOSS";
    public static final String REPAIR_PENDING = "REPAIR_PENDING";
    /**
     * The database is ahead while the device is still sending: its increments are on their way
     * (the platform records them before it publishes). The audit after it falls quiet decides.
     * Not in DESIGN.md's list: added because it is neither verified nor tail loss.
     */
    public static final String IN_FLIGHT = "IN_FLIGHT";
    /**
     * The database has no row for the device (yet): nothing to compare with. Like {@code DB_BEHIND},
     * the device is audited again, backing off, until the row appears. Not in DESIGN.md's list:
     * added because a missing row is not a database behind.
     */
    public static final String DB_MISSING = "DB_MISSING";

    public String deviceId;
    public long epoch = -1;
    public long seq = -1;
    public long dbEpoch = -1;
    public long dbSeq = -1;
    public String outcome;
    public long ts;

    public AuditRecord() {}

    public AuditRecord(String deviceId, long epoch, long seq, long dbEpoch, long dbSeq, String outcome, long ts) {
        this.deviceId = deviceId;
        this.epoch = epoch;
        this.seq = seq;
        this.dbEpoch = dbEpoch;
        this.dbSeq = dbSeq;
        this.outcome = outcome;
        this.ts = ts;
    }

    @Override
    public String toString() {
        return "AuditRecord{" + deviceId + " " + epoch + "/" + seq + " db " + dbEpoch + "/" + dbSeq + " " + outcome + "}";
    }
}
