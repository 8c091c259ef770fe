package io.devicesync.operators.delivery;

import io.devicesync.model.Ack;
import io.devicesync.model.Alert;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Versions;
import io.devicesync.operators.util.IdleTtl;
import io.devicesync.operators.util.Tags;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keyed by deviceId. Input 1: the versions the reconciler published (keyed as the reconciler: each stays on its subtask);
 * input 2: acks, each device's gathered by the {@link AckCoalescer}. Keeps, per device and listed consumer, the ack position and what is pending
 * ({@link DeliveryRules} decides); emits UNCONSUMED alerts and, for the RedispatchScheduler, due
 * attempts, exhaustions and closed episodes. A device has state while something is pending (or a
 * consumer is parked) and for one deadline after everything was acknowledged, then it is
 * forgotten; it has one event-time timer at most, rounded up to the second. The state's serializer
 * is {@link DeliveryCodec}'s; the latest document is apart, for attempts only.
 *
 * <p>Metrics, per consumer (group {@code consumer}): {@code acksApplied}, {@code acksStale},
 * {@code unconsumedEpisodes}, {@code ackLatencyMs} (from the publication of the first version an
 * ack newly covers); and {@code acksFromUnknownConsumers}, {@code attemptsWithoutState},
 * {@code parkedDevicesForgotten}, {@code expiredDevicesForgotten} (state gone by the TTL backstop
 * before the device's timer fired).
 */
public class DeliveryTracker extends KeyedCoProcessFunction<String, DeviceState, AckBatch, DeliveryEvent> {
    private static final long serialVersionUID = 1L;

    public static final String STATE = "delivery";
    /** The latest published version of a device whose state is kept: what an attempt sends. */
    public static final String LATEST = "delivery-latest";

    private final List<String> consumers;
    /** Each consumer's schedule, by name. */
    private final java.util.LinkedHashMap<String, DeliverySchedule> schedules;

    private final Duration idleTtl;
    private final long maxFutureSkew;

    /** {@link DeliveryState} and the latest version ({@link DeliveryCodec}); read with {@link #load}. */
    private transient ValueState<DeliveryState> device;

    private transient ValueState<DeviceState> latest;
    private transient DeliveryRules rules;
    private transient Map<String, ConsumerMetrics> metrics;
    private transient Counter unknownConsumers;
    private transient Counter attemptsWithoutState;
    private transient Counter parkedForgotten;
    private transient Counter expiredForgotten;
    private transient Emitter emitter;

    /**
     * @param maxFutureSkew a version's time counts at most this far past the watermark (as in the
     *     watermarks): a device clock far ahead cannot push its deadlines months out
     */
    public DeliveryTracker(
            List<String> consumers, DeliverySchedule schedule, Duration idleTtl, Duration maxFutureSkew) {
        this(consumers, DeliveryRules.sameFor(consumers, schedule), idleTtl, maxFutureSkew);
    }

    /** @param schedules each consumer's schedule ({@code --delivery.consumer.<name>.*} over the job-wide values) */
    public DeliveryTracker(
            List<String> consumers, Map<String, DeliverySchedule> schedules, Duration idleTtl, Duration maxFutureSkew) {
        this.consumers = List.copyOf(consumers);
        this.schedules = new java.util.LinkedHashMap<>(schedules);
        this.idleTtl = idleTtl;
        this.maxFutureSkew = maxFutureSkew.toMillis();
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
        device = getRuntimeContext().getState(stateDescriptor(idleTtl));
        latest = getRuntimeContext().getState(latestDescriptor(idleTtl));
        rules = new DeliveryRules(consumers, schedules);
        MetricGroup group = getRuntimeContext().getMetricGroup();
        metrics = new HashMap<>();
        for (String c : consumers) metrics.put(c, new ConsumerMetrics(group.addGroup("consumer", c)));
        unknownConsumers = group.counter("acksFromUnknownConsumers");
        attemptsWithoutState = group.counter("attemptsWithoutState");
        parkedForgotten = group.counter("parkedDevicesForgotten");
        expiredForgotten = group.counter("expiredDevicesForgotten");
        emitter = new Emitter();
    }

    /**
     * The descriptor of {@link #STATE} as the tracker registers it (name, serializer, TTL), for the
     * job's {@code --state.idle-ttl}: what a reader of its state ({@code Inspect}) registers too.
     * Read its values with {@link #stateOf}.
     */
    public static ValueStateDescriptor<DeliveryState> stateDescriptor(Duration idleTtl) {
        ValueStateDescriptor<DeliveryState> d = new ValueStateDescriptor<>(STATE, DeliveryCodec.STATE);
        // A day longer than --state.idle-ttl: a parked device is forgotten by its own timer after
        // the idle TTL (in event time), telling the scheduler; the TTL is only the backstop.
        // No cleanup in the background: a drained restore's pass lists the stored keys, and must
        // find an expired device to tell its schedulers (RocksDB's compaction filter would drop it
        // unseen; a timer needs no value, it tells them on finding none). The storage of an
        // expired value is then freed when its timer or that pass reads it, not before.
        d.enableTimeToLive(StateTtlConfig.newBuilder(idleTtl.plusDays(1))
                .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                .disableCleanupInBackground()
                .build());
        return d;
    }

    /** The descriptor of {@link #LATEST} (see {@link #stateDescriptor}); read its values with {@link #latestOf}. */
    public static ValueStateDescriptor<DeviceState> latestDescriptor(Duration idleTtl) {
        ValueStateDescriptor<DeviceState> l = new ValueStateDescriptor<>(LATEST, DeliveryCodec.LATEST);
        // Written only on publication, while acks rewrite the other state: a day longer, and
        // refreshed when an attempt reads it. Should it still be gone, the attempt is skipped.
        // Cleaned up as the per-device states are (IdleTtl): in RocksDB's compactions and full
        // snapshots, not on the heap backend's every state access.
        l.enableTimeToLive(IdleTtl.builder(idleTtl.plusDays(1))
                .setUpdateType(StateTtlConfig.UpdateType.OnReadAndWrite)
                .build());
        return l;
    }

    /**
     * The device's value of {@link #STATE}, or null: what the state holds, or, where a restore on
     * heap left 8f4564d's bytes, those decoded ({@link io.devicesync.operators.serde.CodecSerializer}).
     */
    public static DeliveryState stateOf(ValueState<DeliveryState> state) throws java.io.IOException {
        Object stored = ((ValueState<?>) state).value();
        return DeliveryCodec.STATE_SERIALIZER.value(stored);
    }

    /** The device's value of {@link #LATEST}, or null (see {@link #stateOf}). */
    public static DeviceState latestOf(ValueState<DeviceState> latest, String deviceId) throws java.io.IOException {
        Object stored = ((ValueState<?>) latest).value();
        DeviceState v = DeliveryCodec.LATEST_SERIALIZER.value(stored);
        if (v != null && v.deviceId == null) v.deviceId = deviceId;
        return v;
    }

    private DeliveryState load() throws java.io.IOException {
        return stateOf(device);
    }

    @Override
    public void processElement1(DeviceState v, Context ctx, Collector<DeliveryEvent> out) throws Exception {
        DeliveryState s = rules.align(load());
        long at = publishedAt(v.ts, ctx);
        rules.published(s, v, at);
        if (!rules.quiet(s)) {
            latest.update(v);
            s.latestStored = true;
        }
        save(s, ctx, at, true);
    }

    /**
     * When a version was published, for its deadline: as {@link #eventTime}, and no earlier than
     * the wall clock (processing time) at which the job publishes it. Consumers see a version in
     * wall-clock time; during a catch-up (a backlog read after a stop, an outage, a lagging group)
     * event time follows the old data at many times the speed of the wall clock, and a deadline
     * counted from the version's own time alone would pass before any consumer could read it:
     * every healthy consumer would be UNCONSUMED, redispatched to and dead-lettered. In steady
     * state the two differ by the pipeline's latency.
     */
    long publishedAt(long ts, Context ctx) {
        return Math.max(eventTime(ts, ctx), ctx.timerService().currentProcessingTime());
    }

    /**
     * When a version was published or an ack came: the later of its time and the watermark, its
     * time at most the skew ahead of the watermark (before the first watermark, of the wall clock,
     * which idle event time follows).
     */
    long eventTime(long ts, Context ctx) {
        long watermark = ctx.timerService().currentWatermark();
        long reference = watermark == Long.MIN_VALUE ? ctx.timerService().currentProcessingTime() : watermark;
        long limit = reference > Long.MAX_VALUE - maxFutureSkew ? Long.MAX_VALUE : reference + maxFutureSkew;
        return Math.max(watermark, Math.min(ts, limit));
    }

    /**
     * A device's acks as the AckCoalescer gathered them (the latest of each consumer): applied in
     * turn to the device's state, read once and written once.
     */
    @Override
    public void processElement2(AckBatch batch, Context ctx, Collector<DeliveryEvent> out) throws Exception {
        DeliveryState s = null;
        boolean loaded = false;
        boolean changed = false;
        long at = 0;
        for (Ack a : batch.acks) {
            ConsumerMetrics m = metrics.get(a.consumer);
            if (m == null) {
                unknownConsumers.inc();
                continue;
            }
            if (!loaded) {
                s = load();
                if (s != null) s = rules.align(s);
                loaded = true;
            }
            if (s == null) {
                // Nothing pending: everything published was acknowledged (or the device was
                // forgotten). Tell the scheduler anyway: a parking it still counts ends with this ack.
                m.applied.inc();
                DeliveryEvent e = new DeliveryEvent();
                e.kind = DeliveryEvent.Kind.CLOSED;
                e.consumer = a.consumer;
                e.deviceId = a.deviceId;
                e.epoch = a.epoch;
                e.seq = a.seq;
                out.collect(e);
                continue;
            }
            long ackAt = eventTime(a.ts, ctx);
            ConsumerTrack c = DeliveryRules.find(s, a.consumer);
            boolean coversFirst = c.status != ConsumerTrack.Status.IDLE
                    && Versions.compare(a.epoch, a.seq, c.firstEpoch, c.firstSeq) >= 0;
            long latency = DeliveryRules.ackLatency(c, ackAt);
            DeliveryRules.AckOutcome outcome = rules.ack(s, ctx.getCurrentKey(), a, ackAt, emitter.to(ctx, out));
            if (outcome == DeliveryRules.AckOutcome.STALE) {
                m.stale.inc();
                continue;
            }
            m.applied.inc();
            if (coversFirst) m.latency.update(latency);
            changed = true;
            at = Math.max(at, ackAt);
        }
        if (changed) save(s, ctx, at, true);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<DeliveryEvent> out) throws Exception {
        long watermark = ctx.timerService().currentWatermark();
        // The end of event time (a drained stop, the end of a bounded input) is not the passing of
        // every deadline: nothing is alerted or sent. The timer is spent, though: a job restored
        // from here arms it again (see DeliveryTrackerOperator).
        if (watermark == Long.MAX_VALUE) return;
        DeliveryState s = load();
        if (s == null) {
            // Its state expired by the TTL backstop before its own timer could forget it (the job
            // was stopped for longer than the day the backstop adds to the idle TTL): forgotten.
            // Which consumers were parked is gone with it, so every listed consumer's scheduler is
            // told; one without an entry for the device drops it (a lookup). (A stale timer of a
            // device that expired, started afresh and was forgotten again finds no state too: the
            // CLOSED then find nothing to close.)
            forgetExpired(ctx.getCurrentKey(), out::collect);
            return;
        }
        s = rules.align(s);
        if (s.timer == timestamp) s.timer = 0;
        long now = Math.max(timestamp, watermark);
        if (rules.quiet(s) && s.timer == 0 && (s.forgetAt == 0 || s.forgetAt <= now)) {
            // Quiet for a deadline: forgotten.
            device.clear();
            if (s.latestStored) latest.clear();
            return;
        }
        String deviceId = ctx.getCurrentKey();
        if (rules.parkedOnly(s) && s.forgetAt != 0 && s.forgetAt <= now && s.timer == 0) {
            // Parked, and nothing published or acknowledged for the idle TTL: forgotten, and each
            // consumer's scheduler told, so that the device leaves its backlog (DESIGN.md).
            for (ConsumerTrack c : s.consumers) {
                if (c.status == ConsumerTrack.Status.PARKED) {
                    out.collect(DeliveryEvent.of(DeliveryEvent.Kind.CLOSED, c.name, deviceId, c, null));
                }
            }
            parkedForgotten.inc();
            device.clear();
            if (s.latestStored) latest.clear();
            return;
        }
        rules.time(s, deviceId, now, () -> latestState(deviceId), emitter.to(ctx, out));
        save(s, ctx, now, false);
    }

    /**
     * The device's state expired by the TTL backstop (the job was stopped for longer than the idle
     * TTL and a day): every listed consumer's scheduler is told (CLOSED), so that whatever entry it
     * has for the device, parked or with an open episode, leaves the backlog with it.
     */
    private void forgetExpired(String deviceId, java.util.function.Consumer<DeliveryEvent> out) {
        for (String c : consumers) {
            DeliveryEvent e = new DeliveryEvent();
            e.kind = DeliveryEvent.Kind.CLOSED;
            e.consumer = c;
            e.deviceId = deviceId;
            out.accept(e);
        }
        device.clear(); // reading it expired already dropped it (Flink's cleanup on read): to be plain
        latest.clear();
        expiredForgotten.inc();
    }

    /** {@code expiredDevicesForgotten} so far, for tests. */
    long expiredDevicesForgotten() {
        return expiredForgotten.getCount();
    }

    private DeviceState latestState(String deviceId) {
        try {
            return latestOf(latest, deviceId);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Saves the device's state with the one timer it needs: the earliest step due, or, once quiet,
     * the time it is forgotten. A timer already set earlier is kept (it fires, and sets the next):
     * a device that publishes and is acknowledged all the time costs about one timer per deadline,
     * not one per version.
     */
    private void save(DeliveryState s, Context ctx, long now, boolean activity) throws Exception {
        if (rules.quiet(s)) {
            if (s.latestStored) {
                latest.clear();
                s.latestStored = false;
            }
            // One deadline after it fell quiet (a parked device's end, further out, no longer applies).
            long quietEnd = rules.forgetAt(now);
            if (s.forgetAt == 0 || s.forgetAt > quietEnd) s.forgetAt = quietEnd;
            if (s.timer == 0) {
                arm(s, ctx, s.forgetAt); // an earlier timer, when it fires, arms this one
            } else if (s.timer > s.forgetAt) {
                // The end of a parking, further out: the quiet device goes one deadline from now.
                ctx.timerService().deleteEventTimeTimer(s.timer);
                arm(s, ctx, s.forgetAt);
            }
        } else if (rules.parkedOnly(s)) {
            // Parked only: nothing to time but its end, the idle TTL after the last publication or
            // ack (a timer firing is not activity).
            if (activity || s.forgetAt == 0)
                s.forgetAt = DeliverySchedule.roundUpToSecond(plus(now, idleTtl.toMillis()));
            if (s.timer == 0) arm(s, ctx, s.forgetAt);
        } else {
            s.forgetAt = 0;
            long next = rules.nextTimer(s);
            if (s.timer == 0 || s.timer > next) {
                if (s.timer != 0) ctx.timerService().deleteEventTimeTimer(s.timer);
                arm(s, ctx, next);
            }
        }
        device.update(s);
    }

    private static long plus(long a, long b) {
        return a > Long.MAX_VALUE - b ? Long.MAX_VALUE : a + b;
    }

    private static void arm(DeliveryState s, Context ctx, long at) {
        ctx.timerService().registerEventTimeTimer(at);
        s.timer = at;
    }

    /**
     * After a restore from a state taken at the end of event time: arms the current device's timer
     * again (the drained run fired and spent it). Returns the timer's time, or null for none. A
     * device whose state expired meanwhile (a stop longer than the idle TTL and a day) has no timer
     * left to find that out: it is forgotten here, its consumers' schedulers told ({@code out}).
     * Every value kept gets a timer: one with nothing to time (no timer, no end noted) is given
     * its end, the idle TTL from {@code now} (the wall clock), so that none stays forever (the
     * state has no cleanup in the background).
     */
    Long rearmCurrentDevice(String deviceId, long now, java.util.function.Consumer<DeliveryEvent> out)
            throws Exception {
        DeliveryState s = load();
        if (s == null) {
            forgetExpired(deviceId, out);
            return null;
        }
        s = rules.align(s);
        long next;
        if (rules.quiet(s)) {
            if (s.forgetAt == 0) { // quiet only since the consumer list changed: forgotten now
                device.clear();
                if (s.latestStored) latest.clear();
                return null;
            }
            next = s.timer != 0 ? s.timer : s.forgetAt;
        } else if (rules.parkedOnly(s)) {
            next = s.timer != 0 ? s.timer : s.forgetAt != 0 ? s.forgetAt : Long.MAX_VALUE;
        } else {
            next = s.timer != 0 ? s.timer : rules.nextTimer(s);
        }
        if (next == Long.MAX_VALUE) {
            // Nothing noted to time (no build writes such a value; fail-safe): its end, as a
            // parked device's, the idle TTL from now; the timer then forgets it or times it on.
            next = DeliverySchedule.roundUpToSecond(plus(now, idleTtl.toMillis()));
            s.forgetAt = next;
        }
        s.timer = next;
        device.update(s);
        return next;
    }

    /**
     * After an upgrade from a build whose scheduler was keyed by consumer: tells the scheduler of
     * the current device's open episodes and parkings, so that they count in the backlog again.
     * Returns how many it told.
     */
    int registerCurrentDevice(String deviceId, java.util.function.Consumer<DeliveryEvent> out) throws Exception {
        DeliveryState s = load();
        if (s == null) return 0;
        s = rules.align(s);
        int n = 0;
        for (ConsumerTrack c : s.consumers) {
            DeliveryEvent.Kind kind = c.status == ConsumerTrack.Status.OPEN
                    ? DeliveryEvent.Kind.OPEN
                    : c.status == ConsumerTrack.Status.PARKED ? DeliveryEvent.Kind.PARKED : null;
            if (kind == null) continue;
            out.accept(DeliveryEvent.of(kind, c.name, deviceId, c, null));
            n++;
        }
        return n;
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
            Alert alert = DeliveryAlerts.unconsumed(deviceId, c, at);
            ctx.output(Tags.ALERTS, alert);
        }

        @Override
        public void attempt(String deviceId, ConsumerTrack c, DeviceState latest) {
            if (latest == null) { // its document expired (state TTL): nothing to send
                attemptsWithoutState.inc();
                return;
            }
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
