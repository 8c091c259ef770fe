package io.devicesync.operators.alerts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.Alerts;
import io.devicesync.model.BreakerReport;
import io.devicesync.model.Json;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The AlertPolicy's rules on their own: budget, summaries, inhibition (DESIGN.md, Storm control). */
class AlertPolicyTest {
    static final long MINUTE = 60_000;
    /** Processing time of the test, on a minute boundary. */
    static final long NOW = 29_396_666 * MINUTE;

    private final AlertPolicy policy = new AlertPolicy(3);
    /** One state per key, as in the job (the key is the type). */
    private final Map<String, PolicyState> states = new TreeMap<>();

    private final Recorder out = new Recorder();

    static final class Recorder implements AlertPolicy.Effects {
        final List<Alert> published = new ArrayList<>();
        final Map<String, Integer> summarized = new TreeMap<>();
        final Map<String, Integer> suppressed = new TreeMap<>();

        @Override
        public void publish(Alert alert) {
            published.add(alert);
        }

        @Override
        public void summarized(String type) {
            summarized.merge(type, 1, Integer::sum);
        }

        @Override
        public void suppressed(String type) {
            suppressed.merge(type, 1, Integer::sum);
        }

        List<String> types() {
            return published.stream().map(a -> a.type.name()).collect(Collectors.toList());
        }
    }

    static Alert alert(AlertType type, String device, String consumer, Severity severity, long ts) {
        return Alerts.of(type, severity)
                .device(device)
                .consumer(consumer)
                .cause("test")
                .strategy(Strategy.NONE)
                .ts(ts)
                .build(Long.toString(ts));
    }

    static Alert resyncFailed(String device, boolean database) {
        Alerts.Builder b = Alerts.of(AlertType.RESYNC_FAILED, Severity.WARNING)
                .device(device)
                .cause("test")
                .strategy(Strategy.RETRY_ON_AUDIT)
                .detail("lookup", database ? "UNAVAILABLE" : "NOT_FOUND");
        if (database) b.detail("databaseUnavailable", true);
        return b.ts(NOW).build();
    }

    private PolicyState state(String key) {
        return states.computeIfAbsent(key, k -> new PolicyState());
    }

    private void send(Alert a, long now) {
        policy.onAlert(state(a.type.name()), a, now, out);
    }

    private void breaker(int subtask, long incarnation, long generation, boolean open, long now) {
        policy.onBreaker(
                state("RESYNC_FAILED"), new BreakerReport(subtask, 2, incarnation, generation, open), now, out);
    }

    private void backlog(String consumer, boolean open) {
        policy.onBacklog(state("UNCONSUMED"), consumer, open);
        policy.onBacklog(state("REDISPATCH_EXHAUSTED"), consumer, open);
    }

    static JsonNode details(Alert a) {
        return Json.parse(a.details.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void eachTypeHasItsBudgetPerMinuteAndTheRestIsOneSummaryWhenTheMinuteEnds() {
        for (int i = 0; i < 5; i++)
            send(alert(AlertType.SEQUENCE_GAP, "d" + i, null, Severity.WARNING, NOW + i), NOW + i);
        send(alert(AlertType.TAIL_LOSS, "t", null, Severity.WARNING, NOW), NOW + 10);
        assertEquals(
                List.of("SEQUENCE_GAP", "SEQUENCE_GAP", "SEQUENCE_GAP", "TAIL_LOSS"),
                out.types(),
                "3 of a type, others untouched");
        assertEquals(Map.of("SEQUENCE_GAP", 2), out.summarized);
        assertEquals(NOW + MINUTE, policy.summariesDue(state("SEQUENCE_GAP")));
        assertEquals(-1, policy.summariesDue(state("TAIL_LOSS")));

        policy.onTime(state("SEQUENCE_GAP"), NOW + MINUTE, out);
        Alert summary = out.published.get(4);
        assertEquals(AlertType.ALERT_SUMMARY, summary.type);
        JsonNode d = details(summary);
        assertEquals("SEQUENCE_GAP", d.get("summarizedType").asText());
        assertEquals(2, d.get("count").asLong());
        assertEquals(NOW, d.get("windowStart").asLong());
        assertEquals(NOW + MINUTE, d.get("windowEnd").asLong());
        assertEquals(NOW + 3, d.get("firstTs").asLong());
        assertEquals(NOW + 4, d.get("lastTs").asLong());
        assertEquals("[\"d3\",\"d4\"]", d.get("sampleDeviceIds").toString());
        assertEquals("BUDGET", d.get("reason").asText());
        assertNull(summary.consumer);
        assertEquals(NOW + MINUTE, summary.ts, "the policy's own alerts: processing time, the minute's end");

        // The next minute has its budget again.
        for (int i = 0; i < 4; i++)
            send(alert(AlertType.SEQUENCE_GAP, "e" + i, null, Severity.WARNING, NOW), NOW + MINUTE + 5);
        assertEquals(8, out.published.size(), "3 more published one by one");
    }

    @Test
    void anAlertOfALaterMinutePublishesTheSummaryOfTheEarlierFirst() {
        for (int i = 0; i < 4; i++) send(alert(AlertType.UNCONSUMED, "d" + i, "billing", Severity.WARNING, NOW), NOW);
        send(alert(AlertType.UNCONSUMED, "late", "billing", Severity.WARNING, NOW), NOW + 3 * MINUTE + 1);
        assertEquals(List.of("UNCONSUMED", "UNCONSUMED", "UNCONSUMED", "ALERT_SUMMARY", "UNCONSUMED"), out.types());
        assertEquals(NOW, details(out.published.get(3)).get("windowStart").asLong());
    }

    @Test
    void aSummaryHasTheHighestSeverityTheSmallestIdsAndAnIdFromTypeAndWindowOnly() {
        List<Integer> order = IntStream.range(0, 40).boxed().collect(Collectors.toList());
        Alert first = summaryOf(order, new AlertPolicy(0));
        Collections.shuffle(order, new Random(7));
        Alert second = summaryOf(order, new AlertPolicy(0));
        assertEquals(first.alertId, second.alertId, "the same id whatever the order within the minute");
        assertEquals(first.details, second.details, "the same contents whatever the order");
        assertEquals(Severity.CRITICAL, first.severity);
        JsonNode d = details(first);
        assertEquals(40, d.get("count").asLong());
        assertEquals(20, d.get("sampleDeviceIds").size());
        assertEquals("dev-00", d.get("sampleDeviceIds").get(0).asText());
        assertEquals("dev-19", d.get("sampleDeviceIds").get(19).asText());
        assertEquals(NOW, d.get("firstTs").asLong());
        assertEquals(NOW + 39, d.get("lastTs").asLong());

        PolicyState next = new PolicyState();
        AlertPolicy p = new AlertPolicy(0);
        p.onAlert(next, alert(AlertType.TAIL_LOSS, "x", null, Severity.INFO, NOW), NOW + MINUTE, out);
        p.onTime(next, NOW + 2 * MINUTE, out);
        assertNotEquals(
                first.alertId, out.published.get(out.published.size() - 1).alertId, "another minute, another id");
    }

    private Alert summaryOf(List<Integer> order, AlertPolicy p) {
        PolicyState s = new PolicyState();
        Recorder r = new Recorder();
        for (int i : order) {
            Severity sev = i == 17 ? Severity.CRITICAL : Severity.WARNING;
            p.onAlert(s, alert(AlertType.TAIL_LOSS, String.format("dev-%02d", i), null, sev, NOW + i), NOW + 10 + i, r);
        }
        p.onTime(s, NOW + MINUTE, r);
        assertEquals(1, r.published.size());
        return r.published.get(0);
    }

    @Test
    void anOpenBreakerAnywhereIsOneDatabaseUnavailableAndItsResyncFailedWaitForOneRecovered() {
        send(resyncFailed("before", true), NOW);
        assertEquals(List.of("RESYNC_FAILED"), out.types(), "no breaker open yet: published");
        breaker(0, 11, 1, true, NOW + 1);
        breaker(1, 22, 1, true, NOW + 2);
        assertEquals(
                List.of("RESYNC_FAILED", "DATABASE_UNAVAILABLE"),
                out.types(),
                "one for the job, however many breakers open");
        Alert down = out.published.get(1);
        assertEquals(Severity.CRITICAL, down.severity);
        assertEquals(Strategy.RETRY_ON_AUDIT, down.strategy);
        for (int i = 0; i < 5; i++) send(resyncFailed("d" + i, true), NOW + 3);
        send(resyncFailed("missing-row", false), NOW + 3);
        assertEquals(
                List.of("RESYNC_FAILED", "DATABASE_UNAVAILABLE", "RESYNC_FAILED"),
                out.types(),
                "only the one the database did not cause");
        assertEquals("missing-row", out.published.get(2).deviceId);
        assertEquals(Map.of("RESYNC_FAILED", 5), out.suppressed);

        breaker(0, 11, 2, false, NOW + 4);
        breaker(0, 11, 1, true, NOW + 5); // overtaken on its way: older
        assertEquals(3, out.published.size(), "subtask 1's breaker is still open");
        breaker(1, 22, 2, false, NOW + 6);
        Alert up = out.published.get(3);
        assertEquals(AlertType.DATABASE_RECOVERED, up.type);
        assertEquals(Severity.INFO, up.severity);
        assertEquals(5, details(up).get("suppressed").asLong());
        assertEquals(Alerts.id("DATABASE_RECOVERED", null, null, "1"), up.alertId, "the job's first outage");
        assertEquals(Alerts.id("DATABASE_UNAVAILABLE", null, null, "1"), down.alertId);

        send(resyncFailed("after", true), NOW + 7);
        assertEquals("after", out.published.get(4).deviceId, "published again once recovered");
    }

    /** A RESYNC_FAILED whose lookup the breaker of (subtask, incarnation, generation) refused. */
    static Alert refusedBy(String device, int subtask, long incarnation, long generation) {
        Alert a = resyncFailed(device, true);
        a.breaker = new BreakerReport(subtask, 2, incarnation, generation, true);
        return a;
    }

    /**
     * The breaker's reports and the failures it caused reach the policy through different reconciler
     * subtasks, in any order. A CI run published 8 RESYNC_FAILED refused by the open breaker after
     * DATABASE_RECOVERED: the probe's success (closing) overtook the refusals just before it.
     */
    @Test
    void aFailureTheOpenBreakerRefusedIsTheOutagesWhicheverOrderItArrivesIn() {
        breaker(0, 11, 1, true, NOW);
        breaker(0, 11, 2, false, NOW + 1);
        assertEquals(List.of("DATABASE_UNAVAILABLE", "DATABASE_RECOVERED"), out.types());
        send(refusedBy("late", 0, 11, 1), NOW + 2);
        assertEquals(2, out.published.size(), "refused while open, arrived after the closing report: not published");
        assertEquals(Map.of("RESYNC_FAILED", 1), out.suppressed);
        assertEquals(
                List.of("DATABASE_UNAVAILABLE", "DATABASE_RECOVERED"),
                out.types(),
                "nor does it reopen the outage the closing report ended");

        // Ahead of its breaker's opening report: the outage starts with it, and the report changes nothing.
        send(refusedBy("early", 1, 22, 1), NOW + 3);
        assertEquals(List.of("DATABASE_UNAVAILABLE", "DATABASE_RECOVERED", "DATABASE_UNAVAILABLE"), out.types());
        breaker(1, 22, 1, true, NOW + 4);
        assertEquals(3, out.published.size());
        breaker(1, 22, 2, false, NOW + 5);
        assertEquals(AlertType.DATABASE_RECOVERED, out.published.get(3).type);
        assertEquals(1, details(out.published.get(3)).get("suppressed").asLong(), "the early one counted");

        // A later outage: a straggler of the first one is not counted in this one's DATABASE_RECOVERED.
        breaker(0, 11, 3, true, NOW + 6);
        send(refusedBy("straggler", 0, 11, 1), NOW + 7);
        breaker(0, 11, 4, false, NOW + 7);
        assertEquals(AlertType.DATABASE_RECOVERED, out.published.get(5).type);
        assertEquals(0, details(out.published.get(5)).get("suppressed").asLong(), "not this outage's");
        assertEquals(Map.of("RESYNC_FAILED", 3), out.suppressed, "counted in the metrics");

        // Refused by a new incarnation of subtask 1 (restarted with the database still down) whose
        // opening report has not arrived: a newer one, so it opens the outage.
        send(refusedBy("restarted", 1, 33, 1), NOW + 8);
        assertEquals(AlertType.DATABASE_UNAVAILABLE, out.published.get(6).type);
        assertEquals(7, out.published.size());
        breaker(1, 33, 2, false, NOW + 8);
        assertEquals(1, details(out.published.get(7)).get("suppressed").asLong());
        send(resyncFailed("timed-out", true), NOW + 9);
        assertEquals("timed-out", out.published.get(8).deviceId, "a failure the breaker did not refuse: published");
    }

    @Test
    void aRestartedLookupSubtaskReplacesWhatItsEarlierIncarnationLeftOpen() {
        breaker(0, 11, 1, true, NOW);
        assertEquals(List.of("DATABASE_UNAVAILABLE"), out.types());
        breaker(0, 99, 0, false, NOW + 1); // a new incarnation after a restart: closed, generation 0
        assertEquals(List.of("DATABASE_UNAVAILABLE", "DATABASE_RECOVERED"), out.types());
        // A rescale to one subtask forgets subtask 1's report.
        breaker(1, 22, 1, true, NOW + 2);
        policy.onBreaker(state("RESYNC_FAILED"), new BreakerReport(0, 1, 99, 1, false), NOW + 3, out);
        assertEquals(
                List.of("DATABASE_UNAVAILABLE", "DATABASE_RECOVERED", "DATABASE_UNAVAILABLE", "DATABASE_RECOVERED"),
                out.types());
        assertNotEquals(out.published.get(0).alertId, out.published.get(2).alertId, "each outage its own id");
        breaker(0, 99, 1, false, NOW + 4); // the same report again (repeated now and then): nothing
        assertEquals(4, out.published.size());
    }

    /**
     * An unaligned checkpoint keeps the records in flight, breaker reports among them. Restored, an
     * earlier incarnation's report arrives after the new incarnation's first: it is older (its
     * incarnation started from an earlier checkpoint) and changes nothing, nor does a failure that
     * carries it. Before, any other incarnation counted as newer, and the replayed report reopened
     * the outage the restart had ended. The rules only: the state goes through its codec where the
     * checkpoint would hold it; the restore through Flink (snapshot, initializeState, RocksDB and
     * heap) is AlertPolicyFunctionTest's theBreakersAndWhereTheirIncarnationsStartedRestore.
     */
    @Test
    void anEarlierIncarnationsReportArrivingAfterTheRestartedOnesChangesNothing() throws Exception {
        PolicyState s = state("RESYNC_FAILED");
        policy.onBreaker(s, new BreakerReport(0, 2, 11, 1, true, 5), NOW, out); // started from checkpoint 5
        assertEquals(List.of("DATABASE_UNAVAILABLE"), out.types());
        policy.onBreaker(s, new BreakerReport(0, 2, 99, 0, false, 7), NOW + 1, out); // restarted from 7
        assertEquals(List.of("DATABASE_UNAVAILABLE", "DATABASE_RECOVERED"), out.types());
        s = PolicyState.decode(s.encode()); // as the checkpoint holds it
        // Checkpoint 7's records in flight, replayed: the old incarnation's open report, and a
        // failure its open breaker refused.
        policy.onBreaker(s, new BreakerReport(0, 2, 11, 1, true, 5), NOW + 2, out);
        Alert replayed = resyncFailed("replayed", true);
        replayed.breaker = new BreakerReport(0, 2, 11, 1, true, 5);
        send(replayed, NOW + 2);
        assertEquals(List.of("DATABASE_UNAVAILABLE", "DATABASE_RECOVERED"), out.types(), "no outage reopened");
        // The new incarnation's own opening still opens one.
        policy.onBreaker(s, new BreakerReport(0, 2, 99, 1, true, 7), NOW + 3, out);
        assertEquals(List.of("DATABASE_UNAVAILABLE", "DATABASE_RECOVERED", "DATABASE_UNAVAILABLE"), out.types());
        // And a later restart's (from checkpoint 9) first report ends it.
        policy.onBreaker(s, new BreakerReport(0, 2, 5, 0, false, 9), NOW + 4, out);
        assertEquals(4, out.published.size());
        assertEquals("DATABASE_RECOVERED", out.types().get(3));
    }

    /**
     * A state of format 1 (the builds before the incarnations' order) reads its breakers with their
     * start not known: a report of this build's incarnations counts as newer, as it did then.
     */
    @Test
    void aStateOfFormatOneReadsItsBreakersAsOfUnknownStart() throws Exception {
        var bytes = new java.io.ByteArrayOutputStream();
        try (var out = new java.io.DataOutputStream(bytes)) {
            out.writeByte(1); // format 1
            out.writeBoolean(true); // hasWindow
            out.writeLong(NOW); // windowStart
            out.writeInt(1); // published
            out.writeInt(0); // summaries
            out.writeInt(0); // backlogs open
            out.writeInt(1); // breakers: subtask 0 of 2, incarnation 11, generation 1, open
            out.writeInt(0);
            out.writeInt(2);
            out.writeLong(11);
            out.writeLong(1);
            out.writeBoolean(true);
            out.writeBoolean(true); // databaseUnavailable
            out.writeLong(3); // suppressed
            out.writeBoolean(true);
            out.writeUTF("1"); // outage
            out.writeLong(NOW); // outageSince
            out.writeLong(1); // outages
        }
        PolicyState s = PolicyState.decode(bytes.toByteArray());
        assertEquals(-1, s.breakers.get(0).restoredFrom);
        assertTrue(s.databaseUnavailable);
        policy.onBreaker(s, new BreakerReport(0, 2, 42, 0, false, 8), NOW + 1, out);
        assertEquals(List.of("DATABASE_RECOVERED"), out.types(), "this build's restarted incarnation ends it");
        assertEquals(3, details(out.published.get(0)).get("suppressed").asLong());
        PolicyState again = PolicyState.decode(s.encode());
        assertEquals(8, again.breakers.get(0).restoredFrom, "format 2 keeps where it started");
    }

    /**
     * The policy state's serializer snapshot records format 2: a build that reads format 1 only
     * stops at the restore and says why; format 1's state restores here as it is (the serializer
     * snapshots only: the state's own restore is AlertPolicyFunctionTest's).
     */
    @Test
    void theSerializerSnapshotOfFormat2IsRefusedByAnEarlierBuild() throws Exception {
        io.devicesync.operators.serde.CodecSnapshots.anEarlierBuildRefusesItAndFormat1RestoresAsItIs(
                PolicySerializer.PolicySnapshot::new, PolicySerializer::new, 2);
    }

    @Test
    void anOpenBacklogFoldsItsConsumersUnconsumedAndExhaustedIntoSummariesOfThatConsumer() {
        send(alert(AlertType.UNCONSUMED, "a", "billing", Severity.WARNING, NOW), NOW);
        backlog("billing", true);
        for (int i = 0; i < 2; i++) {
            send(alert(AlertType.UNCONSUMED, "b" + i, "billing", Severity.WARNING, NOW), NOW + 1);
            send(alert(AlertType.REDISPATCH_EXHAUSTED, "b" + i, "billing", Severity.CRITICAL, NOW), NOW + 1);
        }
        send(alert(AlertType.UNCONSUMED, "c", "dashboard", Severity.WARNING, NOW), NOW + 2);
        assertEquals(List.of("UNCONSUMED", "UNCONSUMED"), out.types(), "billing's folded, dashboard's published");
        assertEquals("dashboard", out.published.get(1).consumer);
        assertEquals(Map.of("REDISPATCH_EXHAUSTED", 2, "UNCONSUMED", 2), out.summarized);
        policy.onTime(state("UNCONSUMED"), NOW + MINUTE, out);
        policy.onTime(state("REDISPATCH_EXHAUSTED"), NOW + MINUTE, out);
        Alert unconsumed = out.published.get(2);
        Alert exhausted = out.published.get(3);
        assertEquals("billing", unconsumed.consumer);
        assertEquals("BACKLOG", details(unconsumed).get("reason").asText());
        assertEquals(2, details(unconsumed).get("count").asLong());
        assertEquals(
                "REDISPATCH_EXHAUSTED", details(exhausted).get("summarizedType").asText());
        assertEquals(Severity.CRITICAL, exhausted.severity);
        backlog("billing", false);
        send(alert(AlertType.UNCONSUMED, "d", "billing", Severity.WARNING, NOW), NOW + MINUTE + 1);
        assertEquals(AlertType.UNCONSUMED, out.published.get(4).type, "published one by one once the backlog cleared");
    }

    @Test
    void theStateReadsBackAsItWasWritten() {
        for (int i = 0; i < 6; i++)
            send(alert(AlertType.UNCONSUMED, "d" + i, "billing", Severity.WARNING, NOW + i), NOW);
        backlog("billing", true);
        send(alert(AlertType.UNCONSUMED, "z", "billing", Severity.CRITICAL, NOW), NOW);
        breaker(0, 11, 1, true, NOW);
        for (String key : states.keySet()) {
            PolicyState s = states.get(key);
            byte[] bytes = s.encode();
            assertEquals(bytes.length, PolicyState.decode(bytes).encode().length);
            assertTrue(java.util.Arrays.equals(bytes, PolicyState.decode(bytes).encode()), key);
        }
        PolicyState restored = PolicyState.decode(state("UNCONSUMED").encode());
        policy.onTime(restored, NOW + MINUTE, out);
        List<Alert> summaries = out.published.stream()
                .filter(a -> a.type == AlertType.ALERT_SUMMARY)
                .collect(Collectors.toList());
        assertEquals(2, summaries.size(), "the budget's and billing's");
    }
}
