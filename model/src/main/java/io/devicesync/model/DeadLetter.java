package io.devicesync.model;

import java.util.Arrays;

/**
 * A source record the contract rejects: the original key and value bytes, the reason and where it
 * came from. Written to the dead-letter topic as received, with the rest as headers.
 *
 * <p>Bounded, so that a dead letter always fits the producer's request limit however large the
 * rejected record was (a producer's compression lets a 2 MB record through the broker; the job's
 * producer measures it uncompressed and would refuse it, failing the sink on every restart): a value
 * over the input's limit is cut to that limit, a key over {@link #MAX_KEY_BYTES} to that many bytes,
 * and each records its original size. The full record stays at its coordinates in the source topic.
 */
public class DeadLetter {
    /**
     * The longest key kept. A valid key is a deviceId of at most 128 characters (at most 512 bytes
     * of UTF-8), so only keys that are wrong anyway are cut, and their first KiB still shows what
     * they were.
     */
    public static final int MAX_KEY_BYTES = 1024;
    /** The largest value kept: the largest input limit (increments; acks have a smaller one). */
    public static final int MAX_VALUE_BYTES = IncrementCodec.MAX_VALUE_BYTES;
    /**
     * An upper bound of a dead letter's size as the producer counts it: value, key, the headers
     * (their values are at most a reason, a topic name of at most 249 characters and four numbers)
     * and the record's own overhead. The producer's {@code max.request.size} must admit it.
     */
    public static final int MAX_RECORD_BYTES = MAX_VALUE_BYTES + MAX_KEY_BYTES + 2048;
    /**
     * Header of a record re-driven from a dead-letter topic ({@code io.devicesync.jobs.tools.Redrive}):
     * the coordinates of the dead letter it copies, {@code topic/partition/offset}. A re-driven record
     * that is rejected again keeps it on its new dead letter, so that a dead letter of a re-drive is
     * told from a first one (the re-drive skips those by default: re-driving a record again and again
     * never multiplies its dead letters).
     */
    public static final String REDRIVEN_FROM = "devicesync.redriven-from";
    /** The longest {@link #REDRIVEN_FROM} kept: a topic name (at most 249 characters) and two numbers fit. */
    public static final int MAX_REDRIVEN_FROM_BYTES = 512;

    /** Original record key (cut to {@link #MAX_KEY_BYTES}), null when the record had none. */
    public byte[] key;
    /** Original record value (cut to the input's limit), null for a tombstone. */
    public byte[] value;
    /** One of {@link RejectReason}'s codes. */
    public String reason;

    public String topic;
    public int partition;
    public long offset;
    /** The Kafka record timestamp (ms); event time of a record that has no readable {@code ts}. */
    public long timestamp;
    /** The value's size in bytes when it was cut, else -1. */
    public int originalValueSize = -1;
    /** The key's size in bytes when it was cut, else -1. */
    public int originalKeySize = -1;
    /**
     * The source record's {@link #REDRIVEN_FROM} header (cut to {@link #MAX_REDRIVEN_FROM_BYTES}),
     * null when it had none: the dead letter the rejected record was re-driven from.
     */
    public byte[] redrivenFrom;

    public DeadLetter() {}

    /** As received, cut to the limits of {@link #of} with the largest value limit ({@link #MAX_VALUE_BYTES}). */
    public DeadLetter(
            byte[] key, byte[] value, String reason, String topic, int partition, long offset, long timestamp) {
        this.reason = reason;
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
        this.timestamp = timestamp;
        setKey(key);
        setValue(value, MAX_VALUE_BYTES);
    }

    /**
     * A rejected record of an input whose values may be at most {@code valueLimit} bytes: a longer
     * value is cut to {@code valueLimit}, a key longer than {@link #MAX_KEY_BYTES} to that, each with
     * its original size.
     */
    public static DeadLetter of(
            byte[] key,
            byte[] value,
            int valueLimit,
            String reason,
            String topic,
            int partition,
            long offset,
            long timestamp) {
        DeadLetter d = new DeadLetter(null, null, reason, topic, partition, offset, timestamp);
        d.setKey(key);
        d.setValue(value, Math.min(valueLimit, MAX_VALUE_BYTES));
        return d;
    }

    /** With the source record's {@link #REDRIVEN_FROM} header value (null: none), cut to its bound. */
    public DeadLetter redrivenFrom(byte[] header) {
        redrivenFrom = header != null && header.length > MAX_REDRIVEN_FROM_BYTES
                ? Arrays.copyOf(header, MAX_REDRIVEN_FROM_BYTES)
                : header;
        return this;
    }

    private void setKey(byte[] k) {
        key = k != null && k.length > MAX_KEY_BYTES ? Arrays.copyOf(k, MAX_KEY_BYTES) : k;
        originalKeySize = k != null && k.length > MAX_KEY_BYTES ? k.length : -1;
    }

    private void setValue(byte[] v, int limit) {
        value = v != null && v.length > limit ? Arrays.copyOf(v, limit) : v;
        originalValueSize = v != null && v.length > limit ? v.length : -1;
    }

    /**
     * This dead letter within {@link #MAX_KEY_BYTES} and {@link #MAX_VALUE_BYTES}: itself when it is
     * (what the sources build always is), else a cut copy. The sink's last guard.
     */
    public DeadLetter bounded() {
        boolean keyFits = key == null || key.length <= MAX_KEY_BYTES;
        boolean valueFits = value == null || value.length <= MAX_VALUE_BYTES;
        boolean fromFits = redrivenFrom == null || redrivenFrom.length <= MAX_REDRIVEN_FROM_BYTES;
        if (keyFits && valueFits && fromFits) return this;
        DeadLetter d = new DeadLetter(key, value, reason, topic, partition, offset, timestamp);
        if (keyFits) d.originalKeySize = originalKeySize;
        if (valueFits) d.originalValueSize = originalValueSize;
        d.redrivenFrom(redrivenFrom);
        return d;
    }

    @Override
    public String toString() {
        return "DeadLetter{" + reason + " " + topic + "-" + partition + "@" + offset + "}";
    }
}
