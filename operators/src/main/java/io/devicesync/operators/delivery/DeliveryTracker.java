package io.devicesync.operators.delivery;

import io.devicesync.model.Ack;
import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.model.Versions;
import io.devicesync.operators.Tags;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keyed by deviceId. Input 1: the versions the reconciler published (same key, no reshuffle);
 * input 2: acks. Keeps, per device and listed consumer, the ack position and what is pending
 * ({@link DeliveryRules} decides); emits UNCONSUMED alerts and, for the RedispatchScheduler, due
 * attempts, exhaustions and closed episodes. State exists only while something is pending (or a
 * consumer is parked) and has one event-time timer at most, rounded up to the second.
 *
 * <p>Metrics, per consumer (group {@code consumer}): {@code acksApplied}, {@code acksStale},
 * {@code unconsumedEpisodes}, {@code ackLatencyMs} (from the publication of the first version an
 * ack newly covers); and {@code acksFromUnknownConsumers}.
 */
public class DeliveryTracker extends KeyedCoProcessFunction<String, DeviceState, Ack, DeliveryEvent> {
    private static final long serialVersionUID = 1L;

    public static final String STATE = "delivery";

    private final List<String> consumers;
    private final DeliverySchedule schedule;
    private final Duration idleTtl;

    private transient ValueState<DeliveryState> device;
    private transient DeliveryRules rules;
    private transient Map<String, ConsumerMetrics> metrics;
    private transient Counter unknownConsumers;
    private transient Emitter emitter;

    public DeliveryTracker(List<String> consumers, DeliverySchedule schedule, Duration idleTtl) {
        this.consumers = List.copyOf(consumers);
        this.schedule = schedule;
        this.idleTtl = idleTtl;
    }

    static final class ConsumerMetrics {
        final Counter applied;
        final Counter stale;
        final Counter unconsumed;
        final Histogram latency;

        ConsumerMetrics(MetricGroup g) {
            applied = g.counter("acksApplied");
            stale = g.counter("acksStale");
            unconsumed = g.counter("unconsumedEpisodes");
            latency = g.histogram("ackLatencyMs", new DescriptiveStatisticsHistogram(1000));
        }
    }

    @Override
    public void open(OpenContext ctx) {
        ValueStateDescriptor<DeliveryState> d = new ValueStateDescriptor<>(STATE, TypeInformation.of(DeliveryState.class));
        StateTtlConfig ttl = StateTtlConfig.newBuilder(idleTtl)
                .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                .build();
        d.enableTimeToLive(ttl);
        device = getRuntimeContext().getState(d);
        rules = new DeliveryRules(consumers, schedule);
        MetricGroup group = getRuntimeContext().getMetricGroup();
        metrics = new HashMap<>();
        for (String c : consumers) metrics.put(c, new ConsumerMetrics(group.addGroup("consumer", c)));
        unknownConsumers = group.counter("acksFromUnknownConsumers");
        emitter = new Emitter();
    }

    @Override
    public void processElement1(DeviceState v, Context ctx, Collector<DeliveryEvent> out) throws Exception {
        DeliveryState s = rules.align(device.value());
        rules.published(s, v, Math.max(v.ts, ctx.timerService().currentWatermark()));
        save(s, ctx);
    }

    @Override
    public void processElement2(Ack a, Context ctx, Collector<DeliveryEvent> out) throws Exception {
        ConsumerMetrics m = metrics.get(a.consumer);
        if (m == null) {
            unknownConsumers.inc();
            return;
        }
        DeliveryState s = device.value();
        if (s == null) {
            // Nothing pending: everything published was acknowledged (or the device was forgotten).
            // Tell the scheduler anyway: a parking it still counts ends with this ack.
            m.applied.inc();
            DeliveryEvent e = new DeliveryEvent();
            e.kind = DeliveryEvent.Kind.CLOSED;
            e.consumer = a.consumer;
            e.deviceId = a.deviceId;
            e.epoch = a.epoch;
            e.seq = a.seq;
            out.collect(e);
            return;
        }
        s = rules.align(s);
        long at = Math.max(a.ts, ctx.timerService().currentWatermark());
        ConsumerTrack c = DeliveryRules.find(s, a.consumer);
        boolean coversFirst = c.status != ConsumerTrack.Status.IDLE
                && Versions.compare(a.epoch, a.seq, c.firstEpoch, c.firstSeq) >= 0;
        long latency = DeliveryRules.ackLatency(c, at);
        DeliveryRules.AckOutcome outcome = rules.ack(s, ctx.getCurrentKey(), a, at, emitter.to(ctx, out));
        if (outcome == DeliveryRules.AckOutcome.STALE) {
            m.stale.inc();
            return;
        }
        m.applied.inc();
        if (coversFirst) m.latency.update(latency);
        save(s, ctx);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<DeliveryEvent> out) throws Exception {
        long watermark = ctx.timerService().currentWatermark();
        // The end of event time (a drained stop, the end of a bounded input) is not the passing of
        // every deadline: nothing is alerted or sent; a job restored from here carries on.
        if (watermark == Long.MAX_VALUE) return;
        DeliveryState s = device.value();
        if (s == null) return;
        s = rules.align(s);
        if (s.timer == timestamp) s.timer = 0;
        rules.time(s, ctx.getCurrentKey(), Math.max(timestamp, watermark), emitter.to(ctx, out));
        save(s, ctx);
    }

    private void save(DeliveryState s, Context ctx) throws Exception {
        if (rules.quiet(s)) {
            if (s.timer != 0) ctx.timerService().deleteEventTimeTimer(s.timer);
            device.clear();
            return;
        }
        long next = rules.nextTimer(s);
        if (next == Long.MAX_VALUE) next = 0;
        if (next != s.timer) {
            if (s.timer != 0) ctx.timerService().deleteEventTimeTimer(s.timer);
            if (next != 0) ctx.timerService().registerEventTimeTimer(next);
            s.timer = next;
        }
        device.update(s);
    }

    /** Turns the rules' effects into records, alerts and metrics. */
    private final class Emitter implements DeliveryRules.Effects {
        private Context ctx;
        private Collector<DeliveryEvent> out;

        Emitter to(Context ctx, Collector<DeliveryEvent> out) {
            this.ctx = ctx;
            this.out = out;
            return this;
        }

        @Override
        public void unconsumed(String deviceId, ConsumerTrack c, long at) {
            metrics.get(c.name).unconsumed.inc();
            Alert alert = Alerts.of(AlertType.UNCONSUMED, Severity.WARNING)
                    .device(deviceId)
                    .consumer(c.name)
                    .cause(c.name + " did not acknowledge " + Versions.format(c.firstEpoch, c.firstSeq)
                            + " within its deadline; redispatching")
                    .strategy(Strategy.REDISPATCH)
                    .detail("epoch", c.firstEpoch)
                    .detail("seq", c.firstSeq)
                    .detailOrNull("ackedEpoch", c.hasAck() ? c.ackEpoch : -1)
                    .detailOrNull("ackedSeq", c.hasAck() ? c.ackSeq : -1)
                    .ts(at)
                    .build(Long.toString(c.firstEpoch), Long.toString(c.firstSeq));
            ctx.output(Tags.ALERTS, alert);
        }

        @Override
        public void attempt(String deviceId, ConsumerTrack c, DeviceState latest) {
            out.collect(DeliveryEvent.of(DeliveryEvent.Kind.ATTEMPT, c.name, deviceId, c, latest));
        }

        @Override
        public void exhausted(String deviceId, ConsumerTrack c, DeviceState latest) {
            out.collect(DeliveryEvent.of(DeliveryEvent.Kind.EXHAUSTED, c.name, deviceId, c, latest));
        }

        @Override
        public void closed(String deviceId, ConsumerTrack c) {
            out.collect(DeliveryEvent.of(DeliveryEvent.Kind.CLOSED, c.name, deviceId, c, null));
        }
    }
}
