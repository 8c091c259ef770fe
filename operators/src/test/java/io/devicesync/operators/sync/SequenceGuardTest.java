package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.T0;
import static io.devicesync.operators.TestData.alertTypes;
import static io.devicesync.operators.TestData.inc;
import static io.devicesync.operators.TestData.values;
import static io.devicesync.operators.TestData.versions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.Strategy;
import io.devicesync.operators.util.Tags;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class SequenceGuardTest {
    private static final long GRACE = 2_000;
    /** Long enough that no audit fires in the ordering tests (they assert on lookups). */
    private static final long AUDIT = 3_600_000;

    private KeyedTwoInputStreamOperatorTestHarness<String, Increment, AuditRecord, Increment> h;

    @BeforeEach
    void open() throws Exception {
        h = ProcessFunctionTestHarnesses.forKeyedCoProcessFunction(
                new SequenceGuard(Duration.ofMillis(GRACE), 1000, Duration.ofMillis(AUDIT), Duration.ofDays(30)),
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

    private List<LookupRequest> lookups() {
        return values(h.getSideOutput(Tags.LOOKUPS)).stream()
                .filter(r -> !r.kind.equals(LookupRequest.Kind.AUDIT))
                .toList();
    }

    @Test
    void forwardsNextVersionsAndDropsDuplicatesAndStale() throws Exception {
        send(inc("d", 1));
        send(inc("d", 2));
        send(inc("d", 2));
        send(inc("d", 1));
        send(inc("d", 3));
        assertEquals("0/1,0/2,0/3", versions(h.extractOutputValues()));
        assertTrue(lookups().isEmpty());
        assertTrue(alertTypes(h.getSideOutput(Tags.ALERTS)).isEmpty());
        assertEquals(1, h.numEventTimeTimers(), "only the audit timer");
    }

    @Test
    void holdsEarlyMessageUntilTheMissingOneArrives() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3));
        send(inc("d", 4));
        assertEquals("0/1", versions(h.extractOutputValues()));
        assertEquals(2, h.numEventTimeTimers(), "one grace timer while messages wait, and the audit");
        send(inc("d", 3)); // duplicate of a held message
        send(inc("d", 2));
        assertEquals("0/1,0/2,0/3,0/4", versions(h.extractOutputValues()));
        assertEquals(1, h.numEventTimeTimers(), "grace timer deleted once nothing waits; the audit stays");
        assertEquals(1, h.numKeyedStateEntries(), "only the device value is left, nothing held");
        h.processBothWatermarks(new Watermark(T0 + 60_000));
        assertTrue(lookups().isEmpty());
        assertTrue(alertTypes(h.getSideOutput(Tags.ALERTS)).isEmpty());
    }

    @Test
    void declaresAGapWhenTheGraceExpires() throws Exception {
        send(inc("d", 1));
        send(inc("d", 4));
        send(inc("d", 5));
        h.processBothWatermarks(new Watermark(T0 + 40 + GRACE - 1));
        assertEquals("0/1", versions(h.extractOutputValues()), "still within the grace");
        h.processBothWatermarks(new Watermark(T0 + 40 + GRACE));
        assertEquals("0/1,0/4,0/5", versions(h.extractOutputValues()));

        List<LookupRequest> req = lookups();
        assertEquals(1, req.size());
        assertEquals(LookupRequest.Kind.GAP, req.get(0).kind);
        assertEquals(2, req.get(0).fromSeq);
        assertEquals(3, req.get(0).toSeq);

        List<Alert> alerts = values(h.getSideOutput(Tags.ALERTS));
        assertEquals(1, alerts.size());
        Alert a = alerts.get(0);
        assertEquals(AlertType.SEQUENCE_GAP, a.type);
        assertEquals("d", a.deviceId);
        assertEquals(Strategy.FETCH_INCREMENTS, a.strategy);
        JsonNode details = Json.parse(a.details.getBytes(StandardCharsets.UTF_8));
        assertEquals(2, details.get("fromSeq").asLong());
        assertEquals(3, details.get("toSeq").asLong());
        assertEquals(2, details.get("missing").asLong());
        assertEquals(1, h.numEventTimeTimers(), "only the audit timer");
        assertEquals(1, h.numKeyedStateEntries(), "held messages are gone");

        // The late ones are now stale: dropped, no second gap.
        send(inc("d", 2));
        send(inc("d", 6));
        assertEquals("0/1,0/4,0/5,0/6", versions(h.extractOutputValues()));
        assertEquals(1, lookups().size());
    }

    @Test
    void eachHoleGetsItsOwnGraceAndItsOwnGap() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3)); // hole 2: grace from T0 + 30
        send(inc("d", 6)); // hole 4..5: grace from T0 + 60
        h.processBothWatermarks(new Watermark(T0 + 30 + GRACE));
        assertEquals("0/1,0/3", versions(h.extractOutputValues()), "only the first hole's grace ended");
        assertEquals(1, lookups().size());
        assertEquals(2, lookups().get(0).fromSeq);
        assertEquals(2, lookups().get(0).toSeq);
        // The second hole's messages are only late: they close it, no second gap.
        send(inc("d", 5));
        send(inc("d", 4));
        assertEquals("0/1,0/3,0/4,0/5,0/6", versions(h.extractOutputValues()));
        h.processBothWatermarks(new Watermark(T0 + 60 + GRACE));
        assertEquals(1, lookups().size());
        assertEquals(List.of("SEQUENCE_GAP"), alertTypes(h.getSideOutput(Tags.ALERTS)));
        assertEquals(1, h.numEventTimeTimers(), "only the audit timer");
    }

    @Test
    void severalHolesThatStayOpenAreOneGapEachWithTheirTrueRange() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3));
        send(inc("d", 6));
        send(inc("d", 7));
        send(inc("d", 10));
        h.processBothWatermarks(new Watermark(T0 + 100 + GRACE));
        assertEquals("0/1,0/3,0/6,0/7,0/10", versions(h.extractOutputValues()));
        List<LookupRequest> req = lookups();
        assertEquals(
                "2..2,4..5,8..9",
                req.stream().map(r -> r.fromSeq + ".." + r.toSeq).collect(java.util.stream.Collectors.joining(",")));
        List<Alert> alerts = values(h.getSideOutput(Tags.ALERTS));
        assertEquals(3, alerts.size());
        assertEquals(
                2,
                Json.parse(alerts.get(1).details.getBytes(StandardCharsets.UTF_8))
                        .get("missing")
                        .asLong());
        assertEquals(3, alerts.stream().map(a -> a.alertId).distinct().count(), "one id per gap");
        assertEquals(1, h.numKeyedStateEntries(), "nothing held");
        send(inc("d", 4)); // late for a declared gap: stale now
        assertEquals(5, h.extractOutputValues().size());
    }

    @Test
    void graceRunsFromTheWatermarkForLateRecords() throws Exception {
        h.processBothWatermarks(new Watermark(T0 + 100_000));
        send(inc("d", 1));
        send(inc("d", 3)); // its own time is far behind the watermark
        h.processBothWatermarks(new Watermark(T0 + 100_000 + GRACE - 1));
        assertEquals("0/1", versions(h.extractOutputValues()), "a late record still gets its grace");
        send(inc("d", 2));
        assertEquals("0/1,0/2,0/3", versions(h.extractOutputValues()));
        assertTrue(lookups().isEmpty());
    }

    @Test
    void firstSeenDeviceStartsAtOneOrAsksForItsSnapshotAfterTheGrace() throws Exception {
        send(inc("new", 1));
        send(inc("known-elsewhere", 0, 7, "{}"));
        send(inc("known-elsewhere", 0, 8, "{}"));
        assertEquals("0/1", versions(h.extractOutputValues()), "(0, 7) waits in case (0, 1) is only late");
        h.processBothWatermarks(new Watermark(T0 + 70 + GRACE));
        assertEquals("0/1,0/7,0/8", versions(h.extractOutputValues()));
        List<LookupRequest> req = lookups();
        assertEquals(1, req.size());
        assertEquals("known-elsewhere", req.get(0).deviceId);
        assertEquals(LookupRequest.Kind.FIRST_SEEN, req.get(0).kind);
        assertEquals(6, req.get(0).toSeq);
        assertTrue(alertTypes(h.getSideOutput(Tags.ALERTS)).isEmpty(), "first seen is not an anomaly");
        assertEquals(2, h.numEventTimeTimers(), "the audit timers of the two devices");
    }

    @Test
    void firstMessagesReorderedNeedNoLookup() throws Exception {
        send(inc("d", 2));
        send(inc("d", 1));
        assertEquals("0/1,0/2", versions(h.extractOutputValues()));
        h.processBothWatermarks(new Watermark(T0 + 60_000));
        assertTrue(lookups().isEmpty());
        assertEquals(1, h.numEventTimeTimers(), "only the audit timer");
    }

    @Test
    void firstSeenInAHigherEpochAsksAtOnce() throws Exception {
        send(inc("d", 3, 1, "{}"));
        assertEquals("3/1", versions(h.extractOutputValues()));
        assertEquals(LookupRequest.Kind.FIRST_SEEN, lookups().get(0).kind);
        assertTrue(alertTypes(h.getSideOutput(Tags.ALERTS)).isEmpty());
    }

    @Test
    void higherEpochRaisesOneResetAndAsksForTheSnapshot() throws Exception {
        send(inc("d", 1));
        send(inc("d", 2));
        send(inc("d", 1, 1, "{}"));
        send(inc("d", 0, 3, "{}")); // the old epoch is stale now
        send(inc("d", 1, 2, "{}"));
        assertEquals("0/1,0/2,1/1,1/2", versions(h.extractOutputValues()));
        assertEquals(List.of("DEVICE_RESET"), alertTypes(h.getSideOutput(Tags.ALERTS)));
        List<LookupRequest> req = lookups();
        assertEquals(1, req.size());
        assertEquals(LookupRequest.Kind.RESET, req.get(0).kind);
        assertEquals(1, req.get(0).epoch);
    }

    @Test
    void resetForwardsHeldMessagesOfTheOldEpochFirst() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3));
        send(inc("d", 1, 1, "{}"));
        assertEquals("0/1,0/3,1/1", versions(h.extractOutputValues()));
        assertEquals(List.of("DEVICE_RESET"), alertTypes(h.getSideOutput(Tags.ALERTS)));
        assertEquals(1, lookups().size());
        assertEquals(1, h.numEventTimeTimers(), "only the audit timer");
        assertEquals(1, h.numKeyedStateEntries());
    }

    @Test
    void alertIdsAreStableAcrossRuns() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3));
        h.processBothWatermarks(new Watermark(T0 + 30 + GRACE));
        String first = values(h.getSideOutput(Tags.ALERTS)).get(0).alertId;
        close();
        open();
        send(inc("d", 1));
        send(inc("d", 3));
        h.processBothWatermarks(new Watermark(T0 + 30 + GRACE));
        assertEquals(first, values(h.getSideOutput(Tags.ALERTS)).get(0).alertId);
    }
}
