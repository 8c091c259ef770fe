package io.devicesync.operators.input;

import io.devicesync.model.DeadLetter;
import io.devicesync.operators.util.Tags;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Splits what a source read: valid records go on, rejected ones to the dead-letter side output.
 * Metrics: {@code <in>} (every record), {@code <invalid>} (also per reason, in the group {@code reason}).
 */
public abstract class Router<I, O> extends ProcessFunction<I, O> {
    private static final long serialVersionUID = 1L;

    private final String inName;
    private final String invalidName;
    private transient Counter in;
    private transient Counter invalid;
    private transient MetricGroup group;
    private transient Map<String, Counter> invalidByReason;

    protected Router(String inName, String invalidName) {
        this.inName = inName;
        this.invalidName = invalidName;
    }

    /** The valid record, or null when it was rejected. */
    protected abstract O valid(I record);

    protected abstract DeadLetter rejected(I record);

    @Override
    public void open(OpenContext ctx) {
        group = getRuntimeContext().getMetricGroup();
        in = group.counter(inName);
        invalid = group.counter(invalidName);
        invalidByReason = new HashMap<>();
    }

    @Override
    public void processElement(I r, Context ctx, Collector<O> out) {
        in.inc();
        O ok = valid(r);
        if (ok != null) {
            out.collect(ok);
            return;
        }
        DeadLetter d = rejected(r);
        invalid.inc();
        invalidByReason
                .computeIfAbsent(
                        d.reason, reason -> group.addGroup("reason", reason).counter(invalidName))
                .inc();
        ctx.output(Tags.DEAD_LETTERS, d);
    }
}
