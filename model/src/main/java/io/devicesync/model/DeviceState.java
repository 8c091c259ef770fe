package io.devicesync.model;

import java.nio.charset.StandardCharsets;

/** One published version of a device's state (topic {@code device-state}). */
public class DeviceState {
    public String deviceId;
    public long epoch;
    public long seq;
    public long ts;
    /** The whole state document, compact JSON in UTF-8. */
    public byte[] state;
    /**
     * Where the document came from: a {@link RecordSource}'s name on the topic ({@link #source()}).
     * A String, not the enum, because state nests this class as a POJO (the scheduler's episodes,
     * since 8f4564d) and Flink's POJO serializer cannot restore a field whose type changed.
     */
    public String source;

    public DeviceState() {}

    public DeviceState(String deviceId, long epoch, long seq, long ts, byte[] state, RecordSource source) {
        this.deviceId = deviceId;
        this.epoch = epoch;
        this.seq = seq;
        this.ts = ts;
        this.state = state;
        this.source = source == null ? null : source.wire;
    }

    /** {@link #source} as what it is. */
    public RecordSource source() {
        return RecordSource.of(source);
    }

    @Override
    public String toString() {
        return "DeviceState{" + deviceId + " " + epoch + "/" + seq + " " + source + " "
                + (state == null ? "null" : new String(state, StandardCharsets.UTF_8)) + "}";
    }
}
