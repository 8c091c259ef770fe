package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.T0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.AlertType;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.Version;
import io.devicesync.operators.GuardState;
import io.devicesync.operators.sync.GuardDecision.Event;
import io.devicesync.operators.sync.GuardDecision.TimerOp;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The SequenceGuard's decisions without Flink: state in, decision out, the clock passed in. */
class GuardRulesTest {
    static final long GRACE = 2_000;
    static final long AUDIT = 10_000;
    static final long ROUTINE = 1_400;
    static final long WALL = 1_900_000_000_000L;

    static final long IDLE = 30L * 24 * 3600 * 1000;
    private final GuardRules rules = new GuardRules(GRACE, 1000, AUDIT, IDLE, ROUTINE, () -> WALL);
    private final MapHeld held = new MapHeld();
    private GuardState s;

    /** Early messages in a map, as the MapState holds them. */
    static final class MapHeld implements GuardRules.Held {
        final TreeMap<Long, Increment> map = new TreeMap<>();

        @Override
        public Increment get(long seq) {
            return map.get(seq);
        }

        @Override
        public boolean contains(long seq) {
            return map.containsKey(seq);
        }

        @Override
        public void put(Increment i) {
            map.put(i.seq, i);
        }

        @Override
        public void remove(long seq) {
            map.remove(seq);
        }

        @Override
        public Iterable<Increment> all() {
            return List.copyOf(map.values());
        }

        @Override
        public void clear() {
            map.clear();
        }
    }

    private static Increment inc(long epoch, long seq, long ts) {
        return new Increment("d", epoch, seq, ts, new byte[] {'{', '}'});
    }

    /** Applies what the function would: the state saved or forgotten. */
    private GuardDecision keep(GuardDecision d) {
        if (d.forget) s = null;
        else if (d.save) s = d.state;
        return d;
    }

    private GuardDecision increment(long epoch, long seq, long ts, long wm) throws Exception {
        return keep(rules.onIncrement(s, held, inc(epoch, seq, ts), wm));
    }

    private GuardDecision timer(long t, long wm) throws Exception {
        return keep(rules.onTimer(s, held, "d", t, wm));
    }

    private static String forwarded(GuardDecision d) {
        return d.forward.stream().map(i -> i.epoch + "/" + i.seq).collect(Collectors.joining(","));
    }

    @Test
    void theNextVersionGoesAtOnceAndArmsTheAuditAtTheDevicesSlot() throws Exception {
        GuardDecision d = increment(0, 1, T0, T0 - 100);
        assertEquals("0/1", forwarded(d));
        assertTrue(d.save);
        long slot = rules.slotAfter("d", T0);
        assertEquals(List.of(new TimerOp(true, slot)), d.timers);
        assertEquals(1, d.count(Event.FORWARDED, 0));
        assertTrue(s.active);
    }

    @Test
    void aDuplicateIsCountedAndChangesNothing() throws Exception {
        increment(0, 1, T0, T0);
        GuardDecision d = increment(0, 1, T0 + 5, T0);
        assertEquals("", forwarded(d));
        assertFalse(d.save, "nothing to write");
        assertEquals(1, d.count(Event.DUPLICATE, 0));
    }

    @Test
    void anEarlyMessageWaitsForTheGraceThenTheHoleIsAGapWithItsRange() throws Exception {
        increment(0, 1, T0, T0);
        GuardDecision d = increment(0, 4, T0 + 10, T0);
        assertEquals("", forwarded(d));
        assertEquals(1, held.map.size());
        assertTrue(d.timers.contains(new TimerOp(true, T0 + 10 + GRACE)), "the grace from the message's time");
        d = timer(T0 + 10 + GRACE, T0 + 10 + GRACE);
        assertEquals("0/4", forwarded(d));
        assertEquals(1, d.alerts.size());
        assertEquals(AlertType.SEQUENCE_GAP, d.alerts.get(0).type);
        assertEquals(List.of(2L, 3L), List.of(d.lookups.get(0).fromSeq, d.lookups.get(0).toSeq));
        assertEquals(LookupRequest.Kind.GAP, d.lookups.get(0).kind);
        assertEquals(WALL, d.lookups.get(0).issuedAt, "the clock passed in");
        assertTrue(held.map.isEmpty());
    }

    /**
     * Interruptible timers: a record can come after the watermark passed a grace whose timer has
     * not fired yet. It is decided as if that timer had fired first: the ended grace's hole is
     * declared and the message after it forwarded, and the record, early itself, gets a full grace
     * of its own (not the passed timer's time plus a grace, long gone). The passed timer, left, finds
     * nothing to do when it fires.
     */
    @Test
    void aRecordAfterAPassedGraceWhoseTimerWaitsIsDecidedAsIfTheTimerHadFired() throws Exception {
        increment(0, 1, T0, T0);
        increment(0, 3, T0 + 10, T0);
        long grace = s.graceTimer;
        assertEquals(T0 + 10 + GRACE, grace);
        long jump = grace + 60_000;
        // Event time jumped; the timer at `grace` waits in Flink's interrupted loop; 5 comes.
        GuardDecision d = increment(0, 5, jump, jump);
        assertEquals("0/3", forwarded(d), "the ended grace: hole 2 declared, 3 goes on");
        assertEquals(1, d.alerts.size());
        assertEquals(AlertType.SEQUENCE_GAP, d.alerts.get(0).type);
        assertEquals(List.of(2L, 2L), List.of(d.lookups.get(0).fromSeq, d.lookups.get(0).toSeq));
        assertFalse(
                d.timers.contains(new TimerOp(false, grace)), "the passed grace timer is left: it fires in its loop");
        assertEquals(jump + GRACE, s.graceTimer, "5 waits its own grace, from its time");
        assertTrue(d.timers.contains(new TimerOp(true, jump + GRACE)));
        assertTrue(d.save);
        // 4 comes within that grace: no gap for it.
        d = increment(0, 4, jump + 100, jump + 100);
        assertEquals("0/4,0/5", forwarded(d));
        assertTrue(d.alerts.isEmpty());
        // The passed timer fires in its loop: nothing to do.
        d = timer(grace, jump + 100);
        assertEquals("", forwarded(d));
        assertTrue(d.alerts.isEmpty());
    }

    /**
     * An audit a long jump passed is moved without the device's state, which still names the old
     * time. The device's next record arms its audit anew, a timer the state knows of: a grace
     * deleted later at the moved timer's millisecond cannot take the device's audit with it (the
     * device would never be audited again). The moved timer, when it fires, finds nothing due.
     */
    @Test
    void aRecordAfterAJumpArmsTheAuditTheStateKnows() throws Exception {
        increment(0, 1, T0, T0);
        long passed = s.auditTimer;
        long jump = passed + 3_600_000;
        long moved = rules.moveWithoutState("d", passed, jump).orElseThrow();
        assertEquals(passed, s.auditTimer, "moved without the state");
        GuardDecision d = increment(0, 2, jump, jump);
        long at = rules.slotAfter("d", jump);
        assertEquals(at, s.auditTimer);
        assertTrue(d.timers.contains(new TimerOp(true, at)), "armed anew");
        assertTrue(at > moved && at - moved <= AUDIT, "at the same slot as the moved audit, or the next");
        d = timer(moved, moved);
        assertTrue(d.lookups.isEmpty(), "the moved timer finds nothing due");
        d = timer(at, at);
        assertEquals(1, d.lookups.size(), "the audit, at its slot");
        assertEquals(LookupRequest.Kind.AUDIT, d.lookups.get(0).kind);
    }

    @Test
    void theMissingMessageInTimeDrainsTheHeldAndDeletesTheGrace() throws Exception {
        increment(0, 1, T0, T0);
        increment(0, 3, T0 + 10, T0);
        long grace = s.graceTimer;
        GuardDecision d = increment(0, 2, T0 + 20, T0);
        assertEquals("0/2,0/3", forwarded(d));
        assertTrue(d.timers.contains(new TimerOp(false, grace)));
        assertEquals(0, s.graceTimer);
        assertTrue(d.alerts.isEmpty());
    }

    @Test
    void aHigherEpochIsAResetWithASnapshotRequest() throws Exception {
        increment(0, 1, T0, T0);
        GuardDecision d = increment(1, 1, T0 + 10, T0);
        assertEquals("1/1", forwarded(d));
        assertEquals(AlertType.DEVICE_RESET, d.alerts.get(0).type);
        assertEquals(LookupRequest.Kind.RESET, d.lookups.get(0).kind);
        assertEquals(1, d.count(Event.RESET, 0));
    }

    @Test
    void aDeviceFirstSeenInAHigherEpochAsksForItsSnapshotWithoutAnAlert() throws Exception {
        GuardDecision d = increment(3, 7, T0, T0);
        assertEquals("3/7", forwarded(d));
        assertEquals(LookupRequest.Kind.FIRST_SEEN, d.lookups.get(0).kind);
        assertTrue(d.alerts.isEmpty());
    }

    @Test
    void anActiveDeviceIsAuditedThenOnceMoreQuietThenNotAgain() throws Exception {
        increment(0, 1, T0, T0);
        long slot = rules.slotAfter("d", T0);
        GuardDecision d = timer(slot, slot);
        assertEquals(1, d.lookups.size());
        assertFalse(d.lookups.get(0).quiet);
        assertEquals(List.of(new TimerOp(true, slot + AUDIT)), d.timers);
        d = timer(slot + AUDIT, slot + AUDIT);
        assertTrue(d.lookups.get(0).quiet, "quiet: may conclude tail loss");
        long end = rules.slotAfter("d", slot + AUDIT + IDLE);
        assertEquals(List.of(new TimerOp(true, end)), d.timers, "a quiet audit arms the device's end, an idle TTL on");
        // Nothing comes: the end forgets the device (its reconciler part with it).
        d = timer(end, end);
        assertTrue(d.forget, "forgotten");
        assertTrue(d.lookups.isEmpty());
        assertTrue(d.forward.get(0) instanceof Increment.Forget);
    }

    /** A device that sent once, was audited, then quiet-audited: the time of the end that armed. */
    private long quietWithItsEnd() throws Exception {
        increment(0, 1, T0, T0);
        long slot = rules.slotAfter("d", T0);
        timer(slot, slot);
        timer(slot + AUDIT, slot + AUDIT);
        return rules.slotAfter("d", slot + AUDIT + IDLE);
    }

    @Test
    void theEndOfEventTimeForgetsNoQuietDevice() throws Exception {
        long end = quietWithItsEnd();
        GuardDecision d = timer(end, Long.MAX_VALUE); // a drained stop passes the end
        assertFalse(d.forget, "not forgotten at the end of event time");
        assertTrue(d.forward.isEmpty());
        assertTrue(d.lookups.isEmpty(), "nor audited");
        assertTrue(d.save);
        assertEquals(0, s.auditTimer, "the timer is spent");
        assertEquals(List.of(), d.timers);
    }

    @Test
    void aDeviceThatSendsBeforeItsEndIsAuditedAgainAndItsEndGoes() throws Exception {
        long end = quietWithItsEnd();
        long back = rules.slotAfter("d", T0) + 50 * AUDIT;
        GuardDecision d = increment(0, 2, back, back);
        assertEquals("0/2", forwarded(d));
        assertEquals(
                List.of(new TimerOp(false, end), new TimerOp(true, rules.slotAfter("d", back))),
                d.timers,
                "the end gives way to the next audit");
    }

    @Test
    void anInconclusiveAuditIsRecheckedBackingOff() throws Exception {
        increment(0, 1, T0, T0);
        long slot = rules.slotAfter("d", T0);
        timer(slot, slot);
        timer(slot + AUDIT, slot + AUDIT);
        long[] expected = {1, 2, 4, 8, 8};
        long at = slot + AUDIT;
        for (long intervals : expected) {
            GuardDecision d = keep(rules.onAuditRecord(
                    s,
                    held,
                    new AuditRecord("d", new Version(0, 1), new Version(0, 2), AuditRecord.Outcome.DB_BEHIND, at),
                    "d",
                    at));
            // The re-check takes the place of the end the quiet audit at {@code at} had armed.
            assertEquals(
                    List.of(
                            new TimerOp(false, rules.slotAfter("d", at + IDLE)),
                            new TimerOp(true, at + intervals * AUDIT)),
                    d.timers,
                    "after " + intervals);
            at += intervals * AUDIT;
            d = timer(at, at);
            assertTrue(d.lookups.get(0).recheck);
        }
    }

    @Test
    void anAuditPassedByALongJumpMovesOnceToTheSlotAfterItWithoutTheState() throws Exception {
        increment(0, 1, T0, T0);
        long slot = rules.slotAfter("d", T0);
        long jumped = slot + 3 * AUDIT + 123;
        // Moved from the key and the times alone: 1 ms before the device's slot after the jump.
        long moved = rules.moveWithoutState("d", slot, jumped).orElseThrow();
        assertEquals(rules.slotAfter("d", jumped) - 1, moved);
        assertTrue(moved > jumped && moved < jumped + AUDIT, "in the interval after the jump");
        // The moved timer is off the grid: a coarse step passes it, it is not moved again, and the
        // state (whose audit time was left behind) runs the audit then.
        assertTrue(rules.moveWithoutState("d", moved, moved + 5_000).isEmpty(), "moved once");
        GuardDecision d = timer(moved, moved + 5_000);
        assertEquals(1, d.lookups.size());
        assertEquals(moved, d.lookups.get(0).ts);
        assertEquals(
                List.of(new TimerOp(true, rules.slotAfter("d", moved + 5_000))),
                d.timers,
                "the next audit, on the grid");
    }

    @Test
    void aMovedAuditRunInFineStepsArmsTheNextOneAWholeIntervalAfterItsSlot() throws Exception {
        increment(0, 1, T0, T0);
        long slot = rules.slotAfter("d", T0);
        long jumped = slot + 3 * AUDIT + 123;
        long moved = rules.moveWithoutState("d", slot, jumped).orElseThrow();
        // Active again: its audit is armed anew at its slot, 1 ms after the moved timer, a time
        // the state knows (aRecordAfterAJumpArmsTheAuditTheStateKnows).
        increment(0, 2, jumped, jumped);
        assertEquals(moved + 1, s.auditTimer);
        GuardDecision d = timer(moved, moved);
        assertTrue(d.lookups.isEmpty(), "the moved timer: nothing due");
        d = timer(moved + 1, moved + 1);
        assertEquals(1, d.lookups.size());
        assertEquals(List.of(new TimerOp(true, moved + 1 + AUDIT)), d.timers, "the next, a whole interval on");
    }

    @Test
    void aGracePassedWithItsSharedAuditTimerRunsWhenTheMovedTimerFires() throws Exception {
        increment(0, 1, T0, T0);
        long slot = rules.slotAfter("d", T0);
        // seq 3 held, its grace ending exactly at the audit's slot: one timer serves both.
        increment(0, 3, slot - GRACE, slot - GRACE);
        assertEquals(slot, s.graceTimer);
        long jumped = slot + 3 * AUDIT;
        long moved = rules.moveWithoutState("d", slot, jumped).orElseThrow();
        GuardDecision d = timer(moved, jumped + 200);
        assertEquals("0/3", forwarded(d), "the grace ended: the gap is declared, the held message goes");
        assertEquals(
                1,
                d.lookups.stream().filter(r -> r.kind == LookupRequest.Kind.GAP).count());
        assertEquals(
                1,
                d.lookups.stream()
                        .filter(r -> r.kind == LookupRequest.Kind.AUDIT)
                        .count());
    }

    @Test
    void onlyAnAuditSlotPassedByMoreThanTheRoutineJumpIsMovedWithoutTheState() {
        long slot = rules.slotAfter("d", T0);
        assertTrue(rules.moveWithoutState("d", slot, slot + ROUTINE).isEmpty(), "a routine jump: run as due");
        assertTrue(rules.moveWithoutState("d", slot + 7, slot + 3 * AUDIT).isEmpty(), "off the grid (a grace)");
        assertTrue(rules.moveWithoutState("d", slot, Long.MAX_VALUE).isEmpty(), "the end of event time: no after");
        assertTrue(rules.moveWithoutState("d", slot, slot + ROUTINE + 1).isPresent());
    }

    @Test
    void aRoutineJumpRunsTheAuditAsDue() throws Exception {
        increment(0, 1, T0, T0);
        long slot = rules.slotAfter("d", T0);
        assertEquals(1, timer(slot, slot + ROUTINE).lookups.size());
    }

    @Test
    void aDeviceSilentForTheIdleTtlIsForgottenAtItsAudit() throws Exception {
        GuardRules shortTtl = new GuardRules(GRACE, 1000, AUDIT, 5 * AUDIT, ROUTINE, () -> WALL);
        s = shortTtl.onIncrement(null, held, inc(0, 1, T0), T0).state;
        long slot = shortTtl.slotAfter("d", T0);
        s = shortTtl.onTimer(s, held, "d", slot, slot).state; // active audit
        s = shortTtl.onTimer(s, held, "d", slot + AUDIT, slot + AUDIT).state; // quiet audit, nothing armed
        keep(shortTtl.onAuditRecord(
                s,
                held,
                new AuditRecord(
                        "d", new Version(0, 1), new Version(0, 2), AuditRecord.Outcome.DB_BEHIND, slot + 6 * AUDIT),
                "d",
                slot + 6 * AUDIT));
        GuardDecision d = keep(shortTtl.onTimer(s, held, "d", s.auditTimer, s.auditTimer));
        assertTrue(d.forget);
        assertTrue(d.forward.get(0) instanceof Increment.Forget, "the reconciler is told");
        assertNull(s);
    }
}
