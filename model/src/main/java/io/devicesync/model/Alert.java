package io.devicesync.model;

/**
 * An anomaly, published to {@code device-alerts}. {@code details} is a compact JSON object kept as
 * text so that the record stays a plain POJO (no Kryo); build alerts with {@link Alerts}.
 */
public class Alert {
    public String alertId;
    public AlertType type;
    public Severity severity;
    public String deviceId;
    public String consumer;
    public String cause;
    public Strategy strategy;
    /** JSON object text, "{}" when there is nothing to add. */
    public String details;

    public long ts;

    /**
     * Not published (the topic's JSON is {@link Codecs#alert}): on a RESYNC_FAILED whose lookup the
     * breaker refused, that breaker's open report, for the AlertPolicy's inhibition. Null otherwise.
     */
    public BreakerReport breaker;

    public Alert() {}

    @Override
    public String toString() {
        return "Alert{" + type + "/" + severity + " device=" + deviceId + " consumer=" + consumer + " cause=" + cause
                + " strategy=" + strategy + " details=" + details + " id=" + alertId + "}";
    }
}
