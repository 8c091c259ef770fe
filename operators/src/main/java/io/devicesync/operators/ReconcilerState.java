package io.devicesync.operators;

/** The StateReconciler's one state value per device. */
public class ReconcilerState {
    /** False until a first version is published; then (epoch, seq) is the last published version. */
    public boolean published;

    public long epoch;
    public long seq;
    public long ts;
    /** The published state document, compact JSON bytes (parsed only to apply a patch). */
    public byte[] state;
    /** Increments held because they do not follow the published version; 0: the map is untouched. */
    public int heldCount;
    /**
     * The oldest and the newest held versions (the held increments are linked in version order
     * between them); all 0 when nothing is held, or in state of a build that did not keep them
     * (then the order is rebuilt from the held increments once).
     */
    public long heldFirstEpoch;

    public long heldFirstSeq;
    public long heldLastEpoch;
    public long heldLastSeq;
    /** Wall-clock ms since when the device waits for a repair; 0 when it does not. */
    public long waitingSince;
    /** The held buffer overflowed in the current waiting episode (one alert per episode). */
    public boolean overflowed;
    /** Consecutive repairs that did not close the device's gap (for the alert severity). */
    public int failures;
    /**
     * The document is larger than {@code --state.max-document-bytes}: versions are applied but not
     * published (one STATE_TOO_LARGE alert per episode) until it fits again.
     */
    public boolean oversized;
    /**
     * A version would have grown the document past {@code 4 x --state.max-document-bytes}: nothing
     * is applied (increments are held) until a snapshot that fits (one alert per episode).
     */
    public boolean tooLargeToKeep;
    /**
     * The device is in its subtask's count of waiting devices (the gauge, kept in operator state):
     * set with {@link #waitingSince}, cleared with it. A device restored from a build that did not
     * keep the count waits without being counted, and is counted when it is next touched.
     */
    public boolean countedWaiting;

    public ReconcilerState() {}
}
