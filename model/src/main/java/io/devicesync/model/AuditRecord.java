package io.devicesync.model;

/**
 * One audit of a device (topic {@code device-audit}, key = deviceId, compacted): what was published
 * when it was audited, the database's version, and the outcome. A version unknown is null (JSON
 * null): nothing published yet, or the database could not be read.
 *
 * <p>The job also reads this topic back: a {@code REPAIR_PENDING} record makes the SequenceGuard
 * audit the device again at the next interval, with a repair, until it is repaired; {@code IN_FLIGHT},
 * {@code DB_BEHIND} and {@code DB_MISSING} schedule a re-check; {@code TAIL_LOSS} tells the guard
 * the version the repair reached.
 */
public class AuditRecord {
    /** What the audit found. */
    public enum Outcome {
        /** Published equals the database. */
        VERIFIED,
        /** The database is behind what was published; re-checked with backoff. */
        DB_BEHIND,
        /** The database was ahead of a quiet device: its lost tail is being repaired. */
        TAIL_LOSS,
        /** The device waits for a repair, or the database could not be read; retried. */
        REPAIR_PENDING,
        /**
         * The database is ahead while the device is still sending: its increments are on their way
         * (the platform records them before it publishes). The audit after it falls quiet decides.
         * Not in DESIGN.md's list: added because it is neither verified nor tail loss.
         */
        IN_FLIGHT,
        /**
         * The database has no row for the device (yet): nothing to compare with. Like DB_BEHIND,
         * re-checked with backoff. Not in DESIGN.md's list: a missing row is not a database behind.
         */
        DB_MISSING
    }

    public String deviceId;
    /** What was published when the device was audited; null when nothing was (JSON null). */
    public Version published;
    /** The database's version; null when it could not be read or has no row (JSON null). */
    public Version db;

    public Outcome outcome;
    public long ts;

    public AuditRecord() {}

    public AuditRecord(String deviceId, Version published, Version db, Outcome outcome, long ts) {
        this.deviceId = deviceId;
        this.published = published;
        this.db = db;
        this.outcome = outcome;
        this.ts = ts;
    }

    @Override
    public String toString() {
        return "AuditRecord{" + deviceId + " " + published + " db " + db + " " + outcome + "}";
    }
}
