package io.devicesync.operators.alerts;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.BreakerReport;

/**
 * An alert on its way into the AlertPolicy, with the key it is decided under (its type), or a
 * signal for that key: a consumer's BACKLOG opening or clearing, a breaker's report. A POJO
 * (Flink's serializer, no Kryo).
 */
public class PolicyInput {
    /** The policy's key: an alert type. */
    public String key;
    /** The alert to publish, fold or suppress; null for a signal. */
    public Alert alert;
    /** BACKLOG signal: the consumer whose BACKLOG opened ({@link #backlogOpen}) or cleared. */
    public String backlogConsumer;

    public boolean backlogOpen;
    /** Breaker signal. */
    public BreakerReport breaker;

    public PolicyInput() {}

    /** An alert, under its type's key. */
    public static PolicyInput alert(Alert a) {
        PolicyInput p = new PolicyInput();
        p.key = a.type.name();
        p.alert = a;
        return p;
    }

    static PolicyInput backlog(String key, String consumer, boolean open) {
        PolicyInput p = new PolicyInput();
        p.key = key;
        p.backlogConsumer = consumer;
        p.backlogOpen = open;
        return p;
    }

    /** A lookup breaker's report, as the signal for the key it inhibits (RESYNC_FAILED's). */
    public static PolicyInput breaker(BreakerReport r) {
        PolicyInput p = new PolicyInput();
        p.key = AlertType.RESYNC_FAILED.name();
        p.breaker = r;
        return p;
    }

    @Override
    public String toString() {
        return "PolicyInput{" + key + (alert != null ? " " + alert : "")
                + (backlogConsumer != null ? " backlog " + backlogConsumer + (backlogOpen ? " open" : " cleared") : "")
                + (breaker != null ? " " + breaker : "") + "}";
    }
}
