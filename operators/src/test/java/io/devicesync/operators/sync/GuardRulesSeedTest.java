package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.T0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.operators.GuardState;
import io.devicesync.operators.sync.GuardDecision.Event;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The SequenceGuard's rules for the bootstrap's seeds ({@code --bootstrap.from-database}). */
class GuardRulesSeedTest {
    static final long GRACE = 2_000;
    static final long AUDIT = 10_000;
    static final long NO_TIME = Long.MIN_VALUE;

    private final GuardRules rules = new GuardRules(GRACE, 1000, AUDIT, 30L * 24 * 3600 * 1000, 1_400, true, () -> 1L);
    private final GuardRulesTest.MapHeld held = new GuardRulesTest.MapHeld();
    private GuardState s;

    private GuardDecision keep(GuardDecision d) {
        if (d.forget) s = null;
        else if (d.save) s = d.state;
        return d;
    }

    private GuardDecision increment(long epoch, long seq, long ts, long wm) throws Exception {
        return keep(rules.onIncrement(s, held, new Increment("d", epoch, seq, ts, new byte[] {'{', '}'}), wm));
    }

    private GuardDecision seed(long epoch, long seq, long wm) throws Exception {
        return keep(rules.onSeed(s, held, Increment.seed("d", epoch, seq, T0 - 60_000, "{\"a\":1}".getBytes()), wm));
    }

    private static String forwarded(GuardDecision d) {
        return d.forward.stream()
                .map(i -> (i instanceof Increment.Seed ? "seed " : "") + i.epoch + "/" + i.seq)
                .collect(Collectors.joining(","));
    }

    @Test
    void aDeviceNeverSeenTakesTheSeedAsItsBaseAndItsNextVersionGoesAtOnceWithoutALookup() throws Exception {
        GuardDecision d = seed(0, 40, NO_TIME);
        assertEquals("seed 0/40", forwarded(d));
        assertEquals(1, d.count(Event.SEEDED, 0));
        assertTrue(d.timers.isEmpty(), "no audit for a device that has not spoken: " + d.timers);
        assertTrue(d.lookups.isEmpty());
        d = increment(0, 41, T0, T0);
        assertEquals("0/41", forwarded(d));
        assertTrue(d.lookups.isEmpty(), "no lookup: " + d.lookups);
        d = increment(0, 40, T0, T0);
        assertEquals(1, d.count(Event.DUPLICATE, 0), "the seed's version and below are stale");
    }

    @Test
    void firstMessagesWaitingForTheGraceAreReplayedOnTheSeedAndThoseItCoversDropped() throws Exception {
        increment(0, 39, T0, NO_TIME);
        increment(0, 41, T0 + 1, NO_TIME);
        increment(0, 42, T0 + 2, NO_TIME);
        assertEquals(3, s.heldCount);
        GuardDecision d = seed(0, 40, NO_TIME);
        assertEquals("seed 0/40,0/41,0/42", forwarded(d));
        assertEquals(0, s.heldCount);
        assertTrue(held.map.isEmpty());
        assertTrue(d.timers.stream().anyMatch(t -> !t.register()), "the grace timer goes: " + d.timers);
        assertTrue(d.lookups.isEmpty());
    }

    @Test
    void aHoleBetweenTheSeedAndTheHeldMessagesIsAGapWhenTheGraceEnds() throws Exception {
        increment(0, 45, T0, NO_TIME);
        GuardDecision d = seed(0, 40, NO_TIME);
        assertEquals("seed 0/40", forwarded(d));
        assertEquals(1, s.heldCount);
        d = keep(rules.onTimer(s, held, "d", s.graceTimer, s.graceTimer));
        assertEquals(1, d.count(Event.GAP, 0));
        assertEquals(LookupRequest.Kind.GAP, d.lookups.get(0).kind);
        assertEquals(41, d.lookups.get(0).fromSeq);
        assertEquals(44, d.lookups.get(0).toSeq);
        assertEquals("0/45", forwarded(d));
    }

    @Test
    void aDeviceThatSpokeFirstKeepsTheStreamAndTheSeedIsSkipped() throws Exception {
        increment(0, 1, T0, NO_TIME);
        GuardDecision d = seed(0, 40, NO_TIME);
        assertEquals("", forwarded(d));
        assertEquals(1, d.count(Event.SEED_SKIPPED, 0));
        assertEquals(1, s.seq);
    }

    @Test
    void whileTheBootstrapRunsADeviceFirstSeenInAHigherEpochWaitsForItsSeed() throws Exception {
        GuardDecision d = increment(3, 1, T0, NO_TIME);
        assertEquals("", forwarded(d), "not forwarded: even seq 1 of epoch 3 needs what came before");
        assertTrue(d.lookups.isEmpty());
        increment(3, 2, T0 + 1, NO_TIME);
        d = seed(3, 0 + 1, NO_TIME);
        assertEquals("seed 3/1,3/2", forwarded(d));
        assertTrue(d.lookups.isEmpty());
    }

    @Test
    void unseededAfterTheBootstrapADeviceOfAHigherEpochIsLookedUpWhenTheGraceEnds() throws Exception {
        increment(2, 5, T0, NO_TIME);
        GuardDecision d = keep(rules.onTimer(s, held, "d", s.graceTimer, s.graceTimer));
        assertEquals(LookupRequest.Kind.FIRST_SEEN, d.lookups.get(0).kind);
        assertEquals(2, d.lookups.get(0).epoch);
        assertEquals(4, d.lookups.get(0).toSeq);
        assertEquals("2/5", forwarded(d));
    }

    @Test
    void aSeedOfAnOlderEpochThanTheHeldMessagesIsSkippedAndANewerOneDropsThem() throws Exception {
        increment(2, 5, T0, NO_TIME);
        assertEquals(1, seed(1, 9, NO_TIME).count(Event.SEED_SKIPPED, 0));
        GuardDecision d = seed(3, 2, NO_TIME);
        assertEquals("seed 3/2", forwarded(d));
        assertEquals(0, s.heldCount);
    }

    @Test
    void withoutABootstrapADeviceFirstSeenInAHigherEpochIsLookedUpAtOnce() throws Exception {
        GuardRules plain = new GuardRules(GRACE, 1000, AUDIT, 30L * 24 * 3600 * 1000, 1_400, () -> 1L);
        GuardDecision d = plain.onIncrement(null, held, new Increment("d", 3, 1, T0, new byte[] {'{', '}'}), NO_TIME);
        assertEquals("3/1", forwarded(d));
        assertEquals(LookupRequest.Kind.FIRST_SEEN, d.lookups.get(0).kind);
    }
}
