package io.devicesync.operators.delivery;

/**
 * The DeliveryTracker's one state value per device; it exists only while something is pending for
 * some consumer (or a consumer is parked), and is cleared when every consumer acknowledged everything.
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

    public DeliveryState() {}
}
