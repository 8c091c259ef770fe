package io.devicesync.model;

import java.util.Arrays;
import java.util.Objects;

/**
 * One incremental state message of a device, as read from {@code device-events} and validated.
 *
 * <p>{@code data} holds the JSON object of the message as compact UTF-8 bytes: it is parsed only
 * where it is applied as a merge patch. A Flink POJO (public fields, no-arg constructor).
 */
public class Increment {
    public String deviceId;
    public long epoch;
    public long seq;
    /** Event time, ms since the Unix epoch. */
    public long ts;
    /** The {@code data} object, compact JSON in UTF-8. */
    public byte[] data;
    /**
     * Not an increment: the SequenceGuard forgot this device (silent for the idle TTL) and tells
     * the reconciler, which forgets it too. Never read from Kafka.
     */
    public boolean forget;
    /**
     * Not an increment either: a device's row of {@code device_snapshot} read by the bootstrap
     * ({@code --bootstrap.from-database}); {@code data} is its whole state document. It goes from
     * the bootstrap source through the SequenceGuard (which seeds only a device that has forwarded
     * nothing yet) to the reconciler, and is never held, so it is never in keyed state. Transient:
     * no POJO serializer writes it (the reconciler's held increments are POJOs); the job's
     * exchanges write it ({@code Compact.INCREMENT}).
     */
    public transient boolean seed;

    public Increment() {}

    /** A device's snapshot row, read by the bootstrap: its version, its time and its whole document. */
    public static Increment seed(String deviceId, long epoch, long seq, long ts, byte[] document) {
        Increment i = new Increment(deviceId, epoch, seq, ts, document);
        i.seed = true;
        return i;
    }

    /** The SequenceGuard's word that it forgot {@code deviceId}. */
    public static Increment forget(String deviceId, long ts) {
        Increment i = new Increment(deviceId, 0, 0, ts, null);
        i.forget = true;
        return i;
    }

    public Increment(String deviceId, long epoch, long seq, long ts, byte[] data) {
        this.deviceId = deviceId;
        this.epoch = epoch;
        this.seq = seq;
        this.ts = ts;
        this.data = data;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Increment)) return false;
        Increment that = (Increment) o;
        return epoch == that.epoch
                && seq == that.seq
                && ts == that.ts
                && Objects.equals(deviceId, that.deviceId)
                && Arrays.equals(data, that.data);
    }

    @Override
    public int hashCode() {
        return Objects.hash(deviceId, epoch, seq, ts) * 31 + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return (seed ? "Seed{" : forget ? "Forget{" : "Increment{") + deviceId + " " + epoch + "/" + seq + " ts=" + ts
                + " data=" + (data == null ? "null" : new String(data, java.nio.charset.StandardCharsets.UTF_8)) + "}";
    }
}
