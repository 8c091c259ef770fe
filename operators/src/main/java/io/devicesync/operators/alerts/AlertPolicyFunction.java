package io.devicesync.operators.alerts;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The AlertPolicy stage in Flink: keyed by alert type ({@link AlertRouting}), it loads the key's
 * {@link PolicyState}, lets {@link AlertPolicy} decide, publishes what it says and saves. A
 * processing-time timer at the minute's end publishes the minute's summaries (also published by
 * the first input of a later minute, whichever comes first). State and timers are checkpointed: a
 * restore in the middle of a minute keeps its counts and summaries.
 *
 * <p>Metrics, per type (group {@code alertType}): {@code alertsPublished}, {@code alertsSummarized},
 * {@code alertsSuppressed}; and {@code databaseBreakersOpen}, {@code databaseUnavailable} (0/1) on
 * the subtask that holds RESYNC_FAILED's key (0 elsewhere: take the maximum over subtasks).
 */
public class AlertPolicyFunction extends KeyedProcessFunction<String, PolicyInput, Alert> {
    private static final long serialVersionUID = 1L;

    private final int maxPerMinute;
    private final long windowMs;

    private transient AlertPolicy rules;
    private transient ValueState<PolicyState> state;
    private transient MetricGroup metrics;
    private transient Map<String, Counter[]> counters;
    private transient Out out;
    private transient volatile int breakersOpen;
    private transient volatile int databaseUnavailable;

    public AlertPolicyFunction(int maxPerMinute) {
        this(maxPerMinute, AlertPolicy.WINDOW_MS);
    }

    /** {@code maxPerMinute} alerts of a type per window of {@code windowMs} ({@code --alerts.window}). */
    public AlertPolicyFunction(int maxPerMinute, long windowMs) {
        this.maxPerMinute = maxPerMinute;
        this.windowMs = windowMs;
    }

    @Override
    public void open(OpenContext ctx) {
        rules = new AlertPolicy(maxPerMinute, windowMs);
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("policy", PolicySerializer.TYPE));
        metrics = getRuntimeContext().getMetricGroup();
        counters = new HashMap<>();
        out = new Out();
        metrics.gauge("databaseBreakersOpen", () -> breakersOpen);
        metrics.gauge("databaseUnavailable", () -> databaseUnavailable);
        // The policy's own types show from the start, at 0.
        counters(AlertType.ALERT_SUMMARY.name());
        counters(AlertType.DATABASE_UNAVAILABLE.name());
        counters(AlertType.DATABASE_RECOVERED.name());
    }

    @Override
    public void processElement(PolicyInput in, Context ctx, Collector<Alert> collector) throws Exception {
        PolicyState s = load();
        long now = ctx.timerService().currentProcessingTime();
        out.to(collector);
        if (in.alert != null) rules.onAlert(s, in.alert, now, out);
        else if (in.breaker != null) rules.onBreaker(s, in.breaker, now, out);
        else if (in.backlogConsumer != null) rules.onBacklog(s, in.backlogConsumer, in.backlogOpen);
        save(s, ctx.timerService());
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Alert> collector) throws Exception {
        PolicyState s = load();
        out.to(collector);
        rules.onTime(s, Math.max(timestamp, ctx.timerService().currentProcessingTime()), out);
        save(s, ctx.timerService());
    }

    /** The key's state, a new one when none (a restore on heap may have left bytes: {@link PolicySerializer}). */
    private PolicyState load() throws java.io.IOException {
        PolicyState s = PolicySerializer.INSTANCE.value(((ValueState<?>) state).value());
        return s == null ? new PolicyState() : s;
    }

    private void save(PolicyState s, org.apache.flink.streaming.api.TimerService timers) throws Exception {
        state.update(s);
        long due = rules.summariesDue(s);
        if (due >= 0) timers.registerProcessingTimeTimer(due); // the same time again is one timer
        if (!s.breakers.isEmpty() || s.databaseUnavailable) {
            breakersOpen = s.breakersOpen();
            databaseUnavailable = s.databaseUnavailable ? 1 : 0;
        }
    }

    /** published, summarized, suppressed: created on first use of a type, on the task thread. */
    private Counter[] counters(String type) {
        return counters.computeIfAbsent(type, t -> {
            MetricGroup g = metrics.addGroup("alertType", t);
            return new Counter[] {
                g.counter("alertsPublished"), g.counter("alertsSummarized"), g.counter("alertsSuppressed")
            };
        });
    }

    private final class Out implements AlertPolicy.Effects {
        private Collector<Alert> collector;

        void to(Collector<Alert> c) {
            collector = c;
        }

        @Override
        public void publish(Alert alert) {
            counters(alert.type.name())[0].inc();
            collector.collect(alert);
        }

        @Override
        public void summarized(String type) {
            counters(type)[1].inc();
        }

        @Override
        public void suppressed(String type) {
            counters(type)[2].inc();
        }
    }
}
