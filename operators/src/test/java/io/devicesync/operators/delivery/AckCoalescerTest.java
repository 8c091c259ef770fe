package io.devicesync.operators.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Ack;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The AckCoalescer in a harness: what goes out, in which order, and when. */
class AckCoalescerTest {
    static final long T = 1_800_000_000_000L;
    private OneInputStreamOperatorTestHarness<Ack, AckBatch> h;

    private void open(long windowMs, int maxDevices) throws Exception {
        h = new OneInputStreamOperatorTestHarness<>(new AckCoalescer(windowMs, maxDevices));
        h.setProcessingTime(T);
        h.open();
    }

    @AfterEach
    void close() throws Exception {
        if (h != null) h.close();
    }

    private void ack(String consumer, String device, long seq) throws Exception {
        h.processElement(new StreamRecord<>(new Ack(consumer, device, 0, seq, T + seq), T + seq));
    }

    /** What came out, in order: batches as device[consumer:seq,…], watermarks as W<time>. */
    private String out() {
        List<String> parts = new ArrayList<>();
        for (Object o : h.getOutput()) {
            if (o instanceof Watermark w) {
                parts.add("W" + (w.getTimestamp() - T));
            } else if (o instanceof StreamRecord<?> r && r.getValue() instanceof AckBatch b) {
                parts.add(b.deviceId
                        + Arrays.stream(b.acks)
                                .map(a -> a.consumer + ":" + a.seq)
                                .collect(Collectors.joining(",", "[", "]")));
            } else if (o instanceof WatermarkStatus s) {
                parts.add(s.isIdle() ? "IDLE" : "ACTIVE");
            }
        }
        return String.join(" ", parts);
    }

    @Test
    void eachDevicesLatestAckOfEachConsumerGoesInOneBatchAtTheEndOfTheWindow() throws Exception {
        open(500, 1000);
        ack("billing", "d", 1);
        ack("dashboard", "d", 1);
        ack("billing", "e", 4);
        ack("billing", "d", 3);
        ack("billing", "d", 2); // behind billing's 3: covered
        ack("archive", "d", 1);
        h.setProcessingTime(T + 499);
        assertEquals("", out(), "within the window: gathered");
        h.setProcessingTime(T + 500);
        assertEquals("d[billing:3,dashboard:1,archive:1] e[billing:4]", out());
    }

    @Test
    void aWatermarkFollowsTheAcksThatCameBeforeIt() throws Exception {
        open(500, 1000);
        h.processWatermark(new Watermark(T + 1));
        assertEquals("W1", out(), "nothing gathered: at once");
        ack("billing", "d", 5);
        h.processWatermark(new Watermark(T + 7));
        h.processWatermark(new Watermark(T + 9));
        assertEquals("W1", out(), "held while acks are gathered");
        h.setProcessingTime(T + 500);
        assertEquals("W1 d[billing:5] W9", out(), "the acks first, then the latest watermark held");
    }

    /**
     * What is gathered at a checkpoint goes into its state, not out before the barrier (a flush
     * there would wait for buffers while the tracker is busy); restored, it goes out a window later.
     */
    @Test
    void whatIsGatheredAtACheckpointIsRestored() throws Exception {
        open(500, 1000);
        ack("billing", "d", 1);
        ack("dashboard", "d", 2);
        h.prepareSnapshotPreBarrier(1);
        assertEquals("", out(), "nothing goes out before the barrier");
        var snapshot = h.snapshot(1, T);
        h.close();
        h = new OneInputStreamOperatorTestHarness<>(new AckCoalescer(500, 1000));
        h.setProcessingTime(T + 1_000);
        h.initializeState(snapshot);
        h.open();
        assertEquals("", out());
        h.setProcessingTime(T + 1_500);
        assertEquals("d[billing:1,dashboard:2]", out(), "restored, and out a window later");
    }

    @Test
    void theEndOfInputAndIdlenessFlush() throws Exception {
        open(60_000, 1000);
        ack("billing", "e", 2);
        h.processWatermarkStatus(WatermarkStatus.IDLE);
        assertEquals("e[billing:2] IDLE", out());
        ack("billing", "f", 3);
        h.endInput();
        h.getOperator().finish();
        assertTrue(out().endsWith("f[billing:3]"), out());
    }

    /** On equal positions the first ack stays, as the tracker would have kept it (the second is a duplicate). */
    @Test
    void aDuplicateKeepsTheFirstAck() throws Exception {
        open(500, 1000);
        h.processElement(new StreamRecord<>(new Ack("billing", "d", 0, 3, T + 10)));
        h.processElement(new StreamRecord<>(new Ack("billing", "d", 0, 3, T + 90)));
        h.setProcessingTime(T + 500);
        var batch = (AckBatch) ((StreamRecord<?>) h.getOutput().peek()).getValue();
        assertEquals(1, batch.acks.length);
        assertEquals(T + 10, batch.acks[0].ts);
    }

    @Test
    void tooManyDevicesFlushEarly() throws Exception {
        open(60_000, 2);
        ack("billing", "a", 1);
        ack("billing", "b", 1);
        ack("dashboard", "a", 1); // a known device: no flush
        assertEquals("", out());
        ack("billing", "c", 1); // a third device: the two go first
        assertEquals("a[billing:1,dashboard:1] b[billing:1]", out());
    }
}
