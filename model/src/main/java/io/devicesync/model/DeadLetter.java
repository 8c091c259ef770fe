package io.devicesync.model;

/**
 * A source record the contract rejects: the original key and value bytes, the reason and where it
 * came from. Written to the dead-letter topic exactly as received, with the rest as headers.
 */
public class DeadLetter {
    /** Original record key, null when the record had none. */
    public byte[] key;
    /** Original record value, null for a tombstone. */
    public byte[] value;
    /** One of {@link RejectReason}'s codes. */
    public String reason;
    public String topic;
    public int partition;
    public long offset;
    /** The Kafka record timestamp (ms); event time of a record that has no readable {@code ts}. */
    public long timestamp;

    public DeadLetter() {}

    public DeadLetter(byte[] key, byte[] value, String reason, String topic, int partition, long offset, long timestamp) {
        this.key = key;
        this.value = value;
        this.reason = reason;
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
        this.timestamp = timestamp;
    }

    @Override
    public String toString() {
        return "DeadLetter{" + reason + " " + topic + "-" + partition + "@" + offset + "}";
    }
}
