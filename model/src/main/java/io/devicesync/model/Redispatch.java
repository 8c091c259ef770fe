package io.devicesync.model;

/**
 * A device's latest state sent again for one consumer (topic {@code device-redispatch}), or, once
 * the attempts are exhausted, the last such record on its way to {@code device-redispatch-dlq}.
 */
public class Redispatch {
    public DeviceState state;
    public String consumer;
    /** The attempt number, 1..{@code --redispatch.max-attempts}. */
    public int attempt;
    /** Dead letters only: the attempts actually sent (some may have been replaced in the queue). */
    public int attemptsSent;

    public Redispatch() {}

    public Redispatch(DeviceState state, String consumer, int attempt) {
        this.state = state;
        this.consumer = consumer;
        this.attempt = attempt;
    }

    @Override
    public String toString() {
        return "Redispatch{" + consumer + " #" + attempt + " " + state + "}";
    }
}
