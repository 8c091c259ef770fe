package io.devicesync.operators.delivery;

import io.devicesync.model.Redispatch;

/**
 * An exhausted episode's dead letter and REDISPATCH_EXHAUSTED, waiting in the consumer's dead-letter
 * queue for their turn (at most {@code --redispatch.rate} a second, a budget of their own). Apart
 * from the device's {@link Episode}: an ack or a new episode before its turn does not take it back;
 * the episode was exhausted.
 */
public class PendingDeadLetter {
    /** The last attempt's record (with the attempts actually sent); null if the document had expired. */
    public Redispatch last;
    /** The episode: its first unacknowledged version, and since when it waits (the queue's order). */
    public long epoch;

    public long seq;
    public long waitingSince;
    /** Its size in the queue's order (document and deviceId). */
    public int bytes;
    /** Attempts actually sent (the alert's {@code details.attempts}). */
    public int sent;
    /** The consumer's listing it belongs to (see {@link Episode#generation}). */
    public long generation;

    public PendingDeadLetter() {}
}
