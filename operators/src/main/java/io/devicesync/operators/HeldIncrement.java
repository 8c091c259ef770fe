package io.devicesync.operators;

import io.devicesync.model.Increment;

/** An increment the reconciler holds until it follows the published version, and where it came from. */
public class HeldIncrement {
    public Increment increment;
    /** {@code increment} (the stream) or {@code log} (a lookup result). */
    public String source;

    public HeldIncrement() {}

    public HeldIncrement(Increment increment, String source) {
        this.increment = increment;
        this.source = source;
    }
}
