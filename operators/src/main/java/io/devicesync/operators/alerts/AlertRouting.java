package io.devicesync.operators.alerts;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.BreakerReport;
import io.devicesync.model.Json;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.util.Collector;

/**
 * Before the AlertPolicy's keyBy: each alert goes to its type's key; a BACKLOG or BACKLOG_CLEARED
 * also signals the keys it inhibits (UNCONSUMED, REDISPATCH_EXHAUSTED); a breaker report
 * (reconciler's {@link #breakerSignal}) goes to RESYNC_FAILED's key as a signal, never published.
 * Stateless; chained to nothing in particular (the alerts of the whole job are a union).
 */
public final class AlertRouting implements FlatMapFunction<Alert, PolicyInput> {
    private static final long serialVersionUID = 1L;
    /** The type of the internal record that carries a {@link BreakerReport} to the policy. */
    public static final String BREAKER_SIGNAL = "_BREAKER_REPORT";

    @Override
    public void flatMap(Alert a, Collector<PolicyInput> out) {
        if (BREAKER_SIGNAL.equals(a.type)) {
            out.collect(PolicyInput.breaker(report(a)));
            return;
        }
        boolean open = AlertType.BACKLOG.name().equals(a.type);
        if ((open || AlertType.BACKLOG_CLEARED.name().equals(a.type)) && a.consumer != null) {
            out.collect(PolicyInput.backlog(AlertType.UNCONSUMED.name(), a.consumer, open));
            out.collect(PolicyInput.backlog(AlertType.REDISPATCH_EXHAUSTED.name(), a.consumer, open));
        }
        out.collect(PolicyInput.alert(a));
    }

    /** The record the reconciler hands on for a lookup result's breaker report. */
    public static Alert breakerSignal(BreakerReport r) {
        Alert a = new Alert();
        a.type = BREAKER_SIGNAL;
        ObjectNode d = Json.MAPPER.createObjectNode();
        d.put("subtask", r.subtask)
                .put("parallelism", r.parallelism)
                .put("incarnation", r.incarnation)
                .put("generation", r.generation)
                .put("open", r.open);
        a.details = d.toString();
        return a;
    }

    static BreakerReport report(Alert a) {
        try {
            JsonNode d = Json.MAPPER.readTree(a.details);
            return new BreakerReport(
                    d.get("subtask").asInt(),
                    d.get("parallelism").asInt(),
                    d.get("incarnation").asLong(),
                    d.get("generation").asLong(),
                    d.get("open").asBoolean());
        } catch (Exception e) {
            throw new IllegalStateException("a breaker report the job wrote itself does not parse: " + a.details, e);
        }
    }
}
