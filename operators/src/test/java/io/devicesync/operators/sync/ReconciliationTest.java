package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.T0;
import static io.devicesync.operators.TestData.inc;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.BreakerReport;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.model.Version;
import io.devicesync.model.Versions;
import io.devicesync.operators.HeldIncrement;
import io.devicesync.operators.ReconcilerState;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The reconciler's rules without Flink: state + input in, what to publish, alert and audit out. */
class ReconciliationTest {
    private final Reconciliation rules = new Reconciliation(3, 64, () -> 1_000L);
    private final ReconcilerState s = new ReconcilerState();
    private final MapHeld held = new MapHeld();
    private final Recorder fx = new Recorder();

    /** Held increments and their order links in maps, as the two MapStates hold them in the job. */
    static final class MapHeld implements Reconciliation.Held {
        final TreeMap<String, HeldIncrement> map = new TreeMap<>();
        final HashMap<String, long[]> links = new HashMap<>();

        private static String key(long epoch, long seq) {
            return String.format("%019d/%019d", epoch, seq);
        }

        @Override
        public boolean contains(long epoch, long seq) {
            return map.containsKey(key(epoch, seq));
        }

        @Override
        public HeldIncrement get(long epoch, long seq) {
            return map.get(key(epoch, seq));
        }

        @Override
        public void put(HeldIncrement h) {
            map.put(key(h.increment.epoch, h.increment.seq), h);
        }

        @Override
        public void remove(long epoch, long seq) {
            map.remove(key(epoch, seq));
        }

        @Override
        public long[] next(long epoch, long seq) {
            return links.get(key(epoch, seq));
        }

        @Override
        public void setNext(long epoch, long seq, long nextEpoch, long nextSeq) {
            links.put(key(epoch, seq), new long[] {nextEpoch, nextSeq});
        }

        @Override
        public void removeNext(long epoch, long seq) {
            links.remove(key(epoch, seq));
        }

        @Override
        public Iterable<HeldIncrement> all() {
            return new ArrayList<>(map.values());
        }

        @Override
        public void clearOrder() {
            links.clear();
        }

        /** The held versions in version order (the sorted map's). */
        String versions() {
            return map.values().stream()
                    .map(h -> Versions.format(h.increment.epoch, h.increment.seq))
                    .collect(Collectors.joining(","));
        }

        /** The held versions as the order links chain them, from the oldest recorded in {@code s}. */
        String chain(ReconcilerState s) {
            List<String> out = new ArrayList<>();
            long[] at = s.heldCount == 0 ? null : new long[] {s.heldFirstEpoch, s.heldFirstSeq};
            while (at != null && out.size() <= map.size()) {
                out.add(Versions.format(at[0], at[1]));
                at = next(at[0], at[1]);
            }
            return String.join(",", out);
        }
    }

    /** Records every effect. */
    static final class Recorder implements Reconciliation.Effects {
        final List<DeviceState> published = new ArrayList<>();
        final List<Alert> alerts = new ArrayList<>();
        final List<AuditRecord> audits = new ArrayList<>();
        final EnumMap<Event, Integer> counts = new EnumMap<>(Event.class);
        int repaired;
        int waiting;

        @Override
        public void publish(DeviceState state) {
            published.add(state);
        }

        @Override
        public void alert(Alert alert) {
            alerts.add(alert);
        }

        @Override
        public void audit(AuditRecord audit) {
            audits.add(audit);
        }

        @Override
        public void count(Event event) {
            counts.merge(event, 1, Integer::sum);
        }

        @Override
        public void repaired(LookupRequest request) {
            repaired++;
        }

        @Override
        public void waiting(int delta) {
            waiting += delta;
        }

        String versions() {
            return published.stream()
                    .map(p -> Versions.format(p.epoch, p.seq) + ":" + p.source)
                    .collect(Collectors.joining(","));
        }

        List<String> alertTypes() {
            return alerts.stream().map(a -> a.type.name()).toList();
        }
    }

    private void send(Increment i) throws Exception {
        rules.onIncrement(s, held, i, fx);
    }

    private void result(LookupResult r) throws Exception {
        rules.onResult(s, held, r, fx);
    }

    private static byte[] json(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aSeedIsTheDevicesFirstVersionPublishedAsASnapshotAndTheStreamContinuesOnIt() throws Exception {
        assertTrue(rules.onSeed(s, held, Increment.seed("d", 0, 40, T0, json("{\"a\":1}")), fx));
        assertEquals("0/40:snapshot", fx.versions());
        send(new Increment("d", 0, 41, T0 + 1, json("{\"b\":2}")));
        assertEquals("0/40:snapshot,0/41:increment", fx.versions());
        assertEquals("{\"a\":1,\"b\":2}", new String(fx.published.get(1).state, StandardCharsets.UTF_8));
        assertEquals(0, fx.waiting, "nothing waits for a repair");
    }

    @Test
    void aSeedNeverOverwritesADeviceThatHasAVersion() throws Exception {
        send(inc("d", 1));
        assertFalse(rules.onSeed(s, held, Increment.seed("d", 0, 40, T0, json("{\"a\":1}")), fx));
        assertEquals("0/1:increment", fx.versions());
        assertEquals(1, fx.counts.get(Reconciliation.Effects.Event.STALE_DROPPED));
    }

    @Test
    void aSeedTooLargeToKeepIsRefusedAndTheDeviceAsksForASnapshotThatFits() throws Exception {
        // Kept documents are at most 4 x 64 bytes here.
        String big = "{\"a\":\"" + "x".repeat(300) + "\"}";
        rules.onSeed(s, held, Increment.seed("d", 0, 40, T0, json(big)), fx);
        assertEquals("", fx.versions());
        assertEquals(List.of("STATE_TOO_LARGE"), fx.alertTypes());
        assertEquals(AuditRecord.Outcome.REPAIR_PENDING, fx.audits.get(0).outcome);
    }

    @Test
    void publishesInOrderAndHoldsAfterAGapUntilTheLogRepairsIt() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3));
        assertEquals("0/1:increment", fx.versions());
        assertEquals(1, fx.waiting, "the device waits");
        assertEquals(1, s.heldCount);
        result(LookupResult.log(
                new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 2, T0, 0), new Increment[] {inc("d", 2)}));
        assertEquals("0/1:increment,0/2:log,0/3:increment", fx.versions());
        assertEquals(0, fx.waiting);
        assertEquals(1, fx.repaired);
        assertTrue(held.map.isEmpty());
        assertTrue(fx.alerts.isEmpty());
    }

    @Test
    void aRepairThatLeavesTheDeviceWaitingFailsAndAsksTheGuardForAnother() throws Exception {
        send(inc("d", 1));
        send(inc("d", 4));
        result(LookupResult.log(
                new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 3, T0, 0), new Increment[] {inc("d", 2)}));
        assertEquals("0/1:increment,0/2:log", fx.versions());
        assertEquals(List.of("RESYNC_FAILED"), fx.alertTypes());
        assertEquals(AuditRecord.Outcome.REPAIR_PENDING, fx.audits.get(0).outcome);
        assertEquals(2, fx.audits.get(0).published.seq, "published below what the guard forwarded: it waits");
        assertEquals(1, fx.counts.get(Reconciliation.Effects.Event.REPAIR_FAILED));
    }

    /**
     * Issue 17: lookups shed while the database freezes, before the breaker opens, raised a
     * RESYNC_FAILED each, ahead of DATABASE_UNAVAILABLE. A lookup never sent is not yet a failed
     * repair while the device has waited less than the grace: nothing raised (it is counted and the
     * device waits for its audit); past the grace its retry refused by the breaker is.
     */
    @Test
    void aLookupNeverSentIsNoFailedRepairUntilTheDeviceHasWaitedTheGrace() throws Exception {
        long[] now = {1_000};
        Reconciliation graced = new Reconciliation(3, 64, 20_000, () -> now[0]);
        graced.onIncrement(s, held, inc("d", 1), fx);
        graced.onIncrement(s, held, inc("d", 4), fx);
        LookupRequest gap = new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 3, T0, 0);
        graced.onResult(
                s, held, LookupResult.failed(gap, LookupResult.Outcome.UNAVAILABLE, "database lookup shed"), fx);
        assertEquals(List.of(), fx.alertTypes(), "shed: not sent, nothing raised");
        assertEquals(1, fx.counts.get(Reconciliation.Effects.Event.REPAIR_FAILED), "still counted");
        assertEquals(AuditRecord.Outcome.REPAIR_PENDING, fx.audits.get(0).outcome, "the audit retries it");
        now[0] += 20_000;
        LookupResult refused = LookupResult.failed(
                LookupRequest.audit("d", 0, 4, true, false, T0 + 1, 0),
                LookupResult.Outcome.UNAVAILABLE,
                "database unavailable: circuit breaker open");
        refused.rejectedBy = new BreakerReport(1, 2, 77, 3, true);
        graced.onResult(s, held, refused, fx);
        assertEquals(List.of("RESYNC_FAILED"), fx.alertTypes(), "the retry failed too, past the grace");
        assertTrue(fx.alerts.get(0).details.contains("\"databaseUnavailable\":true"));
        assertTrue(fx.alerts.get(0).details.contains("\"failures\":1"), fx.alerts.get(0).details);
        assertSame(refused.rejectedBy, fx.alerts.get(0).breaker, "the outage that refused it, for the policy");
    }

    /**
     * A frozen database fills the lookups in flight; the breaker opens only when their attempts
     * time out. With audits more often than that, a shed device is retried and shed again before:
     * its retries are not failed repairs until it has waited for the grace. After the grace they
     * are, as for any device: the first three raise (the third CRITICAL), then every tenth. Before,
     * the failures within the grace counted too, and a device shed for the grace (ten audits of
     * 2 s) raised nothing until its tenth: a database frozen for 40 s left DATABASE_RECOVERED
     * counting none suppressed (a CI run of RepairFaultsITCase).
     */
    @Test
    void aShedDeviceRaisesNoFailedRepairWithinTheGraceThenAsAnyDevice() throws Exception {
        long[] now = {1_000};
        Reconciliation graced = new Reconciliation(3, 64, 20_000, () -> now[0]);
        graced.onIncrement(s, held, inc("d", 1), fx);
        graced.onIncrement(s, held, inc("d", 4), fx);
        LookupRequest gap = new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 3, T0, 0);
        graced.onResult(
                s, held, LookupResult.failed(gap, LookupResult.Outcome.UNAVAILABLE, "database lookup shed"), fx);
        int k = 0;
        while (now[0] + 2_000 < 1_000 + 20_000) {
            now[0] += 2_000; // the device's next audit, 2 s later, shed again
            shedAudit(graced, ++k);
        }
        assertEquals(9, k);
        assertEquals(List.of(), fx.alertTypes(), "19 s of waiting: within the grace, nothing raised");
        assertEquals(10, fx.counts.get(Reconciliation.Effects.Event.REPAIR_FAILED), "each counted");
        now[0] = 1_000 + 20_000;
        shedAudit(graced, ++k);
        assertEquals(List.of("RESYNC_FAILED"), fx.alertTypes(), "past the grace: the first failure in a row");
        assertEquals(Severity.WARNING, fx.alerts.get(0).severity);
        assertTrue(fx.alerts.get(0).details.contains("\"failures\":1"), fx.alerts.get(0).details);
        shedAudit(graced, ++k);
        shedAudit(graced, ++k);
        assertEquals(3, fx.alerts.size(), "the first three raise");
        assertEquals(Severity.CRITICAL, fx.alerts.get(2).severity, "the third in a row");
        for (int n = 4; n <= 9; n++) shedAudit(graced, ++k);
        assertEquals(3, fx.alerts.size(), "the fourth to the ninth do not");
        shedAudit(graced, ++k);
        assertEquals(4, fx.alerts.size(), "the tenth does");
        assertTrue(fx.alerts.get(3).details.contains("\"failures\":10"), fx.alerts.get(3).details);
        assertEquals(20, fx.counts.get(Reconciliation.Effects.Event.REPAIR_FAILED), "every one counted");
        // Repaired: resolved after the failures in a row, not the shed lookups within the grace.
        LookupResult log = LookupResult.log(
                LookupRequest.audit("d", 0, 4, true, false, T0 + 99, 0), new Increment[] {inc("d", 2), inc("d", 3)});
        graced.onResult(s, held, log, fx);
        assertEquals("RESYNC_RESOLVED", fx.alerts.get(4).type.name());
        assertTrue(fx.alerts.get(4).details.contains("\"failures\":10"), fx.alerts.get(4).details);
        // A lookup that was sent and failed is a failed repair at once, grace or not.
        ReconcilerState other = new ReconcilerState();
        Recorder fx2 = new Recorder();
        MapHeld otherHeld = new MapHeld();
        graced.onIncrement(other, otherHeld, inc("e", 1), fx2);
        graced.onIncrement(other, otherHeld, inc("e", 4), fx2);
        graced.onResult(
                other,
                otherHeld,
                LookupResult.failed(
                        new LookupRequest("e", LookupRequest.Kind.GAP, 0, 2, 3, T0, 0),
                        LookupResult.Outcome.FAILED,
                        "database lookup failed: connection refused"),
                fx2);
        assertEquals(List.of("RESYNC_FAILED"), fx2.alertTypes());
    }

    /**
     * A gap's lookup is refused before the increment after the gap has reached the reconciler (the
     * guard sends the lookup and then forwards that increment): the device holds nothing and waits
     * for nothing yet, however late the wall clock is. That refusal is not a failed repair in a
     * row; the grace starts when the device begins to wait.
     */
    @Test
    void aLookupRefusedBeforeTheDeviceWaitsIsNoFailedRepairHoweverLate() throws Exception {
        long[] now = {1_000_000};
        Reconciliation graced = new Reconciliation(3, 64, 20_000, () -> now[0]);
        graced.onIncrement(s, held, inc("d", 1), fx);
        LookupRequest gap = new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 3, T0, 0);
        graced.onResult(
                s, held, LookupResult.failed(gap, LookupResult.Outcome.UNAVAILABLE, "database lookup shed"), fx);
        assertEquals(0, s.waitingSince, "nothing held: not waiting");
        assertEquals(List.of(), fx.alertTypes(), "refused before the device waits: nothing raised");
        assertEquals(1, fx.counts.get(Reconciliation.Effects.Event.REPAIR_FAILED), "still counted");
        assertEquals(AuditRecord.Outcome.REPAIR_PENDING, fx.audits.get(0).outcome, "a repair is asked for");
        graced.onIncrement(s, held, inc("d", 4), fx); // the increment after the gap: now it waits
        assertEquals(now[0], s.waitingSince);
        now[0] += 19_999;
        shedAudit(graced, 1);
        assertEquals(List.of(), fx.alertTypes(), "within the grace from when it began to wait");
        now[0] += 1;
        shedAudit(graced, 2);
        assertEquals(List.of("RESYNC_FAILED"), fx.alertTypes(), "past it");
        assertTrue(fx.alerts.get(0).details.contains("\"failures\":1"), fx.alerts.get(0).details);
    }

    /** The device d's audit number {@code k}, shed. */
    private void shedAudit(Reconciliation graced, int k) throws Exception {
        graced.onResult(
                s,
                held,
                LookupResult.failed(
                        LookupRequest.audit("d", 0, 4, true, false, T0 + k, 0),
                        LookupResult.Outcome.UNAVAILABLE,
                        "database lookup shed"),
                fx);
    }

    @Test
    void aFailedLookupRaisesOnItsFirstFailure() throws Exception {
        send(inc("d", 1));
        send(inc("d", 4));
        result(LookupResult.failed(
                new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 3, T0, 0),
                LookupResult.Outcome.FAILED,
                "database lookup failed: connection refused"));
        assertEquals(List.of("RESYNC_FAILED"), fx.alertTypes(), "sent and failed: a failed repair");
    }

    @Test
    void aResetIsPublishedOnlyOnASnapshotThatReachedTheNewEpoch() throws Exception {
        send(inc("d", 1));
        send(inc("d", 1, 1, "{\"n\":1}"));
        LookupRequest reset = new LookupRequest("d", LookupRequest.Kind.RESET, 1, 1, 0, T0, 0);
        result(LookupResult.snapshot(reset, 0, 2, json("{\"old\":2}")));
        assertEquals("0/1:increment,0/2:snapshot", fx.versions(), "the old epoch advances, the new one waits");
        assertEquals(1, s.heldCount);
        result(LookupResult.snapshot(reset, 1, 1, json("{\"old\":3,\"n\":1}")));
        assertEquals("0/1:increment,0/2:snapshot,1/1:snapshot", fx.versions());
        assertEquals(0, s.heldCount);
    }

    @Test
    void aQuietAuditThatFindsTheDatabaseAheadRepairsTheTailOnce() throws Exception {
        send(inc("d", 1));
        LookupResult r =
                LookupResult.log(LookupRequest.audit("d", 0, 1, false, true, T0, 0), new Increment[] {inc("d", 2)});
        r.db = new Version(0, 2);
        result(r);
        assertEquals("0/1:increment,0/2:log", fx.versions());
        assertEquals(List.of("TAIL_LOSS"), fx.alertTypes());
        AuditRecord a = fx.audits.get(0);
        assertEquals(AuditRecord.Outcome.TAIL_LOSS, a.outcome);
        assertEquals(1, a.published.seq, "where the stream stopped");
        assertEquals(2, a.db.seq, "what the guard continues from");
    }

    @Test
    void auditOutcomes() throws Exception {
        send(inc("d", 1));
        send(inc("d", 2));
        result(LookupResult.version(LookupRequest.audit("d", 0, 2, false, true, T0, 0), 0, 2));
        result(LookupResult.version(LookupRequest.audit("d", 0, 2, false, true, T0, 0), 0, 1));
        result(LookupResult.version(LookupRequest.audit("d", 0, 2, false, false, T0, 0), 0, 3));
        result(LookupResult.failed(
                LookupRequest.audit("d", 0, 2, false, true, T0, 0), LookupResult.Outcome.NOT_FOUND, "no row"));
        result(LookupResult.failed(
                LookupRequest.audit("d", 0, 2, false, true, T0, 0), LookupResult.Outcome.UNAVAILABLE, "breaker"));
        assertEquals(
                List.of(
                        AuditRecord.Outcome.VERIFIED,
                        AuditRecord.Outcome.DB_BEHIND,
                        AuditRecord.Outcome.IN_FLIGHT,
                        AuditRecord.Outcome.DB_MISSING,
                        AuditRecord.Outcome.REPAIR_PENDING),
                fx.audits.stream().map(a -> a.outcome).toList());
        assertTrue(fx.alerts.isEmpty(), "an audit that repairs nothing alerts nothing");
    }

    @Test
    void theHeldBufferIsBoundedAndOverflowsOncePerEpisode() throws Exception {
        send(inc("d", 1));
        for (long seq = 3; seq <= 8; seq++) send(inc("d", seq));
        assertEquals(3, s.heldCount, "maxHeld");
        assertEquals(List.of("BUFFER_OVERFLOW"), fx.alertTypes());
        assertEquals(3, fx.counts.get(Reconciliation.Effects.Event.HELD_OVERFLOW));
        assertEquals("0/6,0/7,0/8", held.versions(), "the oldest were dropped");
        assertEquals("0/6,0/7,0/8", held.chain(s), "in order");
    }

    @Test
    void aDocumentOverTheLimitIsKeptButNotPublished() throws Exception {
        send(inc("d", 0, 1, "{\"big\":\"" + "x".repeat(80) + "\"}"));
        assertTrue(fx.published.isEmpty());
        assertTrue(s.oversized);
        assertEquals(1, s.seq, "the version advanced in state");
        send(inc("d", 0, 2, "{\"big\":null}"));
        assertEquals("0/2:increment", fx.versions());
        assertFalse(s.oversized);
        assertEquals(List.of("STATE_TOO_LARGE"), fx.alertTypes());
    }

    @Test
    void repairsOfTwoHolesThatOvertakeTheMessageBetweenThemAreNoFailure() throws Exception {
        // Holes 2 and 4: the guard sent two requests and forwarded 3 and 5, which are still on
        // their way when both answers arrive.
        send(inc("d", 1));
        result(LookupResult.log(
                new LookupRequest("d", LookupRequest.Kind.GAP, 0, 4, 4, T0, 0), new Increment[] {inc("d", 4)}));
        result(LookupResult.log(
                new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 2, T0, 0), new Increment[] {inc("d", 2)}));
        assertEquals("0/1:increment,0/2:log", fx.versions());
        assertTrue(fx.alerts.isEmpty(), "each request got what it was for: " + fx.alertTypes());
        assertTrue(fx.audits.isEmpty());
        send(inc("d", 3));
        send(inc("d", 5));
        assertEquals("0/1:increment,0/2:log,0/3:increment,0/4:log,0/5:increment", fx.versions());
        assertEquals(0, fx.waiting);
    }

    @Test
    void aGapRequestThatLeavesItsOwnRangeOpenFailsEvenBeforeItsTriggerArrives() throws Exception {
        send(inc("d", 1));
        // The log misses 3 of 2..3; the message after the hole (4) is still on its way.
        result(LookupResult.log(
                new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 3, T0, 0), new Increment[] {inc("d", 2)}));
        assertEquals(List.of("RESYNC_FAILED"), fx.alertTypes());
        assertEquals(AuditRecord.Outcome.REPAIR_PENDING, fx.audits.get(0).outcome, "the guard is asked to retry");
    }
    /** Counts the state accesses of a held buffer (each entry a scan returns is one read). */
    static final class CountingHeld implements Reconciliation.Held {
        final MapHeld inner = new MapHeld();
        int reads;
        int writes;

        @Override
        public boolean contains(long epoch, long seq) {
            reads++;
            return inner.contains(epoch, seq);
        }

        @Override
        public HeldIncrement get(long epoch, long seq) {
            reads++;
            return inner.get(epoch, seq);
        }

        @Override
        public void put(HeldIncrement h) {
            writes++;
            inner.put(h);
        }

        @Override
        public void remove(long epoch, long seq) {
            writes++;
            inner.remove(epoch, seq);
        }

        @Override
        public long[] next(long epoch, long seq) {
            reads++;
            return inner.next(epoch, seq);
        }

        @Override
        public void setNext(long epoch, long seq, long nextEpoch, long nextSeq) {
            writes++;
            inner.setNext(epoch, seq, nextEpoch, nextSeq);
        }

        @Override
        public void removeNext(long epoch, long seq) {
            writes++;
            inner.removeNext(epoch, seq);
        }

        @Override
        public Iterable<HeldIncrement> all() {
            List<HeldIncrement> all = new ArrayList<>();
            inner.all().forEach(all::add);
            reads += all.size();
            return all;
        }

        @Override
        public void clearOrder() {
            writes++;
            inner.clearOrder();
        }
    }

    /**
     * Issue 14: a device waiting at the cap (the database down for long) costs a few state accesses
     * per increment, the same with 3 or 1,000 held: before, every increment read and sorted the
     * whole buffer to find the oldest (5 reads at 3 held, 1,002 at 1,000).
     */
    @Test
    void atTheCapAnIncrementCostsTheSameFewStateAccessesHoweverManyAreHeld() throws Exception {
        for (int maxHeld : new int[] {3, 1000}) {
            Reconciliation capped = new Reconciliation(maxHeld, 1 << 20, () -> 1_000L);
            ReconcilerState st = new ReconcilerState();
            CountingHeld counting = new CountingHeld();
            Recorder effects = new Recorder();
            capped.onIncrement(st, counting, inc("d", 1), effects);
            long seq = 3; // 2 is missing: everything after it is held
            for (; seq < 3 + maxHeld; seq++) capped.onIncrement(st, counting, inc("d", seq), effects);
            assertEquals(maxHeld, st.heldCount);
            for (int n = 0; n < 5; n++, seq++) {
                counting.reads = 0;
                counting.writes = 0;
                capped.onIncrement(st, counting, inc("d", seq), effects);
                assertEquals(maxHeld, st.heldCount, "one in, the oldest out");
                // contains(new), next(oldest); put(new), link(newest -> new), remove(oldest), unlink(oldest)
                assertEquals(2, counting.reads, "maxHeld " + maxHeld + ": reads");
                assertEquals(4, counting.writes, "maxHeld " + maxHeld + ": writes");
            }
            long oldest = seq - maxHeld;
            assertEquals(Versions.format(0, oldest), counting.inner.chain(st).split(",")[0], "the oldest were dropped");
            assertEquals(counting.inner.versions(), counting.inner.chain(st), "linked in version order");
            assertEquals(5, effects.counts.get(Reconciliation.Effects.Event.HELD_OVERFLOW));
            // A snapshot past the dropped ones repairs the device: the rest is replayed in order.
            counting.reads = 0;
            capped.onResult(
                    st,
                    counting,
                    LookupResult.snapshot(
                            LookupRequest.audit("d", 0, seq - 1, true, true, T0, 0), 0, oldest - 1, json("{}")),
                    effects);
            assertEquals(0, st.heldCount);
            assertEquals(Versions.format(0, seq - 1), Versions.format(st.epoch, st.seq));
            assertTrue(counting.reads <= 2 * maxHeld + 2, "the replay reads each held once: " + counting.reads);
            assertTrue(counting.inner.map.isEmpty() && counting.inner.links.isEmpty(), "nothing left behind");
        }
    }

    @Test
    void logRowsHeldBetweenHeldIncrementsKeepTheVersionOrder() throws Exception {
        Reconciliation wide = new Reconciliation(100, 1 << 20, () -> 1_000L);
        wide.onIncrement(s, held, inc("d", 1), fx);
        wide.onIncrement(s, held, inc("d", 3), fx);
        wide.onIncrement(s, held, inc("d", 9), fx);
        // The repair of hole 5..7 arrives before hole 2's and before 4 and 8 (still on their way).
        wide.onResult(
                s,
                held,
                LookupResult.log(
                        new LookupRequest("d", LookupRequest.Kind.GAP, 0, 5, 7, T0, 0),
                        new Increment[] {inc("d", 5), inc("d", 6), inc("d", 7)}),
                fx);
        wide.onIncrement(s, held, inc("d", 8), fx);
        wide.onIncrement(s, held, inc("d", 4), fx);
        assertEquals("0/3,0/4,0/5,0/6,0/7,0/8,0/9", held.chain(s));
        assertEquals(held.versions(), held.chain(s));
        assertEquals(7, s.heldCount);
        wide.onResult(
                s,
                held,
                LookupResult.log(
                        new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 2, T0, 0), new Increment[] {inc("d", 2)}),
                fx);
        assertEquals(
                "0/1:increment,0/2:log,0/3:increment,0/4:increment,0/5:log,0/6:log,0/7:log,0/8:increment,0/9:increment",
                fx.versions());
        assertEquals(0, s.heldCount);
        assertTrue(held.map.isEmpty() && held.links.isEmpty());
    }

    /**
     * State of the build before the order (8f4564d): held increments, a count, no oldest or links.
     * The order is rebuilt from one scan, once; then the cap costs what it costs.
     */
    @Test
    void heldIncrementsOfABuildWithoutTheOrderAreOrderedOnceThenCostLittle() throws Exception {
        CountingHeld counting = new CountingHeld();
        s.published = true;
        s.seq = 1;
        s.state = json("{}");
        s.waitingSince = 5;
        for (long seq : new long[] {4, 3, 5}) counting.inner.put(new HeldIncrement(inc("d", seq), "increment"));
        s.heldCount = 3;
        rules.onIncrement(s, counting, inc("d", 6), fx); // maxHeld 3: 3 is dropped
        assertEquals("0/4,0/5,0/6", counting.inner.chain(s));
        assertEquals(List.of("BUFFER_OVERFLOW"), fx.alertTypes());
        assertTrue(fx.alerts.get(0).details.contains("\"droppedSeq\":3"), fx.alerts.get(0).details);
        counting.reads = 0;
        rules.onIncrement(s, counting, inc("d", 7), fx);
        assertEquals(2, counting.reads, "ordered now: no scan");
        rules.onResult(
                s,
                counting,
                LookupResult.snapshot(LookupRequest.audit("d", 0, 7, true, true, T0, 0), 0, 4, json("{\"s\":4}")),
                fx);
        assertEquals("0/4:snapshot,0/5:increment,0/6:increment,0/7:increment", fx.versions());
        assertTrue(counting.inner.map.isEmpty() && counting.inner.links.isEmpty());
    }

    @Test
    void aHeldIncrementThatExpiredIsSkippedAndTheOrderRebuilt() throws Exception {
        Reconciliation wide = new Reconciliation(100, 1 << 20, () -> 1_000L);
        wide.onIncrement(s, held, inc("d", 1), fx);
        for (long seq = 3; seq <= 6; seq++) wide.onIncrement(s, held, inc("d", seq), fx);
        held.remove(0, 3); // the state TTL removed the oldest entry on its own (its link remains)
        held.remove(0, 5);
        wide.onResult(
                s,
                held,
                LookupResult.log(
                        new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 2, T0, 0), new Increment[] {inc("d", 2)}),
                fx);
        assertEquals("0/1:increment,0/2:log", fx.versions(), "3 is gone: the device still waits");
        assertEquals(2, s.heldCount, "counted again from what is left");
        assertEquals("0/4,0/6", held.chain(s));
        wide.onResult(
                s,
                held,
                LookupResult.snapshot(LookupRequest.audit("d", 0, 6, true, true, T0, 0), 0, 5, json("{}")),
                fx);
        assertEquals("0/1:increment,0/2:log,0/5:snapshot,0/6:increment", fx.versions());
        assertTrue(held.map.isEmpty() && held.links.isEmpty());
    }
    /**
     * Issue 14: a kept oversized document is bounded. The limit here is 64 bytes, so 256 are kept at
     * most: the version that would grow the document past them is not applied, the device stops
     * applying (what follows is held) and waits for a snapshot that fits, with one alert per
     * episode and every refusal counted. Before, the document grew without bound.
     */
    @Test
    void aDocumentThatWouldGrowPastFourTimesTheLimitIsNotKeptAndTheDeviceWaitsForASnapshotThatFits() throws Exception {
        String x = "x".repeat(100);
        send(inc("d", 0, 1, "{\"a\":\"" + x + "\"}"));
        send(inc("d", 0, 2, "{\"b\":\"" + x + "\"}"));
        assertEquals(2, s.seq, "over the limit, under four times it: kept and applied");
        send(inc("d", 0, 3, "{\"c\":\"" + x + "\"}"));
        assertEquals(2, s.seq, "3 would make it about 330 bytes: not applied");
        assertTrue(s.state.length <= 4 * 64, "the kept document is bounded: " + s.state.length);
        send(inc("d", 0, 4, "{\"a\":null,\"b\":null,\"c\":null}"));
        assertEquals(2, s.seq, "nothing after it applies either, even what would shrink it: 3 comes first");
        assertEquals(2, s.heldCount, "3 and 4 wait");
        assertEquals(1, fx.waiting, "the device waits for a repair");
        assertEquals(
                List.of("STATE_TOO_LARGE", "STATE_TOO_LARGE"), fx.alertTypes(), "published no more; then kept no more");
        Alert stopped = fx.alerts.get(1);
        assertEquals(Severity.CRITICAL, stopped.severity);
        assertEquals(Strategy.FETCH_SNAPSHOT, stopped.strategy);
        assertTrue(
                stopped.details.contains("\"seq\":3") && stopped.details.contains("\"maxKeptBytes\":256"),
                stopped.details);
        assertEquals(1, fx.counts.get(Reconciliation.Effects.Event.TOO_LARGE_TO_KEEP));
        assertEquals(
                List.of(AuditRecord.Outcome.REPAIR_PENDING),
                fx.audits.stream().map(a -> a.outcome).toList(),
                "the guard is asked for the snapshot");
        assertTrue(fx.published.isEmpty());

        // The database's snapshot is as large: not kept either, the device goes on waiting.
        LookupRequest repair = LookupRequest.audit("d", 0, 4, true, false, T0 + 1_000, 0);
        result(LookupResult.snapshot(repair, 0, 3, json("{\"s\":\"" + "y".repeat(300) + "\"}"), null));
        assertEquals(2, s.seq);
        assertEquals(2, fx.counts.get(Reconciliation.Effects.Event.TOO_LARGE_TO_KEEP));
        assertEquals(
                List.of("STATE_TOO_LARGE", "STATE_TOO_LARGE", "RESYNC_FAILED"),
                fx.alertTypes(),
                "one alert per episode");
        assertTrue(fx.alerts.get(2).cause.contains("256 bytes kept"), fx.alerts.get(2).cause);

        // One that fits ends the episode; what was held is replayed on it.
        result(LookupResult.snapshot(
                LookupRequest.audit("d", 0, 4, true, false, T0 + 2_000, 0), 0, 3, json("{\"s\":3}"), null));
        assertEquals("0/3:snapshot,0/4:increment", fx.versions());
        assertEquals("{\"s\":3}", new String(fx.published.get(1).state, StandardCharsets.UTF_8));
        assertEquals(0, s.heldCount);
        assertEquals(0, fx.waiting);
        assertFalse(s.tooLargeToKeep);
        send(inc("d", 0, 5, "{\"c\":\"" + x + "\"}"));
        assertEquals(5, s.seq, "applying again");
    }
}
