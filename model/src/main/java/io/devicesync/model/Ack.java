package io.devicesync.model;

/**
 * A consumer's acknowledgement (topic {@code device-acks}): it consumed every version of the
 * device up to (epoch, seq). Cumulative.
 */
public class Ack {
    public String consumer;
    public String deviceId;
    public long epoch;
    public long seq;
    /** When the consumer acknowledged, ms since the Unix epoch: the ack's event time. */
    public long ts;

    public Ack() {}

    public Ack(String consumer, String deviceId, long epoch, long seq, long ts) {
        this.consumer = consumer;
        this.deviceId = deviceId;
        this.epoch = epoch;
        this.seq = seq;
        this.ts = ts;
    }

    @Override
    public String toString() {
        return "Ack{" + consumer + " " + deviceId + " " + epoch + "/" + seq + " ts=" + ts + "}";
    }
}
