package io.devicesync.model;

import java.nio.charset.StandardCharsets;

/** One published version of a device's state (topic {@code device-state}). */
public class DeviceState {
    public static final String SOURCE_INCREMENT = "increment";
    public static final String SOURCE_LOG = "log";
    public static final String SOURCE_SNAPSHOT = "snapshot";

    public String deviceId;
    public long epoch;
    public long seq;
    public long ts;
    /** The whole state document, compact JSON in UTF-8. */
    public byte[] state;
    /** {@code increment}, {@code log} or {@code snapshot}. */
    public String source;

    public DeviceState() {}

    public DeviceState(String deviceId, long epoch, long seq, long ts, byte[] state, String source) {
        this.deviceId = deviceId;
        this.epoch = epoch;
        this.seq = seq;
        this.ts = ts;
        this.state = state;
        this.source = source;
    }

    @Override
    public String toString() {
        return "DeviceState{" + deviceId + " " + epoch + "/" + seq + " " + source + " "
                + (state == null ? "null" : new String(state, StandardCharsets.UTF_8)) + "}";
    }
}
