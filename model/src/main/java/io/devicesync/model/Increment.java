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

    public Increment() {}

    /**
     * Not an increment: the SequenceGuard forgot this device (silent for the idle TTL) and tells
     * the reconciler, which forgets it too. Never read from Kafka, never held.
     */
    public static final class Forget extends Increment {
        public Forget() {}

        public Forget(String deviceId, long epoch, long seq, long ts, byte[] data) {
            super(deviceId, epoch, seq, ts, data);
        }
    }

    /**
     * Not an increment either: a device's row of {@code device_snapshot} read by the bootstrap
     * ({@code --bootstrap.from-database}); {@code data} is its whole state document. It goes from
     * the bootstrap source through the SequenceGuard (which seeds only a device that has forwarded
     * nothing yet) to the reconciler, and is never held, so it is never in keyed state.
     */
    public static final class Seed extends Increment {
        public Seed() {}

        public Seed(String deviceId, long epoch, long seq, long ts, byte[] data) {
            super(deviceId, epoch, seq, ts, data);
        }
    }

    /** A device's snapshot row, read by the bootstrap: its version, its time and its whole document. */
    public static Increment seed(String deviceId, long epoch, long seq, long ts, byte[] document) {
        return new Seed(deviceId, epoch, seq, ts, document);
    }

    /** The SequenceGuard's word that it forgot {@code deviceId}. */
    public static Increment forget(String deviceId, long ts) {
        return new Forget(deviceId, 0, 0, ts, null);
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
        if (o == null || o.getClass() != getClass()) return false; // a Forget or a Seed is no increment
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
        return (this instanceof Seed ? "Seed{" : this instanceof Forget ? "Forget{" : "Increment{") + deviceId + " "
                + epoch + "/" + seq + " ts=" + ts + " data="
                + (data == null ? "null" : new String(data, java.nio.charset.StandardCharsets.UTF_8)) + "}";
    }
}
