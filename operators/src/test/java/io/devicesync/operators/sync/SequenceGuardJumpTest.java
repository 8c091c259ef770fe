package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.T0;
import static io.devicesync.operators.TestData.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.AuditRecord;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.operators.util.Tags;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Audits after a jump of event time (DESIGN.md, Event time and audits: no storms): a jump longer
 * than the routine one (idle timeout + out-of-orderness + one periodic watermark) runs none of the
 * audits it passes at once; each device is audited at its own slot in the interval after the jump,
 * once, never once per interval missed. A routine idle jump runs them as due.
 */
class SequenceGuardJumpTest {
    private static final long GRACE = 2_000;
    private static final long AUDIT = 10_000;
    private static final long ROUTINE = 1_400; // idle 1 s + out-of-orderness 200 ms + watermark 200 ms
    private static final int DEVICES = 200;
    private KeyedTwoInputStreamOperatorTestHarness<String, Increment, AuditRecord, Increment> h;

    @BeforeEach
    void open() throws Exception {
        h = ProcessFunctionTestHarnesses.forKeyedCoProcessFunction(
                new SequenceGuard(
                        Duration.ofMillis(GRACE),
                        1000,
                        Duration.ofMillis(AUDIT),
                        Duration.ofDays(30),
                        Duration.ofMillis(ROUTINE)),
                i -> i.deviceId,
                a -> a.deviceId,
                Types.STRING);
    }

    @AfterEach
    void close() throws Exception {
        h.close();
    }

    private void watermark(long t) throws Exception {
        h.processBothWatermarks(new Watermark(t));
    }

    /** Event time as an input in step with the wall clock moves it: a periodic watermark every 200 ms. */
    private void walk(long from, long to) throws Exception {
        for (long t = from; t < to; t += 200) watermark(t);
        watermark(to);
    }

    private List<LookupRequest> audits() {
        return values(h.getSideOutput(Tags.LOOKUPS)).stream()
                .filter(r -> r.kind.equals(LookupRequest.Kind.AUDIT))
                .collect(Collectors.toList());
    }

    private static long slotAfter(String device, long t) {
        long off = Math.floorMod(device.hashCode(), AUDIT);
        return (Math.floorDiv(t - off, AUDIT) + 1) * AUDIT + off;
    }

    private void fleetSendsAt(long t) throws Exception {
        watermark(t - 1);
        for (int d = 0; d < DEVICES; d++) {
            h.processElement1(new Increment("meter-" + d, 0, 1, t, new byte[] {'{', '}'}), t);
        }
    }

    @Test
    void aLongJumpRunsNoAuditAtOnceAndEachDeviceOnceAtItsSlotAfterIt() throws Exception {
        fleetSendsAt(T0);
        long jumpedTo = T0 + 3 * AUDIT + 1_234; // a stop of three intervals, then the wall clock
        watermark(jumpedTo);
        assertEquals(List.of(), audits(), "none of the audits passed by the jump runs at the jump");
        assertEquals(DEVICES, h.numEventTimeTimers(), "each device still has its audit, moved");
        walk(jumpedTo, jumpedTo + AUDIT);
        List<LookupRequest> a = audits();
        assertEquals(DEVICES, a.size(), "every device audited once in the interval after the jump");
        Map<String, Long> at = new HashMap<>();
        for (LookupRequest r : a) assertEquals(null, at.put(r.deviceId, r.ts), "once per device");
        at.forEach((device, ts) ->
                assertEquals(slotAfter(device, jumpedTo + 1) - 1, ts, device + ": 1 ms before its own slot"));
        assertTrue(
                at.values().stream().distinct().count() > DEVICES / 2, "spread over the interval, not at one instant");
        assertTrue(a.stream().noneMatch(r -> r.quiet), "the device was active before the stop: an active audit first");
        walk(jumpedTo + AUDIT, jumpedTo + 2 * AUDIT);
        assertEquals(2 * DEVICES, audits().size(), "then the quiet audit one interval later, as usual");
        assertTrue(audits().subList(DEVICES, 2 * DEVICES).stream().allMatch(r -> r.quiet));
    }

    @Test
    void aRoutineIdleJumpRunsTheAuditsAsDue() throws Exception {
        fleetSendsAt(T0);
        // The input went idle: event time jumps to the wall clock, by at most the routine jump.
        long last = 0; // the jump ends at the last device's slot, so that it passes some
        for (int d = 0; d < DEVICES; d++) last = Math.max(last, slotAfter("meter-" + d, T0));
        walk(T0, last - ROUTINE);
        int before = audits().size();
        watermark(last);
        List<LookupRequest> due = audits().subList(before, audits().size());
        assertTrue(due.size() > 0, "some audits fell in the jump");
        for (LookupRequest r : due) {
            assertTrue(r.ts > last - ROUTINE && r.ts <= last, "run at the jump, at their own time: " + r.ts);
        }
    }

    @Test
    void aJumpFromTheStartOfEventTimeSpreadsToo() throws Exception {
        // A job restored after a long stop onto quiet inputs: the first watermark comes with the
        // first record, an hour after the audits its state has armed.
        for (int d = 0; d < DEVICES; d++) {
            h.processElement1(new Increment("meter-" + d, 0, 1, T0, new byte[] {'{', '}'}), T0);
        }
        long first = T0 + 360 * AUDIT;
        watermark(first);
        assertEquals(List.of(), audits());
        watermark(first + AUDIT);
        assertEquals(DEVICES, audits().size());
    }

    @Test
    void aMovedAuditRunsAtItsSlotHoweverCoarseTheStepsAfterTheJump() throws Exception {
        // A fast catch-up after the jump: each periodic watermark moves event time by 5 s.
        fleetSendsAt(T0);
        long jumpedTo = T0 + 3 * AUDIT;
        watermark(jumpedTo);
        for (long t = jumpedTo; t <= jumpedTo + AUDIT; t += 5_000) watermark(t);
        assertEquals(DEVICES, audits().size(), "moved once, never starved by coarse steps");
        assertTrue(audits().stream().allMatch(r -> r.ts > jumpedTo && r.ts <= jumpedTo + AUDIT));
    }

    @Test
    void theEndOfEventTimeStillRunsTheAuditsDue() throws Exception {
        // The end of a bounded input or a drained stop is not a jump to spread: there is no after.
        fleetSendsAt(T0);
        watermark(Long.MAX_VALUE);
        assertEquals(DEVICES, audits().size());
    }
}
