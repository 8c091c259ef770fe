package io.devicesync.operators.alerts;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import java.util.function.Consumer;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Before the AlertPolicy's keyBy: each alert goes to its type's key; a BACKLOG or BACKLOG_CLEARED
 * also signals the keys it inhibits (UNCONSUMED, REDISPATCH_EXHAUSTED). Stateless; chained to
 * nothing in particular (the alerts of the whole job are a union).
 *
 * <p>The reconciler routes its own ({@link #RECONCILER}): its alerts and the lookup breakers'
 * reports (which ride on lookup results) leave it on one side output, so that the AlertPolicy
 * receives those of one reconciler subtask in the order that subtask saw them (one channel, FIFO).
 * A RESYNC_FAILED that an outage caused, seen there just before the breaker's closing report,
 * reaches the policy while the breaker still counts as open (folded into the outage). Across
 * subtasks there is no such order: a failure refused by an open breaker, or failed while it was
 * not closed, carries that breaker's report ({@code LookupResult.rejectedBy}) for that.
 */
public final class AlertRouting implements FlatMapFunction<Alert, PolicyInput> {
    private static final long serialVersionUID = 1L;

    /** The reconciler's alerts and breaker reports, already routed, in the order it emitted them. */
    public static final OutputTag<PolicyInput> RECONCILER =
            new OutputTag<>("reconciler-alerts", TypeInformation.of(PolicyInput.class));

    @Override
    public void flatMap(Alert a, Collector<PolicyInput> out) {
        route(a, out::collect);
    }

    /** What the policy receives for one alert: the alert under its type's key, and any signals. */
    public static void route(Alert a, Consumer<PolicyInput> out) {
        boolean open = a.type == AlertType.BACKLOG;
        if ((open || a.type == AlertType.BACKLOG_CLEARED) && a.consumer != null) {
            out.accept(PolicyInput.backlog(AlertType.UNCONSUMED.name(), a.consumer, open));
            out.accept(PolicyInput.backlog(AlertType.REDISPATCH_EXHAUSTED.name(), a.consumer, open));
        }
        out.accept(PolicyInput.alert(a));
    }
}
