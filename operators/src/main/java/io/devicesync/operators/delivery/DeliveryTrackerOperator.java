package io.devicesync.operators.delivery;

import io.devicesync.model.DeviceState;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.YieldingOperator;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * The DeliveryTracker's operator, one of the two places in the job that need more than a process function (the other is {@code SequenceGuardOperator}, whose timers may be interrupted, as these are).
 * A drained stop ({@code flink stop --drain}, or the end of a bounded input) brings the watermark to
 * the end of time, which fires, and so spends, every device's timer; the tracker alerts and sends
 * nothing then (it is not the passing of every deadline). A job restored from that savepoint must
 * arm the timer of every device that still waits for an ack, or a consumer that never acks again
 * would never be alerted: that means going over every key of the state and registering a timer
 * for it, which only an operator can (its keyed state backend's keys, the current key, the
 * internal timer service). It notes in union operator state whether its run saw the end of event
 * time, and only a run restored from such a state does the pass (an ordinary checkpoint keeps
 * its timers). Tested by {@code DeliveryTrackerTest.theEndOfEventTimeIsNotADeadlineAndARestoredJobCarriesOn}.
 */
public final class DeliveryTrackerOperator extends KeyedCoProcessOperator<String, DeviceState, AckBatch, DeliveryEvent>
        implements YieldingOperator<DeliveryEvent> {
    private static final long serialVersionUID = 1L;
    private static final ListStateDescriptor<Boolean> DRAINED =
            new ListStateDescriptor<>("end-of-event-time", Types.BOOLEAN);
    /**
     * Written by every build whose RedispatchScheduler is keyed by device: a restore without it is
     * an upgrade from a build whose scheduler (keyed by consumer) kept the backlog, and whose state
     * does not restore into this one.
     */
    private static final ListStateDescriptor<Boolean> SCHEDULER_BY_DEVICE =
            new ListStateDescriptor<>("scheduler-by-device", Types.BOOLEAN);

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DeliveryTrackerOperator.class);

    private transient boolean drained;
    private transient boolean rearm;
    private transient boolean register;
    /** False only in tests, to write a state as the earlier builds did (without the marker). */
    private boolean writeMarker = true;

    public DeliveryTrackerOperator(DeliveryTracker tracker) {
        super(tracker);
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        for (Boolean b :
                context.getOperatorStateStore().getUnionListState(DRAINED).get()) rearm |= b;
        boolean byDevice = false;
        for (Boolean b : context.getOperatorStateStore()
                .getUnionListState(SCHEDULER_BY_DEVICE)
                .get()) byDevice |= b;
        register = context.isRestored() && !byDevice;
    }

    @Override
    public void open() throws Exception {
        super.open();
        if (!register && !rearm) return;
        // The keys first: reading a value whose TTL passed clears it, which on the heap backend
        // would break a live iteration of the keys.
        List<String> keys;
        try (Stream<String> k =
                this.<String>getKeyedStateBackend().getKeys(DeliveryTracker.STATE, VoidNamespace.INSTANCE)) {
            keys = k.collect(Collectors.toList());
        }
        if (register) registerWithTheScheduler(keys);
        if (!rearm) return;
        InternalTimerService<VoidNamespace> timers =
                getInternalTimerService("user-timers", VoidNamespaceSerializer.INSTANCE, this);
        DeliveryTracker tracker = (DeliveryTracker) getUserFunction();
        long now = getProcessingTimeService().getCurrentProcessingTime();
        for (String key : keys) {
            setCurrentKey(key);
            Long at = tracker.rearmCurrentDevice(key, now, e -> output.collect(new StreamRecord<>(e)));
            if (at != null) timers.registerEventTimeTimer(VoidNamespace.INSTANCE, at);
        }
    }

    /**
     * An upgrade from a build whose scheduler was keyed by consumer: that scheduler's state (the
     * episodes and parkings it counted in each consumer's backlog) does not restore into the
     * scheduler keyed by device, so every open episode and parking the tracker has is told to it
     * once (DeliveryEvent OPEN / PARKED): the backlog is whole again at once, a consumer that was
     * down before the upgrade keeps its BACKLOG. One pass over the tracker's devices, at this start
     * only. The operators are opened from the chain's tail: the scheduler is ready.
     */
    private void registerWithTheScheduler(List<String> keys) throws Exception {
        DeliveryTracker tracker = (DeliveryTracker) getUserFunction();
        long told = 0;
        for (String key : keys) {
            setCurrentKey(key);
            told += tracker.registerCurrentDevice(key, e -> output.collect(new StreamRecord<>(e)));
        }
        LOG.info(
                "Restored from a build whose redispatch scheduler was keyed by consumer: {} open episodes and"
                        + " parkings of {} devices told to the scheduler keyed by device",
                told,
                keys.size());
    }

    /**
     * Its deadline timers may be interrupted, as the guard's ({@code SequenceGuardOperator}): a jump
     * of event time can pass every waiting device's deadline at once. An ack processed while its
     * version's passed deadline still waits to fire closes the track first; the timer then finds
     * nothing due.
     */
    @Override
    public boolean useInterruptibleTimers() {
        return true;
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        if (mark.getTimestamp() == Long.MAX_VALUE) drained = true;
        super.processWatermark(mark);
    }

    /** As the builds with the scheduler keyed by consumer: their state has no marker (tests). */
    DeliveryTrackerOperator asAnEarlierBuild() {
        writeMarker = false;
        return this;
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        ListState<Boolean> state = getOperatorStateBackend().getUnionListState(DRAINED);
        state.update(List.of(drained));
        getOperatorStateBackend().getUnionListState(SCHEDULER_BY_DEVICE).update(List.of(writeMarker));
    }
}
