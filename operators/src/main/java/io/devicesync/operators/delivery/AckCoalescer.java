package io.devicesync.operators.delivery;

import io.devicesync.model.Ack;
import io.devicesync.model.Versions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;

/**
 * Before the acks' exchange to the DeliveryTracker: gathers, for up to {@code windowMs} of
 * processing time (or {@code maxDevices} devices), each device's latest ack of each consumer into
 * one {@link AckBatch}. Acks are cumulative, so a later ack of a consumer covers its earlier ones,
 * and the tracker reads and writes a device's state once for all of its consumers' acks: a version
 * that three consumers acknowledge costs one exchange record and one read-modify-write, not three.
 *
 * <p>What is gathered when a checkpoint is taken goes into its operator state (a few thousand acks
 * at most), not out before the barrier: a flush there would wait for network buffers while the
 * tracker is busy (a jump of event time), and hold the barrier that unaligned checkpoints let pass.
 * Restored, it goes out at the end of the next window; on a rescale the acks spread over the
 * subtasks, which is harmless (they are cumulative: the tracker keeps each consumer's highest). It
 * also goes out at the end of the input and when the input goes idle. Watermarks are held while
 * acks are gathered and follow them out, so no ack crosses a watermark it came before: a deadline
 * is never passed by an ack that was in time (it may fire up to the window later, never earlier).
 * An operator for those things: the watermark and the idle status are not a process function's.
 *
 * <p>What the tracker sees of a consumer within a window is its latest ack (on equal positions the
 * first): its counters ({@code acksApplied}, {@code acksStale}) count those, and its ack latency
 * runs to that ack (up to the window more than to an earlier one it covered).
 *
 * <p>Metrics: {@code acksCoalesced} (acks covered by a later one of the same consumer, or merged
 * into another's batch: records the exchange did not carry).
 */
public final class AckCoalescer extends AbstractStreamOperator<AckBatch>
        implements OneInputStreamOperator<Ack, AckBatch> {
    private static final long serialVersionUID = 1L;

    private final long windowMs;
    private final int maxDevices;

    private transient Map<String, List<Ack>> gathered;
    private transient org.apache.flink.api.common.state.ListState<Ack> state;
    private transient Watermark held;
    private transient long flushAt;
    private transient Counter coalesced;

    /**
     * @param windowMs how long (processing time) acks are gathered at most
     * @param maxDevices how many devices' acks at most (memory)
     */
    public AckCoalescer(long windowMs, int maxDevices) {
        if (windowMs < 1 || maxDevices < 1) throw new IllegalArgumentException("window and size must be positive");
        this.windowMs = windowMs;
        this.maxDevices = maxDevices;
    }

    @Override
    public void initializeState(org.apache.flink.runtime.state.StateInitializationContext context) throws Exception {
        super.initializeState(context);
        state = context.getOperatorStateStore()
                .getListState(new org.apache.flink.api.common.state.ListStateDescriptor<>(
                        "gathered-acks", org.apache.flink.api.common.typeinfo.TypeInformation.of(Ack.class)));
        gathered = new LinkedHashMap<>();
        for (Ack a : state.get()) merge(a);
    }

    @Override
    public void open() throws Exception {
        super.open();
        coalesced = getMetricGroup().counter("acksCoalesced");
        if (!gathered.isEmpty()) startWindow();
    }

    @Override
    public void snapshotState(org.apache.flink.runtime.state.StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        List<Ack> all = new ArrayList<>();
        for (List<Ack> device : gathered.values()) all.addAll(device);
        state.update(all);
    }

    private void startWindow() {
        flushAt = getProcessingTimeService().getCurrentProcessingTime() + windowMs;
        getProcessingTimeService().registerTimer(flushAt, this::onWindow);
    }

    @Override
    public void processElement(StreamRecord<Ack> record) throws Exception {
        Ack a = record.getValue();
        if (!gathered.containsKey(a.deviceId) && gathered.size() >= maxDevices) flush();
        if (merge(a)) coalesced.inc();
        if (flushAt == 0) startWindow();
    }

    /** Adds an ack to its device's; true when the device had acks already. */
    private boolean merge(Ack a) {
        List<Ack> device = gathered.get(a.deviceId);
        boolean known = device != null;
        if (device == null) {
            device = new ArrayList<>(2);
            gathered.put(a.deviceId, device);
        }
        for (int i = 0; i < device.size(); i++) {
            Ack had = device.get(i);
            if (!had.consumer.equals(a.consumer)) continue;
            // The later of the two positions (an ack never moves a position back); on a tie the
            // first, as the tracker would have kept it (the second is a duplicate).
            if (Versions.compare(a.epoch, a.seq, had.epoch, had.seq) > 0) device.set(i, a);
            return known;
        }
        device.add(a);
        return known;
    }

    private void onWindow(long time) throws Exception {
        if (time == flushAt) flush();
    }

    /** Everything gathered goes out, then the watermark held back. */
    private void flush() {
        if (!gathered.isEmpty()) {
            // No record timestamp: nothing downstream reads one (the ack's own time is in it).
            StreamRecord<AckBatch> out = new StreamRecord<>(null);
            for (Map.Entry<String, List<Ack>> e : gathered.entrySet()) {
                output.collect(out.replace(new AckBatch(e.getKey(), e.getValue().toArray(new Ack[0]))));
            }
            gathered.clear();
        }
        flushAt = 0;
        if (held != null) {
            output.emitWatermark(held);
            held = null;
        }
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        if (gathered.isEmpty()) {
            super.processWatermark(mark);
        } else {
            held = mark; // follows the acks gathered before it
        }
    }

    @Override
    public void processWatermarkStatus(WatermarkStatus status) throws Exception {
        if (status.isIdle()) flush();
        super.processWatermarkStatus(status);
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }
}
