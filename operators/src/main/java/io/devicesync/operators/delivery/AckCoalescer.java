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
 * <p>No state: everything gathered goes out before each checkpoint barrier
 * ({@link #prepareSnapshotPreBarrier}), at the end of the input, and when the input goes idle.
 * Watermarks are held while acks are gathered and follow them out, so no ack crosses a watermark
 * it came before: a deadline is never passed by an ack that was in time (it may fire up to the
 * window later, never earlier). An operator for those three things: the barrier, the watermark and
 * the idle status are not a process function's.
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
    private transient long latestTimestamp;
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
    public void open() throws Exception {
        super.open();
        gathered = new LinkedHashMap<>();
        latestTimestamp = Long.MIN_VALUE;
        coalesced = getMetricGroup().counter("acksCoalesced");
    }

    @Override
    public void processElement(StreamRecord<Ack> record) throws Exception {
        Ack a = record.getValue();
        if (record.hasTimestamp()) latestTimestamp = Math.max(latestTimestamp, record.getTimestamp());
        List<Ack> device = gathered.get(a.deviceId);
        if (device == null) {
            if (gathered.size() >= maxDevices) flush();
            device = new ArrayList<>(2);
            gathered.put(a.deviceId, device);
            if (flushAt == 0) {
                flushAt = getProcessingTimeService().getCurrentProcessingTime() + windowMs;
                getProcessingTimeService().registerTimer(flushAt, this::onWindow);
            }
        } else {
            coalesced.inc();
        }
        for (int i = 0; i < device.size(); i++) {
            Ack had = device.get(i);
            if (!had.consumer.equals(a.consumer)) continue;
            // The later of the two positions (an ack never moves a position back); on a tie, the
            // later time (the tracker counts latency from it).
            int c = Versions.compare(a.epoch, a.seq, had.epoch, had.seq);
            if (c > 0 || (c == 0 && a.ts > had.ts)) device.set(i, a);
            return;
        }
        device.add(a);
    }

    private void onWindow(long time) throws Exception {
        if (time == flushAt) flush();
    }

    /** Everything gathered goes out, then the watermark held back. */
    private void flush() {
        if (!gathered.isEmpty()) {
            StreamRecord<AckBatch> out = latestTimestamp == Long.MIN_VALUE
                    ? new StreamRecord<>(null)
                    : new StreamRecord<>(null, latestTimestamp);
            for (Map.Entry<String, List<Ack>> e : gathered.entrySet()) {
                output.collect(out.replace(new AckBatch(e.getKey(), e.getValue().toArray(new Ack[0]))));
            }
            gathered.clear();
        }
        latestTimestamp = Long.MIN_VALUE;
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
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        flush();
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }
}
