package io.devicesync.model;

/** A device's version is the pair (epoch, seq), compared epoch first. */
public final class Versions {
    private Versions() {}

    public static int compare(long epochA, long seqA, long epochB, long seqB) {
        int c = Long.compare(epochA, epochB);
        return c != 0 ? c : Long.compare(seqA, seqB);
    }

    public static String format(long epoch, long seq) {
        return epoch + "/" + seq;
    }
}
