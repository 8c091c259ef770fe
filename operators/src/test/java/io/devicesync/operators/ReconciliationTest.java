package io.devicesync.operators;

import static io.devicesync.operators.TestData.T0;
import static io.devicesync.operators.TestData.inc;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Alert;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.model.Versions;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
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

    /** Held increments in a sorted map, as the MapState holds them in the job. */
    static final class MapHeld implements Reconciliation.Held {
        final TreeMap<String, HeldIncrement> map = new TreeMap<>();

        private static String key(long epoch, long seq) {
            return String.format("%019d/%019d", epoch, seq);
        }

        @Override
        public boolean contains(long epoch, long seq) {
            return map.containsKey(key(epoch, seq));
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
        public List<HeldIncrement> inOrder() {
            return new ArrayList<>(map.values());
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
            return published.stream().map(p -> Versions.format(p.epoch, p.seq) + ":" + p.source).collect(Collectors.joining(","));
        }

        List<String> alertTypes() {
            return alerts.stream().map(a -> a.type).toList();
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
    void publishesInOrderAndHoldsAfterAGapUntilTheLogRepairsIt() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3));
        assertEquals("0/1:increment", fx.versions());
        assertEquals(1, fx.waiting, "the device waits");
        assertEquals(1, s.heldCount);
        result(LookupResult.log(new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 2, T0, 0), new Increment[] {inc("d", 2)}));
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
        result(LookupResult.log(new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 3, T0, 0), new Increment[] {inc("d", 2)}));
        assertEquals("0/1:increment,0/2:log", fx.versions());
        assertEquals(List.of("RESYNC_FAILED"), fx.alertTypes());
        assertEquals(AuditRecord.Outcome.REPAIR_PENDING, fx.audits.get(0).outcome);
        assertEquals(2, fx.audits.get(0).seq, "published below what the guard forwarded: it waits");
        assertEquals(1, fx.counts.get(Reconciliation.Effects.Event.REPAIR_FAILED));
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
        LookupResult r = LookupResult.log(LookupRequest.audit("d", 0, 1, false, true, T0, 0), new Increment[] {inc("d", 2)});
        r.dbEpoch = 0;
        r.dbSeq = 2;
        result(r);
        assertEquals("0/1:increment,0/2:log", fx.versions());
        assertEquals(List.of("TAIL_LOSS"), fx.alertTypes());
        AuditRecord a = fx.audits.get(0);
        assertEquals(AuditRecord.Outcome.TAIL_LOSS, a.outcome);
        assertEquals(1, a.seq, "where the stream stopped");
        assertEquals(2, a.dbSeq, "what the guard continues from");
    }

    @Test
    void auditOutcomes() throws Exception {
        send(inc("d", 1));
        send(inc("d", 2));
        result(LookupResult.version(LookupRequest.audit("d", 0, 2, false, true, T0, 0), 0, 2));
        result(LookupResult.version(LookupRequest.audit("d", 0, 2, false, true, T0, 0), 0, 1));
        result(LookupResult.version(LookupRequest.audit("d", 0, 2, false, false, T0, 0), 0, 3));
        result(LookupResult.failed(LookupRequest.audit("d", 0, 2, false, true, T0, 0), LookupResult.Outcome.NOT_FOUND, "no row"));
        result(LookupResult.failed(LookupRequest.audit("d", 0, 2, false, true, T0, 0), LookupResult.Outcome.UNAVAILABLE, "breaker"));
        assertEquals(List.of(AuditRecord.Outcome.VERIFIED, AuditRecord.Outcome.DB_BEHIND, AuditRecord.Outcome.IN_FLIGHT, AuditRecord.Outcome.DB_MISSING,
                AuditRecord.Outcome.REPAIR_PENDING), fx.audits.stream().map(a -> a.outcome).toList());
        assertTrue(fx.alerts.isEmpty(), "an audit that repairs nothing alerts nothing");
    }

    @Test
    void theHeldBufferIsBoundedAndOverflowsOncePerEpisode() throws Exception {
        send(inc("d", 1));
        for (long seq = 3; seq <= 8; seq++) send(inc("d", seq));
        assertEquals(3, s.heldCount, "maxHeld");
        assertEquals(List.of("BUFFER_OVERFLOW"), fx.alertTypes());
        assertEquals(3, fx.counts.get(Reconciliation.Effects.Event.HELD_OVERFLOW));
        assertEquals("0/6,0/7,0/8", held.inOrder().stream().map(h -> Versions.format(h.increment.epoch, h.increment.seq))
                .collect(Collectors.joining(",")), "the oldest were dropped");
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
        result(LookupResult.log(new LookupRequest("d", LookupRequest.Kind.GAP, 0, 4, 4, T0, 0), new Increment[] {inc("d", 4)}));
        result(LookupResult.log(new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 2, T0, 0), new Increment[] {inc("d", 2)}));
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
        result(LookupResult.log(new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 3, T0, 0), new Increment[] {inc("d", 2)}));
        assertEquals(List.of("RESYNC_FAILED"), fx.alertTypes());
        assertEquals(AuditRecord.Outcome.REPAIR_PENDING, fx.audits.get(0).outcome, "the guard is asked to retry");
    }
}
