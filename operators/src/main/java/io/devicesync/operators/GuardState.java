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
    /** Event time of the pending audit timer (on an interval boundary); 0 when none. */
    public long auditTimer;
    /**
     * The pending audit was moved after a long jump of event time: it runs at its new time however
     * coarse the watermark's steps are then (a fast catch-up steps by seconds), so it is moved once.
     */
    public boolean auditMoved;
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
