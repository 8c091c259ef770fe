package io.devicesync.model;

import java.util.Objects;

/**
 * A device's version, (epoch, seq), compared epoch first. Where a version may be unknown or absent
 * (the database's, read by a lookup; what was published when a device is audited) the field is a
 * {@code Version} that is null then, never a -1. A POJO (Flink's serializer, no Kryo).
 */
public class Version implements Comparable<Version> {
    public long epoch;
    public long seq;

    public Version() {}

    public Version(long epoch, long seq) {
        this.epoch = epoch;
        this.seq = seq;
    }

    @Override
    public int compareTo(Version o) {
        return Versions.compare(epoch, seq, o.epoch, o.seq);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Version && ((Version) o).epoch == epoch && ((Version) o).seq == seq;
    }

    @Override
    public int hashCode() {
        return Objects.hash(epoch, seq);
    }

    @Override
    public String toString() {
        return Versions.format(epoch, seq);
    }
}
