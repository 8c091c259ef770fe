package io.devicesync.operators.delivery;

import io.devicesync.model.Ack;
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
public final class DeliveryTrackerOperator extends KeyedCoProcessOperator<String, DeviceState, Ack, DeliveryEvent>
        implements YieldingOperator<DeliveryEvent> {
    private static final long serialVersionUID = 1L;
    private static final ListStateDescriptor<Boolean> DRAINED =
            new ListStateDescriptor<>("end-of-event-time", Types.BOOLEAN);

    private transient boolean drained;
    private transient boolean rearm;

    public DeliveryTrackerOperator(DeliveryTracker tracker) {
        super(tracker);
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        for (Boolean b :
                context.getOperatorStateStore().getUnionListState(DRAINED).get()) rearm |= b;
    }

    @Override
    public void open() throws Exception {
        super.open();
        if (!rearm) return;
        List<String> keys;
        try (Stream<String> k =
                this.<String>getKeyedStateBackend().getKeys(DeliveryTracker.STATE, VoidNamespace.INSTANCE)) {
            keys = k.collect(Collectors.toList());
        }
        InternalTimerService<VoidNamespace> timers =
                getInternalTimerService("user-timers", VoidNamespaceSerializer.INSTANCE, this);
        DeliveryTracker tracker = (DeliveryTracker) getUserFunction();
        for (String key : keys) {
            setCurrentKey(key);
            Long at = tracker.rearmCurrentDevice();
            if (at != null) timers.registerEventTimeTimer(VoidNamespace.INSTANCE, at);
        }
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

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        ListState<Boolean> state = getOperatorStateBackend().getUnionListState(DRAINED);
        state.update(List.of(drained));
    }
}
