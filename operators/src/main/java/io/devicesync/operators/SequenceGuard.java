package io.devicesync.operators;

import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.model.Versions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Orders and deduplicates each device's increments (keyed by deviceId).
 *
 * <ul>
 *   <li>at or below the last forwarded version: dropped, counted in {@code duplicatesDropped};
 *   <li>the next version: forwarded at once, then any held successors;
 *   <li>further ahead in the same epoch: held until the missing ones arrive or the reorder grace
 *       (event time) expires; then the missing range is a gap: one {@code SEQUENCE_GAP} alert, one
 *       lookup request, and the held messages are forwarded in order (the reconciler holds them
 *       until the repair arrives);
 *   <li>a device never seen: (0, 1) is forwarded; a later version of epoch 0 is held for the
 *       grace like any early message, then forwarded with a {@code FIRST_SEEN} lookup request
 *       (the job cannot know its state); a first version of a higher epoch is forwarded with a
 *       {@code FIRST_SEEN} request at once;
 *   <li>a higher epoch: a {@code DEVICE_RESET} alert and a {@code RESET} lookup request; the
 *       message is forwarded and the reconciler publishes the new epoch once the lookup confirmed
 *       the state.
 * </ul>
 *
 * Nothing here touches the database; the hot path reads and writes one small value.
 */
public class SequenceGuard extends KeyedProcessFunction<String, Increment, Increment> {
    private static final long serialVersionUID = 1L;

    /** One value per device; cleared by TTL after {@code --state.idle-ttl} without a write. */
    public static final ValueStateDescriptor<GuardState> DEVICE =
            new ValueStateDescriptor<>("guard", TypeInformation.of(GuardState.class));
    /** Early messages by seq (current epoch only), while the grace runs; emptied when it ends. */
    public static final MapStateDescriptor<Long, Increment> HELD =
            new MapStateDescriptor<>("guardHeld", Types.LONG, TypeInformation.of(Increment.class));

    private final long graceMs;
    private final long maxLogFetch;
    private final Duration idleTtl;

    private transient ValueState<GuardState> device;
    private transient MapState<Long, Increment> held;
    private transient Counter forwarded;
    private transient Counter duplicates;
    private transient Counter gaps;
    private transient Counter resets;
    private transient Counter lookups;
    private transient Counter heldMessages;

    public SequenceGuard(Duration reorderGrace, long maxLogFetch, Duration idleTtl) {
        this.graceMs = reorderGrace.toMillis();
        this.maxLogFetch = maxLogFetch;
        this.idleTtl = idleTtl;
    }

    @Override
    public void open(OpenContext ctx) {
        StateTtlConfig ttl = StateTtlConfig.newBuilder(idleTtl)
                .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                .build();
        ValueStateDescriptor<GuardState> d = new ValueStateDescriptor<>(DEVICE.getName(), TypeInformation.of(GuardState.class));
        d.enableTimeToLive(ttl);
        MapStateDescriptor<Long, Increment> h = new MapStateDescriptor<>(HELD.getName(), Types.LONG,
                TypeInformation.of(Increment.class));
        h.enableTimeToLive(ttl);
        device = getRuntimeContext().getState(d);
        held = getRuntimeContext().getMapState(h);
        var metrics = getRuntimeContext().getMetricGroup();
        forwarded = metrics.counter("incrementsForwarded");
        duplicates = metrics.counter("duplicatesDropped");
        gaps = metrics.counter("gapsDetected");
        resets = metrics.counter("deviceResets");
        lookups = metrics.counter("lookupsRequested");
        heldMessages = metrics.counter("earlyMessagesHeld");
    }

    @Override
    public void processElement(Increment i, Context ctx, Collector<Increment> out) throws Exception {
        GuardState s = device.value();
        if (s == null) {
            s = new GuardState();
            if (i.epoch > 0) {
                // State carries across epochs: only the database knows what came before.
                request(s, ctx, new LookupRequest(i.deviceId, LookupRequest.FIRST_SEEN, i.epoch, 1, i.seq - 1,
                        i.ts, System.currentTimeMillis()));
                forward(s, i, out);
                device.update(s);
                return;
            }
            // Epoch 0: nothing forwarded yet (seq 0); (0, 1) is next, later ones wait for the grace.
        }
        if (Versions.compare(i.epoch, i.seq, s.epoch, s.seq) <= 0) {
            duplicates.inc();
            return;
        }
        if (i.epoch == s.epoch) {
            if (i.seq == s.seq + 1) {
                forward(s, i, out);
                if (s.heldCount > 0) drainHeld(s, ctx, out);
            } else if (s.heldCount > 0 && held.contains(i.seq)) {
                duplicates.inc();
                return;
            } else {
                held.put(i.seq, i);
                s.heldCount++;
                heldMessages.inc();
                if (s.graceTimer == 0) {
                    // Timer: the end of the grace for the earliest held message; firing declares the gap.
                    long wm = ctx.timerService().currentWatermark();
                    s.graceTimer = Math.max(i.ts, wm) + graceMs;
                    ctx.timerService().registerEventTimeTimer(s.graceTimer);
                }
            }
            device.update(s);
            return;
        }
        // A higher epoch: the device restarted its numbering.
        resets.inc();
        long oldEpoch = s.epoch;
        long oldSeq = s.seq;
        if (s.heldCount > 0) {
            // Early messages of the old epoch still go downstream, in order: the reset lookup
            // confirms the whole state, so no separate gap request.
            for (Increment h : heldInOrder()) forward(s, h, out);
            clearHeld(s, ctx);
        }
        ctx.output(Tags.ALERTS, Alerts.of(AlertType.DEVICE_RESET, Severity.WARNING)
                .device(i.deviceId)
                .cause("epoch moved from " + oldEpoch + " to " + i.epoch + " (last seq " + oldSeq + ", now " + i.seq + ")")
                .strategy(Strategy.FETCH_SNAPSHOT)
                .detail("fromEpoch", oldEpoch).detail("lastSeq", oldSeq).detail("toEpoch", i.epoch).detail("seq", i.seq)
                .ts(i.ts)
                .build(Long.toString(i.epoch)));
        request(s, ctx, new LookupRequest(i.deviceId, LookupRequest.RESET, i.epoch, 1, i.seq - 1, i.ts,
                System.currentTimeMillis()));
        forward(s, i, out);
        device.update(s);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Increment> out) throws Exception {
        GuardState s = device.value();
        if (s == null || timestamp != s.graceTimer) return;
        s.graceTimer = 0;
        if (s.heldCount > 0 && s.seq == 0) {
            // A device first seen past (0, 1), and (0, 1) did not come within the grace: the job
            // cannot know its state. Not an alert: a job started after the fleet sees every device so.
            List<Increment> early = heldInOrder();
            Increment first = early.get(0);
            request(s, ctx, new LookupRequest(first.deviceId, LookupRequest.FIRST_SEEN, s.epoch, 1, first.seq - 1,
                    timestamp, System.currentTimeMillis()));
            for (Increment h : early) forward(s, h, out);
            held.clear();
            s.heldCount = 0;
        } else if (s.heldCount > 0) {
            List<Increment> early = heldInOrder();
            long fromSeq = s.seq + 1;
            Increment first = early.get(0);
            // The holes between the held messages: one request spans from the first to the last.
            long toSeq = fromSeq - 1;
            long missing = 0;
            long expected = fromSeq;
            for (Increment h : early) {
                if (h.seq > expected) {
                    missing += h.seq - expected;
                    toSeq = h.seq - 1;
                }
                expected = h.seq + 1;
            }
            gaps.inc();
            ctx.output(Tags.ALERTS, Alerts.of(AlertType.SEQUENCE_GAP, Severity.WARNING)
                    .device(first.deviceId)
                    .cause("seq jumped from " + s.seq + " to " + first.seq)
                    .strategy(toSeq - fromSeq + 1 <= maxLogFetch ? Strategy.FETCH_INCREMENTS : Strategy.FETCH_SNAPSHOT)
                    .detail("epoch", s.epoch).detail("fromSeq", fromSeq).detail("toSeq", toSeq).detail("missing", missing)
                    .ts(timestamp)
                    .build(Long.toString(s.epoch), Long.toString(fromSeq), Long.toString(toSeq)));
            request(s, ctx, new LookupRequest(first.deviceId, LookupRequest.GAP, s.epoch, fromSeq, toSeq, timestamp,
                    System.currentTimeMillis()));
            for (Increment h : early) forward(s, h, out);
            held.clear();
            s.heldCount = 0;
        }
        device.update(s);
    }

    private void forward(GuardState s, Increment i, Collector<Increment> out) {
        out.collect(i);
        forwarded.inc();
        s.epoch = i.epoch;
        s.seq = i.seq;
    }

    /** Forwards held messages that are now next; stops the grace timer once none is left. */
    private void drainHeld(GuardState s, Context ctx, Collector<Increment> out) throws Exception {
        Increment next;
        while (s.heldCount > 0 && (next = held.get(s.seq + 1)) != null) {
            held.remove(next.seq);
            s.heldCount--;
            forward(s, next, out);
        }
        if (s.heldCount == 0) clearHeld(s, ctx);
    }

    private void clearHeld(GuardState s, Context ctx) throws Exception {
        if (s.graceTimer != 0) {
            ctx.timerService().deleteEventTimeTimer(s.graceTimer);
            s.graceTimer = 0;
        }
        if (s.heldCount > 0) held.clear();
        s.heldCount = 0;
    }

    private List<Increment> heldInOrder() throws Exception {
        List<Increment> list = new ArrayList<>();
        for (Increment i : held.values()) list.add(i);
        list.sort(Comparator.comparingLong(i -> i.seq));
        return list;
    }

    /** Sends a lookup request unless one already covers its range. */
    private void request(GuardState s, Context ctx, LookupRequest r) {
        if (Versions.compare(r.epoch, r.toSeq, s.requestedEpoch, s.requestedSeq) <= 0 && s.requestedEpoch >= 0
                && LookupRequest.GAP.equals(r.kind)) {
            return;
        }
        s.requestedEpoch = r.epoch;
        s.requestedSeq = r.toSeq;
        lookups.inc();
        ctx.output(Tags.LOOKUPS, r);
    }
}
