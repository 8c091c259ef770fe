package io.devicesync.operators.delivery;

import io.devicesync.model.DeviceState;

/**
 * The entry of the scheduler of earlier builds (keyed by consumer) for one device of its consumer:
 * kept as those builds wrote it, field for field, so that their savepoints restore without a
 * migration of the serializer, and the DeliveryBacklog, which runs under that uid, clears them
 * once. The scheduler keyed by device keeps {@link Episode}s.
 */
public class EpisodeEntry {
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

    public EpisodeEntry() {}
}
