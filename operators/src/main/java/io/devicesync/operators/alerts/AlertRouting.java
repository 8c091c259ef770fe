package io.devicesync.operators.alerts;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.BreakerReport;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.util.Collector;

/**
 * Before the AlertPolicy's keyBy: each alert goes to its type's key; a BACKLOG or BACKLOG_CLEARED
 * also signals the keys it inhibits (UNCONSUMED, REDISPATCH_EXHAUSTED). Breaker reports come on a
 * stream of their own (the reconciler's {@code Tags.BREAKER_REPORTS}) and go to RESYNC_FAILED's
 * key as a signal, never published ({@link Breakers}). Stateless; chained to nothing in particular
 * (the alerts of the whole job are a union).
 */
public final class AlertRouting implements FlatMapFunction<Alert, PolicyInput> {
    private static final long serialVersionUID = 1L;

    @Override
    public void flatMap(Alert a, Collector<PolicyInput> out) {
        boolean open = a.type == AlertType.BACKLOG;
        if ((open || a.type == AlertType.BACKLOG_CLEARED) && a.consumer != null) {
            out.collect(PolicyInput.backlog(AlertType.UNCONSUMED.name(), a.consumer, open));
            out.collect(PolicyInput.backlog(AlertType.REDISPATCH_EXHAUSTED.name(), a.consumer, open));
        }
        out.collect(PolicyInput.alert(a));
    }

    /** A lookup breaker's report, as the signal for the key it inhibits (RESYNC_FAILED's). */
    public static final class Breakers implements MapFunction<BreakerReport, PolicyInput> {
        private static final long serialVersionUID = 1L;

        @Override
        public PolicyInput map(BreakerReport r) {
            return PolicyInput.breaker(r);
        }
    }
}
