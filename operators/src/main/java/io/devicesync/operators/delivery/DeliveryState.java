package io.devicesync.operators.delivery;

/**
 * The DeliveryTracker's state of a device: while something is pending for some consumer (or a
 * consumer is parked), and for one deadline after every consumer acknowledged everything (then
 * only the ack positions and the timer that forgets it): a device that publishes again within
 * that time costs no new timer.
 */
public class DeliveryState {
    /**
     * The latest published version; {@code published} false before the first. Its document is in
     * a state of its own, written on publication and read only for an attempt: acks never touch it.
     */
    public boolean published;

    public long epoch;
    public long seq;
    /**
     * Recent publications, oldest first: version and publication time, so that after a partial ack
     * the next unacknowledged version's deadline counts from its own publication. Bounded: when
     * trimmed, the oldest entry kept stands in (a later time: a deadline late, never early).
     */
    public long[] pubEpoch = new long[0];

    public long[] pubSeq = new long[0];
    public long[] pubAt = new long[0];
    public ConsumerTrack[] consumers = new ConsumerTrack[0];
    /** The registered event-time timer; 0 when none. */
    public long timer;
    /** The latest version's document is in the tracker's second state (only while something is pending). */
    public boolean latestStored;
    /** When a quiet device (nothing pending, nobody parked) is forgotten; 0 while it is not quiet. */
    public long forgetAt;

    public DeliveryState() {}
}
