package io.devicesync.operators;

/** The SequenceGuard's one state value per device (a POJO, read once per event). */
public class GuardState {
    /**
     * The last version forwarded downstream: anything at or below it is a duplicate or stale.
     * seq 0: nothing forwarded yet (a device first seen past (0, 1), waiting for the grace).
     */
    public long epoch;

    public long seq;
    /** Event time of the pending reorder-grace timer; 0 when none. */
    public long graceTimer;
    /** Early messages held in the {@code held} MapState; 0 means the map is not touched. */
    public int heldCount;
    /** The highest version a lookup request already covers: such a gap is not requested again. */
    public long requestedEpoch = -1;

    public long requestedSeq;
    /**
     * Event time of the pending audit (on an interval boundary); 0 when none. After a long jump of
     * event time its timer may have been moved to 1 ms before the device's slot after the jump
     * without this value changing (GuardRules#moveWithoutState): the audit is due at either.
     */
    public long auditTimer;
    /** An increment was accepted since the last audit. */
    public boolean active;
    /** A repair failed (read back from device-audit): the next audit fetches the repair data. */
    public boolean repairPending;
    /** The last audit was inconclusive (IN_FLIGHT, or the database could not be read): look again. */
    public boolean recheck;
    /** Re-checks in a row without activity: the next one waits 2^rechecks intervals (capped). */
    public int rechecks;
    /** Event time of the last accepted increment: a device silent for the idle TTL is forgotten. */
    public long lastSeen;

    public GuardState() {}
}
