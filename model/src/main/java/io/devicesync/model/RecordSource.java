package io.devicesync.model;

/** Where a published version's document came from ({@code source} on {@code device-state}). */
public enum RecordSource {
    /** The device's own increment, applied in order. */
    INCREMENT("increment"),
    /** An increment replayed from {@code device_increment} by a repair. */
    LOG("log"),
    /** A whole document from {@code device_snapshot} (a repair, or the bootstrap). */
    SNAPSHOT("snapshot");

    /** The name on the topic and in state. */
    public final String wire;

    RecordSource(String wire) {
        this.wire = wire;
    }

    /** The source of a name on the topic or in state; null for null. */
    public static RecordSource of(String wire) {
        if (wire == null) return null;
        for (RecordSource s : values()) if (s.wire.equals(wire)) return s;
        throw new IllegalArgumentException("not a record source: " + wire);
    }

    /** A name as read back: the constant's own String when it is one (no new string per record). */
    public static String canonical(String wire) {
        for (RecordSource s : values()) if (s.wire.equals(wire)) return s.wire;
        return wire;
    }

    @Override
    public String toString() {
        return wire;
    }
}
