package io.devicesync.model;

/**
 * What the event source emits for each Kafka record: exactly one of a valid {@link Increment} or a
 * {@link DeadLetter}. The deserializer never throws; it decides here.
 */
public class SourceRecord {
    public Increment increment;
    public DeadLetter rejected;

    public SourceRecord() {}

    public static SourceRecord of(Increment increment) {
        SourceRecord r = new SourceRecord();
        r.increment = increment;
        return r;
    }

    public static SourceRecord rejected(DeadLetter deadLetter) {
        SourceRecord r = new SourceRecord();
        r.rejected = deadLetter;
        return r;
    }

    public boolean isValid() {
        return increment != null;
    }

    /** Event time: the increment's {@code ts}, or the Kafka timestamp of a rejected record. */
    public long eventTime() {
        return increment != null ? increment.ts : rejected.timestamp;
    }
}
