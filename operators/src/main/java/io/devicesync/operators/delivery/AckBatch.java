package io.devicesync.operators.delivery;

import io.devicesync.model.Ack;

/**
 * One device's acks as the AckCoalescer gathered them: the latest of each consumer that
 * acknowledged the device within the coalescer's window (acks are cumulative: a later one
 * covers an earlier one). The DeliveryTracker applies them with one read and one write of the
 * device's state.
 */
public class AckBatch {
    public String deviceId;
    /** At most one per consumer, in the order the consumers first acked within the window. */
    public Ack[] acks;

    public AckBatch() {}

    public AckBatch(String deviceId, Ack[] acks) {
        this.deviceId = deviceId;
        this.acks = acks;
    }

    /** One ack alone (tests, and the tracker's own callers). */
    public static AckBatch of(Ack a) {
        return new AckBatch(a.deviceId, new Ack[] {a});
    }

    @Override
    public String toString() {
        return "AckBatch{" + deviceId + " " + java.util.Arrays.toString(acks) + "}";
    }
}
