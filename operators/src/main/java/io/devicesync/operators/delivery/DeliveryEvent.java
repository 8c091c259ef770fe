package io.devicesync.operators.delivery;

import io.devicesync.model.DeviceState;

/** From the DeliveryTracker (per device) to the RedispatchScheduler (per consumer). */
public class DeliveryEvent {
    public enum Kind {
        /** An attempt fell due; carries the device's latest state. */
        ATTEMPT,
        /** The last attempt's deadline passed without an ack: dead-letter it and park the device. */
        EXHAUSTED,
        /** The consumer acknowledged: the episode (or the parking) is over. */
        CLOSED,
        /**
         * An episode open in the tracker that the scheduler may not know: after an upgrade from a
         * build whose scheduler was keyed by consumer (its state does not restore). Counted in the
         * backlog; nothing is sent (the next attempt is).
         */
        OPEN,
        /** As {@link #OPEN}, for a device parked for the consumer. */
        PARKED
    }

    public Kind kind;
    public String consumer;
    public String deviceId;
    /** The episode: the first unacknowledged version when it opened. */
    public long epoch;

    public long seq;
    /** Publication time of the first unacknowledged version: the priority (longest waiting first). */
    public long waitingSince;

    public int attempt;
    /** ATTEMPT and EXHAUSTED: the device's latest state. */
    public DeviceState state;

    public DeliveryEvent() {}

    static DeliveryEvent of(Kind kind, String consumer, String deviceId, ConsumerTrack c, DeviceState state) {
        DeliveryEvent e = new DeliveryEvent();
        e.kind = kind;
        e.consumer = consumer;
        e.deviceId = deviceId;
        e.epoch = c.firstEpoch;
        e.seq = c.firstSeq;
        e.waitingSince = c.firstAt;
        e.attempt = c.attempt;
        e.state = state;
        return e;
    }

    @Override
    public String toString() {
        return "DeliveryEvent{" + kind + " " + consumer + " " + deviceId + " " + epoch + "/" + seq + " #" + attempt
                + "}";
    }
}
