package io.devicesync.operators.delivery;

import io.devicesync.model.DeviceState;

/**
 * The RedispatchScheduler's entry for one device and consumer: an open episode, or a parking (what
 * the consumer's backlog counts). A dead letter waiting for its turn is apart ({@link
 * PendingDeadLetter}).
 */
public class Episode {
    /** The episode: the first unacknowledged version when it opened. */
    public long epoch;

    public long seq;
    /** Publication time of that version (event time): longest waiting goes first. */
    public long waitingSince;
    /** The latest attempt (queued or sent) and its state. */
    public int attempt;

    public DeviceState state;
    /** Size of its record (document and deviceId; the other fields are alike): smallest goes first among equally old. */
    public int bytes;
    /** Attempts actually sent. */
    public int sent;
    /** Waiting in the queue for the budget. */
    public boolean queued;
    /** Attempts exhausted; counted in the backlog until the consumer acknowledges again. */
    public boolean parked;
    /**
     * The consumer's listing it belongs to (the scheduler's, see there): an entry of an earlier
     * listing of a consumer that was dropped and listed again is left over, and taken for none.
     */
    public long generation;

    public Episode() {}
}
