package io.devicesync.operators;

import io.devicesync.model.Increment;
import io.devicesync.model.SourceRecord;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Splits what the source read: valid increments go on, rejected records go to the dead-letter side
 * output. Metrics: {@code eventsIn}, {@code invalidRecords} (also per reason, in the group
 * {@code reason}).
 */
public class InputRouter extends ProcessFunction<SourceRecord, Increment> {
    private static final long serialVersionUID = 1L;

    private transient Counter eventsIn;
    private transient Counter invalid;
    private transient MetricGroup group;
    private transient Map<String, Counter> invalidByReason;

    @Override
    public void open(OpenContext ctx) {
        group = getRuntimeContext().getMetricGroup();
        eventsIn = group.counter("eventsIn");
        invalid = group.counter("invalidRecords");
        invalidByReason = new HashMap<>();
    }

    @Override
    public void processElement(SourceRecord r, Context ctx, Collector<Increment> out) {
        eventsIn.inc();
        if (r.isValid()) {
            out.collect(r.increment);
        } else {
            invalid.inc();
            invalidByReason.computeIfAbsent(r.rejected.reason,
                    reason -> group.addGroup("reason", reason).counter("invalidRecords")).inc();
            ctx.output(Tags.DEAD_LETTERS, r.rejected);
        }
    }
}
