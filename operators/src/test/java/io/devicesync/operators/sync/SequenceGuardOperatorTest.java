package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.T0;
import static io.devicesync.operators.TestData.inc;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.AuditRecord;
import io.devicesync.model.Increment;
import io.devicesync.operators.serde.Compact;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.runtime.io.network.api.EndOfData;
import org.apache.flink.runtime.io.network.api.EndOfPartitionEvent;
import org.apache.flink.runtime.io.network.api.StopMode;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.StreamTaskMailboxTestHarness;
import org.apache.flink.streaming.runtime.tasks.StreamTaskMailboxTestHarnessBuilder;
import org.apache.flink.streaming.runtime.tasks.TwoInputStreamTask;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The guard's operator in a real task mailbox: with interruptible timers configured (unaligned
 * checkpoints and {@code execution.checkpointing.unaligned.interruptible-timers.enabled}), the
 * audits a jump of event time passes do not hold the task until the last has fired. Mail (an
 * unaligned barrier, a lookup's result) and records go through between them; the watermark goes
 * downstream once all have fired. Without the option, Flink fires them all first: the other case,
 * which shows what this test would see if the operator did not opt in.
 */
class SequenceGuardOperatorTest {
    private static final int DEVICES = 50;
    private static final long JUMP = T0 + Duration.ofHours(1).toMillis();

    @ParameterizedTest(name = "interruptible timers configured: {0}")
    @ValueSource(booleans = {true, false})
    void theTimersAJumpPassesLetMailAndRecordsThrough(boolean interruptible) throws Exception {
        try (StreamTaskMailboxTestHarness<Increment> h = harness(interruptible, false)) {
            h.setAutoProcess(false);
            // Every device forwards its first version and arms its audit, within the first interval.
            for (int d = 0; d < DEVICES; d++) h.processElement(new StreamRecord<>(inc("d" + d, 1), T0), 0);
            h.processAll();
            assertEquals(DEVICES, records(h).size());
            // The audit input is already at the jump; the increments' watermark jumps an hour, and
            // the second version of every device waits behind it.
            h.processElement(new Watermark(JUMP), 1);
            h.processAll();
            h.getOutput().clear();
            h.processElement(new Watermark(JUMP), 0);
            for (int d = 0; d < DEVICES; d++) h.processElement(new StreamRecord<>(inc("d" + d, 2), JUMP), 0);
            // Mail keeps coming while the timers fire, as lookup results do.
            MailboxExecutor mailbox = h.getExecutor(0);
            AtomicInteger mailsBeforeTheWatermark = new AtomicInteger();
            Runnable[] probe = new Runnable[1];
            probe[0] = () -> {
                if (h.getOutput().stream().noneMatch(o -> o instanceof Watermark)
                        && mailsBeforeTheWatermark.incrementAndGet() < 10 * DEVICES) {
                    mailbox.execute(probe[0]::run, "probe");
                }
            };
            mailbox.execute(probe[0]::run, "probe");
            // As a task runs: a mail, then a step of the input (the harness's processAll() would run
            // every mail first, and no task does that).
            for (int step = 0; step < 100 * DEVICES && !done(h); step++)
                h.getStreamTask().runSingleMailboxLoop();
            h.processAll();

            List<Object> out = new ArrayList<>(h.getOutput());
            int watermarkAt = out.indexOf(new Watermark(JUMP));
            assertTrue(watermarkAt >= 0, "the jump's watermark goes downstream: " + out);
            assertEquals(1, out.stream().filter(o -> o instanceof Watermark).count());
            assertEquals(DEVICES, records(h).size(), "every second version is forwarded");
            int before = records(out.subList(0, watermarkAt)).size();
            if (interruptible) {
                assertTrue(
                        before > 0,
                        "records go through while the passed audits are moved: " + before + " of " + DEVICES
                                + " before the watermark");
                assertTrue(mailsBeforeTheWatermark.get() > 1, "mail ran between the timers");
            } else {
                assertEquals(0, before, "Flink's default: every passed timer fires before the next record");
            }
        }
    }

    private static StreamTaskMailboxTestHarness<Increment> harness(boolean interruptible, boolean networkEvents)
            throws Exception {
        StreamTaskMailboxTestHarnessBuilder<Increment> b = new StreamTaskMailboxTestHarnessBuilder<>(
                        TwoInputStreamTask::new, Compact.INCREMENT)
                .setKeyType(Types.STRING)
                .addInput(Compact.INCREMENT, 1, (KeySelector<Increment, String>) i -> i.deviceId)
                .addInput(TypeInformation.of(AuditRecord.class), 1, (KeySelector<AuditRecord, String>) a -> a.deviceId);
        if (interruptible) {
            b.addJobConfig(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofSeconds(1))
                    .addJobConfig(CheckpointingOptions.ENABLE_UNALIGNED, true)
                    .addJobConfig(CheckpointingOptions.ENABLE_UNALIGNED_INTERRUPTIBLE_TIMERS, true);
        }
        if (networkEvents) b.setCollectNetworkEvents();
        return b.setupOutputForSingletonOperatorChain(new SequenceGuardOperator(new SequenceGuard(
                        Duration.ofSeconds(2),
                        1000,
                        Duration.ofSeconds(10),
                        Duration.ofDays(30),
                        Duration.ofMillis(1_400))))
                .build();
    }

    /**
     * A drained stop: the end of event time fires every device's grace in a loop that mail
     * interrupts, and then the input ends. Every held message those graces release goes downstream
     * before the end of the data. (Flink 2.2.1 alone can finish the operator while the loop still
     * waits to go on, FLINK-39481: the messages would come after the end, or never.)
     */
    @Test
    void theEndOfTimeFiresEveryTimerBeforeTheDataEnds() throws Exception {
        try (StreamTaskMailboxTestHarness<Increment> h = harness(true, true)) {
            h.setAutoProcess(false);
            for (int d = 0; d < DEVICES; d++) {
                h.processElement(new StreamRecord<>(inc("d" + d, 1), T0), 0);
                h.processElement(new StreamRecord<>(inc("d" + d, 3), T0), 0); // held: 2 is missing
            }
            h.processAll();
            assertEquals(DEVICES, records(h).size());
            h.getOutput().clear();
            h.processElement(Watermark.MAX_WATERMARK, 1);
            h.processAll();
            h.processElement(Watermark.MAX_WATERMARK, 0);
            for (int input = 0; input < 2; input++) {
                h.processEvent(new EndOfData(StopMode.DRAIN), input, 0);
                h.processEvent(EndOfPartitionEvent.INSTANCE, input, 0);
            }
            MailboxExecutor mailbox = h.getExecutor(0);
            AtomicInteger probes = new AtomicInteger();
            Runnable[] probe = new Runnable[1];
            probe[0] = () -> {
                if (probes.incrementAndGet() < 10 * DEVICES) mailbox.execute(probe[0]::run, "probe");
            };
            mailbox.execute(probe[0]::run, "probe");
            for (int step = 0; step < 100 * DEVICES && !ended(h); step++)
                h.getStreamTask().runSingleMailboxLoop();

            List<Object> out = new ArrayList<>(h.getOutput());
            int end = -1;
            for (int k = 0; k < out.size() && end < 0; k++) if (out.get(k) instanceof EndOfData) end = k;
            assertTrue(end >= 0, "the data ended: " + out);
            assertEquals(
                    DEVICES,
                    records(out.subList(0, end)).size(),
                    "every held message the end of time released, before the end of the data");
            assertTrue(out.subList(0, end).contains(Watermark.MAX_WATERMARK), "and the end of time");
        }
    }

    private static boolean ended(StreamTaskMailboxTestHarness<Increment> h) {
        return h.getOutput().stream().anyMatch(o -> o instanceof EndOfData);
    }

    /** Whether every second version and the jump's watermark went downstream. */
    private static boolean done(StreamTaskMailboxTestHarness<Increment> h) {
        return records(h).size() == DEVICES && h.getOutput().stream().anyMatch(o -> o instanceof Watermark);
    }

    private static List<Increment> records(StreamTaskMailboxTestHarness<Increment> h) {
        return records(new ArrayList<>(h.getOutput()));
    }

    @SuppressWarnings("unchecked")
    private static List<Increment> records(List<Object> out) {
        List<Increment> r = new ArrayList<>();
        for (Object o : out) if (o instanceof StreamRecord) r.add(((StreamRecord<Increment>) o).getValue());
        return r;
    }
}
