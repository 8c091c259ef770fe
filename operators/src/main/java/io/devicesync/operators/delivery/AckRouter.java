package io.devicesync.operators.delivery;

import io.devicesync.model.Ack;
import io.devicesync.model.AckRecord;
import io.devicesync.operators.Tags;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Splits what the acks source read: valid acks go on, malformed ones to the dead-letter side output
 * (to the dead-letter topic and the INVALID_INPUT alerts, like rejected increments). Metrics:
 * {@code acksIn}, {@code invalidAcks} (also per reason, in the group {@code reason}).
 */
public class AckRouter extends ProcessFunction<AckRecord, Ack> {
    private static final long serialVersionUID = 1L;

    private transient Counter acksIn;
    private transient Counter invalid;
    private transient MetricGroup group;
    private transient Map<String, Counter> invalidByReason;

    @Override
    public void open(OpenContext ctx) {
        group = getRuntimeContext().getMetricGroup();
        acksIn = group.counter("acksIn");
        invalid = group.counter("invalidAcks");
        invalidByReason = new HashMap<>();
    }

    @Override
    public void processElement(AckRecord r, Context ctx, Collector<Ack> out) {
        acksIn.inc();
        if (r.isValid()) {
            out.collect(r.ack);
        } else {
            invalid.inc();
            invalidByReason.computeIfAbsent(r.rejected.reason,
                    reason -> group.addGroup("reason", reason).counter("invalidAcks")).inc();
            ctx.output(Tags.DEAD_LETTERS, r.rejected);
        }
    }
}
