package io.devicesync.operators.sync;

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
import io.devicesync.model.Version;
import io.devicesync.operators.util.Tags;
import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
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
                i -> i.deviceId,
                a -> a.deviceId,
                Types.STRING);
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
        return values(h.getSideOutput(Tags.LOOKUPS)).stream()
                .filter(r -> r.kind.equals(LookupRequest.Kind.AUDIT))
                .toList();
    }

    /** The device's first audit boundary after {@code t}: boundaries are offset per device. */
    private static long next(String device, long t) {
        long off = Math.floorMod(device.hashCode(), AUDIT);
        return (Math.floorDiv(t - off, AUDIT) + 1) * AUDIT + off;
    }

    @Test
    void auditsAnActiveDeviceAtTheNextBoundaryThenOnceMoreWhenQuiet() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        send(inc("d", 2));
        long b1 = next("d", T0 + 20);
        watermark(b1 - 1);
        assertTrue(audits().isEmpty());
        watermark(b1);
        assertEquals(1, audits().size());
        LookupRequest a = audits().get(0);
        assertEquals(0, a.epoch);
        assertEquals(2, a.toSeq, "the version forwarded so far");
        assertFalse(a.repair);
        assertFalse(a.quiet, "it sent during the interval");
        assertEquals(b1, a.ts);
        watermark(b1 + AUDIT);
        assertEquals(2, audits().size(), "once more after it fell quiet");
        assertTrue(audits().get(1).quiet, "only a quiet audit may conclude tail loss");
        assertEquals(1, h.numEventTimeTimers(), "then only the device's end, an idle TTL on");
        // The end: at the device's boundary one idle TTL after its quiet audit, not an audit.
        long end = next("d", audits().get(1).ts + Duration.ofDays(30).toMillis());
        watermark(end - 1);
        assertEquals(2, audits().size());
        assertEquals(1, h.numEventTimeTimers(), "the end, not yet due");
        assertTrue(h.extractOutputValues().stream().noneMatch(i -> i instanceof Increment.Forget));
        watermark(end);
        assertEquals(2, audits().size(), "the end audits nothing");
        assertEquals(
                1,
                h.extractOutputValues().stream()
                        .filter(i -> i instanceof Increment.Forget && i.ts == end)
                        .count(),
                "it forgets the device at that boundary");
        assertEquals(0, h.numEventTimeTimers());
    }

    @Test
    void activityKeepsTheAuditGoingEveryInterval() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        long b1 = next("d", T0 + 10);
        watermark(b1);
        h.processElement1(new Increment("d", 0, 2, b1 + 5, new byte[] {'{', '}'}), b1 + 5);
        watermark(b1 + AUDIT);
        watermark(b1 + 2 * AUDIT);
        watermark(b1 + 3 * AUDIT);
        assertEquals(List.of(1L, 2L, 2L), audits().stream().map(r -> r.toSeq).toList());
        assertEquals(
                List.of(false, false, true), audits().stream().map(r -> r.quiet).toList());
    }

    @Test
    void auditsOfDevicesSpreadOverTheIntervalOnBoundariesOfTheirOwn() throws Exception {
        open(Duration.ofDays(30));
        for (String d : List.of("meter-1", "meter-2", "meter-3")) {
            h.processElement1(new Increment(d, 0, 1, T0 + 10, new byte[] {'{', '}'}), T0 + 10);
        }
        watermark(T0 + 10 + AUDIT);
        List<LookupRequest> a = audits();
        assertEquals(3, a.size());
        for (LookupRequest r : a) assertEquals(next(r.deviceId, T0 + 10), r.ts);
        assertEquals(3, a.stream().map(r -> r.ts).distinct().count(), "not all at one instant");
    }

    @Test
    void repairPendingOfAWaitingDeviceSchedulesOneRepairAudit() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        send(inc("d", 3)); // held
        long b1 = next("d", T0 + 30);
        watermark(T0 + 30 + GRACE); // gap: 3 forwarded, the guard is at 3
        watermark(b1);
        watermark(b1 + AUDIT); // audited, quiet-audited: no audit armed, only the device's end
        assertEquals(1, h.numEventTimeTimers());
        // The reconciler published 1 only: it waits.
        h.processElement2(
                new AuditRecord("d", new Version(0, 1), null, AuditRecord.Outcome.REPAIR_PENDING, b1 + AUDIT),
                b1 + AUDIT);
        h.processElement2(
                new AuditRecord("d", new Version(0, 1), new Version(0, 1), AuditRecord.Outcome.VERIFIED, b1 + AUDIT),
                b1 + AUDIT);
        watermark(b1 + 2 * AUDIT);
        List<LookupRequest> a = audits();
        assertEquals(3, a.size());
        assertTrue(a.get(2).repair, "the audit after a failed repair fetches the repair data");
        assertEquals(
                1,
                h.numEventTimeTimers(),
                "the device's end only: the next REPAIR_PENDING, if any, arms the next audit");
    }

    @Test
    void inconclusiveAuditsAreRecheckedWithBackoffWithoutRepair() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        long b1 = next("d", T0 + 10);
        watermark(b1);
        watermark(b1 + AUDIT);
        long t = b1 + AUDIT;
        for (int k = 0; k < 4; k++) {
            h.processElement2(
                    new AuditRecord("d", new Version(0, 1), new Version(0, 2), AuditRecord.Outcome.IN_FLIGHT, t), t);
            int before = audits().size();
            long w = t;
            while (audits().size() == before) watermark(w += AUDIT);
            t = audits().get(audits().size() - 1).ts;
        }
        List<LookupRequest> a = audits();
        assertEquals(6, a.size());
        assertEquals(
                List.of(1L, 2L, 4L, 8L),
                List.of(
                        (a.get(2).ts - a.get(1).ts) / AUDIT,
                        (a.get(3).ts - a.get(2).ts) / AUDIT,
                        (a.get(4).ts - a.get(3).ts) / AUDIT,
                        (a.get(5).ts - a.get(4).ts) / AUDIT),
                "backing off");
        assertTrue(a.subList(2, a.size()).stream().allMatch(r -> r.recheck && r.quiet && !r.repair));
    }

    @Test
    void aDeviceSilentForTheIdleTtlIsForgottenAndThenFirstSeen() throws Exception {
        open(Duration.ofMillis(5 * AUDIT));
        send(inc("d", 1));
        send(inc("d", 2));
        long b1 = next("d", T0 + 20);
        watermark(b1);
        watermark(b1 + AUDIT);
        // Failing repairs keep auditing it (each one answers REPAIR_PENDING), until it has been
        // silent for the idle TTL.
        for (int k = 2; k <= 8; k++) {
            if (h.numKeyedStateEntries() > 0) {
                h.processElement2(
                        new AuditRecord(
                                "d", new Version(0, 1), null, AuditRecord.Outcome.REPAIR_PENDING, b1 + (k - 1) * AUDIT),
                        b1 + (k - 1) * AUDIT);
            }
            watermark(b1 + k * AUDIT);
        }
        int audited = audits().size();
        assertTrue(audited >= 5 && audited <= 7, "audited while within the TTL, then no more: " + audited);
        assertTrue(audits().subList(2, audited).stream().allMatch(r -> r.repair));
        assertEquals(0, h.numEventTimeTimers());
        assertEquals(0, h.numKeyedStateEntries(), "state cleared");
        List<Increment> forgets = h.extractOutputValues().stream()
                .filter(i -> i instanceof Increment.Forget)
                .toList();
        assertEquals(1, forgets.size(), "the reconciler is told, once");
        assertEquals("d", forgets.get(0).deviceId);
        // It comes back: first-seen, so (0, 3) waits for the grace, then its snapshot is asked for.
        long t = b1 + 8 * AUDIT + 1;
        h.processElement1(new Increment("d", 0, 3, t, new byte[] {'{', '}'}), t);
        watermark(t + 2 * GRACE);
        List<LookupRequest> firstSeen = values(h.getSideOutput(Tags.LOOKUPS)).stream()
                .filter(r -> r.kind.equals(LookupRequest.Kind.FIRST_SEEN))
                .toList();
        assertEquals(1, firstSeen.size());
        assertEquals(
                "0/1,0/2,0/3",
                versions(h.extractOutputValues().stream()
                        .filter(i -> !(i instanceof Increment.Forget))
                        .toList()));
    }

    @Test
    void aGraceTimerOnTheAuditsTimestampDoesNotTakeTheAuditWithIt() throws Exception {
        open(Duration.ofDays(30));
        long b1 = next("d", T0);
        // Times chosen so that the grace of the early message ends exactly on the audit boundary.
        h.processElement1(new Increment("d", 0, 1, b1 - GRACE - 5, new byte[] {'{', '}'}), b1 - GRACE - 5);
        h.processElement1(new Increment("d", 0, 3, b1 - GRACE, new byte[] {'{', '}'}), b1 - GRACE);
        h.processElement1(new Increment("d", 0, 2, b1 - GRACE + 1, new byte[] {'{', '}'}), b1 - GRACE + 1);
        watermark(b1);
        assertEquals(1, audits().size(), "the audit still fires");
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
        assertEquals(
                "0/1,0/2,0/3", versions(h.extractOutputValues()), "5 arrived 1.8 s after 3: it waits its own grace");
        h.processElement1(new Increment("d", 0, 4, T0 + 2_500, new byte[] {'{', '}'}), T0 + 2_500);
        assertEquals("0/1,0/2,0/3,0/4,0/5", versions(h.extractOutputValues()));
        assertTrue(values(h.getSideOutput(Tags.ALERTS)).isEmpty());
    }

    @Test
    void firstSeenRequestCoversTheFirstHoleAndLaterHolesAreGaps() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 5));
        send(inc("d", 8));
        watermark(T0 + 80 + GRACE);
        List<LookupRequest> r = values(h.getSideOutput(Tags.LOOKUPS)).stream()
                .filter(q -> !q.kind.equals(LookupRequest.Kind.AUDIT))
                .toList();
        assertEquals(2, r.size());
        assertEquals(LookupRequest.Kind.FIRST_SEEN, r.get(0).kind);
        assertEquals(4, r.get(0).toSeq, "the base, up to the message after the first hole");
        assertEquals(LookupRequest.Kind.GAP, r.get(1).kind);
        assertEquals(6, r.get(1).fromSeq);
        assertEquals(7, r.get(1).toSeq);
        assertEquals("0/5,0/8", versions(h.extractOutputValues()));
    }

    @Test
    void aFirstSeenDeviceThatResetsIsNotAReset() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 5)); // waits for the grace: nothing forwarded yet
        send(inc("d", 1, 1, "{}"));
        assertTrue(values(h.getSideOutput(Tags.ALERTS)).isEmpty(), "no DEVICE_RESET from seq 0");
        List<LookupRequest> r = values(h.getSideOutput(Tags.LOOKUPS)).stream()
                .filter(q -> !q.kind.equals(LookupRequest.Kind.AUDIT))
                .toList();
        assertEquals(1, r.size());
        assertEquals(LookupRequest.Kind.FIRST_SEEN, r.get(0).kind);
        assertEquals(1, r.get(0).epoch);
        assertEquals("0/5,1/1", versions(h.extractOutputValues()));
        assertEquals(1, h.numEventTimeTimers(), "no grace timer left, only the audit");
    }

    @Test
    void aDatabaseBehindIsRecheckedWithBackoffUntilItCatchesUp() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        long b1 = next("d", T0 + 10);
        watermark(b1);
        watermark(b1 + AUDIT); // the quiet audit: the database was behind
        assertEquals(2, audits().size());
        assertEquals(1, h.numEventTimeTimers(), "the device's end");
        // Each DB_BEHIND read back schedules a re-check, 1, 2, 4 … intervals later.
        long t = b1 + AUDIT;
        List<Long> gaps = new java.util.ArrayList<>();
        for (int k = 0; k < 5; k++) {
            h.processElement2(
                    new AuditRecord(
                            "d",
                            new Version(0, 1),
                            new Version(0, 0),
                            k % 2 == 0 ? AuditRecord.Outcome.DB_BEHIND : AuditRecord.Outcome.DB_MISSING,
                            t),
                    t);
            assertEquals(1, h.numEventTimeTimers(), "one re-check armed (in the end's place)");
            int before = audits().size();
            long w = t;
            while (audits().size() == before) {
                w += AUDIT;
                watermark(w);
            }
            LookupRequest r = audits().get(audits().size() - 1);
            assertTrue(r.quiet && r.recheck && !r.repair);
            gaps.add((r.ts - t) / AUDIT);
            t = r.ts;
        }
        assertEquals(List.of(1L, 2L, 4L, 8L, 8L), gaps, "backs off, interval by interval, at most 8 apart");
        // The database caught up: the audit said VERIFIED (or repaired the tail): nothing more.
        h.processElement2(
                new AuditRecord("d", new Version(0, 1), new Version(0, 1), AuditRecord.Outcome.VERIFIED, t), t);
        assertEquals(1, h.numEventTimeTimers(), "the device's end only");
        // A device that sends again starts over.
        h.processElement1(new Increment("d", 0, 2, t + 1, new byte[] {'{', '}'}), t + 1);
        watermark(t + 2 * AUDIT);
        h.processElement2(
                new AuditRecord(
                        "d", new Version(0, 2), new Version(0, 1), AuditRecord.Outcome.DB_BEHIND, t + 2 * AUDIT),
                t + 2 * AUDIT);
        int before = audits().size();
        watermark(t + 4 * AUDIT);
        assertEquals(before + 1, audits().size(), "the series restarted at one interval");
    }

    @Test
    void aRepairedTailMovesTheGuardSoTheNextMessageIsNoGap() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        send(inc("d", 2));
        long b1 = next("d", T0 + 20);
        watermark(b1);
        watermark(b1 + AUDIT);
        // The quiet audit found the database at 5 and repaired 3..5.
        h.processElement2(
                new AuditRecord("d", new Version(0, 2), new Version(0, 5), AuditRecord.Outcome.TAIL_LOSS, b1 + AUDIT),
                b1 + AUDIT);
        long t = b1 + AUDIT + 100;
        h.processElement1(new Increment("d", 0, 6, t, new byte[] {'{', '}'}), t);
        h.processElement1(new Increment("d", 0, 4, t, new byte[] {'{', '}'}), t); // covered by the repair
        watermark(t + 2 * GRACE);
        assertEquals("0/1,0/2,0/6", versions(h.extractOutputValues()), "6 follows the repaired 5 at once");
        assertTrue(
                values(h.getSideOutput(Tags.LOOKUPS)).stream().noneMatch(r -> r.kind.equals(LookupRequest.Kind.GAP)));
        assertTrue(values(h.getSideOutput(Tags.ALERTS)).isEmpty(), "no SEQUENCE_GAP for a repaired tail");
    }

    @Test
    void aRepairedTailReleasesMessagesHeldBehindIt() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        long t = T0 + 100;
        h.processElement1(new Increment("d", 0, 4, t, new byte[] {'{', '}'}), t); // held: 2, 3 missing
        h.processElement2(
                new AuditRecord("d", new Version(0, 1), new Version(0, 3), AuditRecord.Outcome.TAIL_LOSS, t), t);
        assertEquals("0/1,0/4", versions(h.extractOutputValues()));
        assertEquals(1, h.numEventTimeTimers(), "grace timer gone, the audit stays");
        assertEquals(1, h.numKeyedStateEntries());
    }

    @Test
    void heldMessagesAndTimersSurviveASnapshotAndRestore() throws Exception {
        open(Duration.ofDays(30));
        watermark(T0);
        send(inc("d", 1));
        send(inc("d", 3));
        send(inc("d", 6));
        h.processElement2(
                new AuditRecord("d", new Version(0, 1), new Version(0, 0), AuditRecord.Outcome.DB_BEHIND, T0),
                T0); // timer armed already: no-op
        var snapshot = h.snapshot(1, T0 + 100);
        h.close();
        h = new KeyedTwoInputStreamOperatorTestHarness<>(
                new KeyedCoProcessOperator<>(new SequenceGuard(
                        Duration.ofMillis(GRACE), 1000, Duration.ofMillis(AUDIT), Duration.ofDays(30))),
                i -> i.deviceId,
                a -> a.deviceId,
                Types.STRING);
        h.setup();
        h.initializeState(snapshot);
        h.open();
        assertEquals(2, h.numKeyedStateEntries(), "the device value and its held messages");
        assertEquals(2, h.numEventTimeTimers(), "the grace timer and the audit timer");
        send(inc("d", 2)); // closes the first hole after the restore
        assertEquals("0/2,0/3", versions(h.extractOutputValues()));
        watermark(T0 + 60 + GRACE); // the second hole's grace
        assertEquals("0/2,0/3,0/6", versions(h.extractOutputValues()));
        assertEquals(
                1,
                values(h.getSideOutput(Tags.LOOKUPS)).stream()
                        .filter(r -> r.kind.equals(LookupRequest.Kind.GAP))
                        .count());
        watermark(next("d", T0 + 10));
        assertEquals(1, audits().size(), "the audit timer came through the restore");
    }

    @Test
    void theEndOfEventTimeDeclaresGapsButForgetsNothing() throws Exception {
        // A drained stop (stop --drain) or the end of a bounded input sends the last watermark.
        open(Duration.ofDays(30));
        send(inc("d", 1));
        send(inc("d", 3));
        watermark(Long.MAX_VALUE);
        assertEquals("0/1,0/3", versions(h.extractOutputValues()), "the gap is declared; no forget marker");
        assertTrue(h.extractOutputValues().stream().noneMatch(i -> i instanceof Increment.Forget));
        assertEquals(1, h.numKeyedStateEntries(), "the device is kept");
        assertEquals(
                1,
                values(h.getSideOutput(Tags.LOOKUPS)).stream()
                        .filter(r -> r.kind.equals(LookupRequest.Kind.GAP))
                        .count());
        assertTrue(audits().size() <= 2, "the audits due, then nothing: no timer wraps around to the past");
    }

    @Test
    void aDeviceThatSendsAgainIsNotLeftBehindALongRecheck() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        long b1 = next("d", T0 + 10);
        watermark(b1);
        watermark(b1 + AUDIT);
        // Many DB_BEHIND in a row: the next re-check is 8 intervals away.
        for (int k = 0; k < 5; k++) {
            h.processElement2(
                    new AuditRecord(
                            "d", new Version(0, 1), new Version(0, 0), AuditRecord.Outcome.DB_BEHIND, b1 + AUDIT),
                    b1 + AUDIT);
            long armed = h.numEventTimeTimers();
            assertEquals(1, armed);
            int before = audits().size();
            long w = b1 + AUDIT;
            while (audits().size() == before) watermark(w += AUDIT);
        }
        h.processElement2(
                new AuditRecord("d", new Version(0, 1), new Version(0, 0), AuditRecord.Outcome.DB_BEHIND, b1 + AUDIT),
                b1 + AUDIT);
        long now = audits().get(audits().size() - 1).ts + 1;
        // It sends again: its audit comes at its next boundary, not 8 intervals later.
        h.processElement1(new Increment("d", 0, 2, now, new byte[] {'{', '}'}), now);
        int before = audits().size();
        watermark(next("d", now));
        assertEquals(before + 1, audits().size(), "audited at its usual boundary");
        assertEquals(1, h.numEventTimeTimers(), "the far re-check is gone; the next audit is armed");
    }

    @Test
    void onlyInFlightFromAnActiveAuditMakesTheQuietAuditARecheck() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        long b1 = next("d", T0 + 10);
        watermark(b1); // active audit; the next (quiet) one is armed
        h.processElement2(
                new AuditRecord("d", new Version(0, 1), new Version(0, 0), AuditRecord.Outcome.DB_BEHIND, b1), b1);
        watermark(b1 + AUDIT);
        assertFalse(audits().get(1).recheck, "a database behind says nothing about tail loss");
        h.close();
        open(Duration.ofDays(30));
        send(inc("d", 1));
        watermark(b1);
        h.processElement2(
                new AuditRecord("d", new Version(0, 1), new Version(0, 3), AuditRecord.Outcome.IN_FLIGHT, b1), b1);
        watermark(b1 + AUDIT);
        assertTrue(audits().get(1).recheck, "the database was ahead: the quiet audit concludes");
    }

    @Test
    void aTailRepairedIntoANewEpochIsAResetAndARecordOfAnotherRunIsIgnored() throws Exception {
        open(Duration.ofDays(30));
        send(inc("d", 1));
        send(inc("d", 2));
        // A record of a run that had gone further (replayed after a restore from an older savepoint).
        h.processElement2(
                new AuditRecord("d", new Version(0, 5), new Version(0, 9), AuditRecord.Outcome.TAIL_LOSS, T0), T0);
        send(inc("d", 3));
        assertEquals("0/1,0/2,0/3", versions(h.extractOutputValues()), "the guard did not move");
        // The device reset and every message of epoch 1 was lost; the audit repaired it to (1, 4).
        h.processElement2(
                new AuditRecord("d", new Version(0, 3), new Version(1, 4), AuditRecord.Outcome.TAIL_LOSS, T0 + 100),
                T0 + 100);
        List<io.devicesync.model.Alert> alerts = values(h.getSideOutput(Tags.ALERTS));
        assertEquals(
                List.of("DEVICE_RESET"), alerts.stream().map(a -> a.type.name()).toList());
        send(inc("d", 1, 5, "{}"));
        assertEquals("0/1,0/2,0/3,1/5", versions(h.extractOutputValues()), "(1, 5) follows the repaired (1, 4)");
    }
}
