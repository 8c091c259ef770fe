package io.devicesync.model;

/** What the acks source emits for each Kafka record: exactly one of a valid {@link Ack} or a {@link DeadLetter}. */
public class AckRecord {
    public Ack ack;
    public DeadLetter rejected;

    public AckRecord() {}

    public static AckRecord of(Ack ack) {
        AckRecord r = new AckRecord();
        r.ack = ack;
        return r;
    }

    public static AckRecord rejected(DeadLetter deadLetter) {
        AckRecord r = new AckRecord();
        r.rejected = deadLetter;
        return r;
    }

    public boolean isValid() {
        return ack != null;
    }

    /** Event time: the ack's {@code ts}, or the Kafka timestamp of a rejected record. */
    public long eventTime() {
        return ack != null ? ack.ts : rejected.timestamp;
    }
}
