package io.devicesync.operators.delivery;

/** What the DeliveryTracker knows of one listed consumer for one device (part of {@link DeliveryState}). */
public class ConsumerTrack {
    public enum Status {
        /** Everything published was acknowledged. */
        IDLE,
        /** Something is unacknowledged and its deadline has not passed. */
        PENDING,
        /** An episode is open: past the deadline, attempts being sent. */
        OPEN,
        /** Attempts exhausted: nothing is tracked until the consumer acknowledges a version again. */
        PARKED
    }

    public String name;
    public Status status = Status.IDLE;
    /** The consumer's acknowledged version; -1/-1 when it has acknowledged nothing. */
    public long ackEpoch = -1;

    public long ackSeq = -1;
    /** The first unacknowledged version and its publication time (PENDING, OPEN, and PARKED's episode). */
    public long firstEpoch;

    public long firstSeq;
    public long firstAt;
    /** Event time of the next step: the deadline (PENDING), the next attempt or the exhaustion (OPEN). */
    public long due;
    /** Attempts fallen due in the open episode. */
    public int attempt;
    /** When the current attempt fell due (the schedule counts from it, not from when it was sent). */
    public long attemptDue;
    /** The version the latest attempt carried: an ack at or beyond it ends the episode. */
    public long lastDueEpoch;

    public long lastDueSeq;

    public ConsumerTrack() {}

    ConsumerTrack(String name) {
        this.name = name;
    }

    boolean hasAck() {
        return ackSeq >= 0;
    }
}
