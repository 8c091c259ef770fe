package io.devicesync.operators;

import static io.devicesync.operators.TestData.T0;
import static io.devicesync.operators.TestData.inc;
import static io.devicesync.operators.TestData.values;
import static io.devicesync.operators.TestData.versions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.AuditRecord;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The SequenceGuard's audit timers, the REPAIR_PENDING loop, idle cleanup, and the grace's bounds. */
class SequenceGuardAuditTest {
    private static final long GRACE = 2_000;
    private static final long AUDIT = 10_000; // T0 is a multiple: boundaries at T0 + k * AUDIT
    private KeyedTwoInputStreamOperatorTestHarness<String, Increment, AuditRecord, Increment> h;

    private void open(Duration idleTtl) throws Exception {
        h = ProcessFunctionTestHarnesses.forKeyedCoProcessFunction(
                new SequenceGuard(Duration.ofMillis(GRACE), 1000, Duration.ofMillis(AUDIT), idleTtl),
                i -> i.deviceId, a -> a.deviceId, Types.STRING);
    }

    @AfterEach
    void close() throws Exception {
        h.close();
    }

    private void send(Increment i) throws Exception {
        h.processElement1(i, i.ts);
    }

    private void watermark(long t) throws Exception {
        h.processBothWatermarks(new Watermark(t));
    }

    private List<LookupRequest> audits() {
        return values(h.getSideOutput(Tags.LOOKUPS)).stream().filter(r -> r.kind.equals(LookupRequest.AUDIT)).toList();
    }

    @Test
    void auditsAnActiveDeviceAtTheNextBoundaryThenOnceMoreWhenQuiet() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        send(inc("d", 2));
        watermark(T0 + AUDIT - 1);
        assertTrue(audits().isEmpty());
        watermark(T0 + AUDIT);
        assertEquals(1, audits().size());
        LookupRequest a = audits().get(0);
        assertEquals(0, a.epoch);
        assertEquals(2, a.toSeq, "the version forwarded so far");
        assertFalse(a.repair);
        assertFalse(a.quiet, "it sent during the interval");
        assertEquals(T0 + AUDIT, a.ts);
        watermark(T0 + 2 * AUDIT);
        assertEquals(2, audits().size(), "once more after it fell quiet");
        assertTrue(audits().get(1).quiet, "only a quiet audit may conclude tail loss");
        assertEquals(0, h.numEventTimeTimers(), "then no timer at all");
        watermark(T0 + 100 * AUDIT);
        assertEquals(2, audits().size());
    }

    @Test
    void activityKeepsTheAuditGoingEveryInterval() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        watermark(T0 + AUDIT);
        h.processElement1(new Increment("d", 0, 2, T0 + AUDIT + 5, new byte[] {'{', '}'}), T0 + AUDIT + 5);
        watermark(T0 + 2 * AUDIT);
        watermark(T0 + 3 * AUDIT);
        watermark(T0 + 4 * AUDIT);
        assertEquals(List.of(1L, 2L, 2L), audits().stream().map(r -> r.toSeq).toList());
    }

    @Test
    void auditTimersOfManyDevicesShareTheBoundary() throws Exception {
        open(Duration.ofDays(30));
        send(inc("a", 1));
        h.processElement1(new Increment("b", 0, 1, T0 + 7_777, new byte[] {'{', '}'}), T0 + 7_777);
        watermark(T0 + AUDIT);
        assertEquals(2, audits().size());
        assertEquals(1, audits().stream().map(r -> r.ts).distinct().count(), "coalesced on the interval boundary");
    }

    @Test
    void repairPendingSchedulesOneRepairAuditUntilTheNextRecord() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        watermark(T0 + AUDIT);
        watermark(T0 + 2 * AUDIT); // audited, quiet-audited, no timer
        assertEquals(0, h.numEventTimeTimers());
        h.processElement2(new AuditRecord("d", 0, 1, 0, 1, AuditRecord.REPAIR_PENDING, T0 + 2 * AUDIT), T0 + 2 * AUDIT);
        h.processElement2(new AuditRecord("d", 0, 1, 0, 1, AuditRecord.VERIFIED, T0 + 2 * AUDIT), T0 + 2 * AUDIT);
        watermark(T0 + 3 * AUDIT);
        List<LookupRequest> a = audits();
        assertEquals(3, a.size());
        assertTrue(a.get(2).repair, "the audit after a failed repair fetches the repair data");
        assertEquals(0, h.numEventTimeTimers(), "the next REPAIR_PENDING, if any, arms the next one");
    }

    @Test
    void aDeviceSilentForTheIdleTtlIsForgottenAndThenFirstSeen() throws Exception {
        open(Duration.ofMillis(5 * AUDIT));
        send(inc("d", 1));
        send(inc("d", 2));
        watermark(T0 + AUDIT);
        watermark(T0 + 2 * AUDIT);
        // A pending repair keeps auditing it, until it has been silent for the idle TTL.
        h.processElement2(new AuditRecord("d", 0, 2, -1, -1, AuditRecord.REPAIR_PENDING, T0 + 6 * AUDIT), T0 + 6 * AUDIT);
        watermark(T0 + 7 * AUDIT);
        assertEquals(2, audits().size(), "no audit: forgotten instead");
        assertEquals(0, h.numEventTimeTimers());
        assertEquals(0, h.numKeyedStateEntries(), "state cleared");
        // It comes back: first-seen, so (0, 3) waits for the grace, then its snapshot is asked for.
        h.processElement1(new Increment("d", 0, 3, T0 + 7 * AUDIT + 1, new byte[] {'{', '}'}), T0 + 7 * AUDIT + 1);
        watermark(T0 + 7 * AUDIT + 1 + 2 * GRACE);
        List<LookupRequest> firstSeen = values(h.getSideOutput(Tags.LOOKUPS)).stream()
                .filter(r -> r.kind.equals(LookupRequest.FIRST_SEEN)).toList();
        assertEquals(1, firstSeen.size());
        assertEquals("0/1,0/2,0/3", versions(h.extractOutputValues()));
    }

    @Test
    void aClockFarAheadDoesNotHoldMessagesForLong() throws Exception {
        open(Duration.ofDays(30));
        watermark(T0);
        send(inc("d", 1));
        long dayAhead = T0 + 86_400_000L;
        h.processElement1(new Increment("d", 0, 3, dayAhead, new byte[] {'{', '}'}), dayAhead);
        watermark(T0 + 2 * GRACE);
        assertEquals("0/1,0/3", versions(h.extractOutputValues()), "a gap after two graces of event time, not a day");
    }

    @Test
    void messagesLeftAfterAPartialDrainGetTheirOwnGrace() throws Exception {
        open(Duration.ofDays(30));
        watermark(T0);
        send(inc("d", 1));
        h.processElement1(new Increment("d", 0, 3, T0 + 100, new byte[] {'{', '}'}), T0 + 100);
        h.processElement1(new Increment("d", 0, 5, T0 + 1_900, new byte[] {'{', '}'}), T0 + 1_900);
        h.processElement1(new Increment("d", 0, 2, T0 + 1_950, new byte[] {'{', '}'}), T0 + 1_950);
        watermark(T0 + 100 + GRACE);
        assertEquals("0/1,0/2,0/3", versions(h.extractOutputValues()), "5 arrived 1.8 s after 3: it waits its own grace");
        h.processElement1(new Increment("d", 0, 4, T0 + 2_500, new byte[] {'{', '}'}), T0 + 2_500);
        assertEquals("0/1,0/2,0/3,0/4,0/5", versions(h.extractOutputValues()));
        assertTrue(values(h.getSideOutput(Tags.ALERTS)).isEmpty());
    }

    @Test
    void firstSeenRequestCoversTheHolesBetweenHeldMessages() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 5));
        send(inc("d", 8));
        watermark(T0 + 80 + GRACE);
        List<LookupRequest> r = values(h.getSideOutput(Tags.LOOKUPS)).stream()
                .filter(q -> q.kind.equals(LookupRequest.FIRST_SEEN)).toList();
        assertEquals(1, r.size());
        assertEquals(7, r.get(0).toSeq, "up to the last hole, not just before the first held");
    }
}
