package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.MAX_DOC;
import static io.devicesync.operators.TestData.inc;
import static io.devicesync.operators.TestData.published;
import static io.devicesync.operators.TestData.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.devicesync.model.Alert;
import io.devicesync.model.AlertType;
import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.model.Severity;
import io.devicesync.model.Strategy;
import io.devicesync.model.Version;
import io.devicesync.operators.TestData;
import io.devicesync.operators.util.Tags;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The StateReconciler's side of the audit: outcomes, tail loss, failed repairs healed. */
class StateReconcilerAuditTest {
    private KeyedTwoInputStreamOperatorTestHarness<String, Increment, LookupResult, DeviceState> h;

    @BeforeEach
    void open() throws Exception {
        open(100);
    }

    private void open(int maxHeld) throws Exception {
        h = ProcessFunctionTestHarnesses.forKeyedCoProcessFunction(
                new StateReconciler(maxHeld, Duration.ofDays(30), MAX_DOC),
                i -> i.deviceId,
                r -> r.request.deviceId,
                Types.STRING);
    }

    @AfterEach
    void close() throws Exception {
        h.close();
    }

    private void send(Increment i) throws Exception {
        h.processElement1(i, i.ts);
    }

    private void result(LookupResult r) throws Exception {
        h.processElement2(r, r.request.ts);
    }

    private static LookupRequest audit(long seq, boolean repair) {
        return LookupRequest.audit("d", 0, seq, repair, true, TestData.T0 + 60_000, 0);
    }

    private List<AuditRecord> audits() {
        return values(h.getSideOutput(Tags.AUDITS));
    }

    private List<Alert> alerts() {
        return values(TestData.reconcilerAlerts(h));
    }

    @Test
    void verifiedAndDatabaseBehind() throws Exception {
        send(inc("d", 1));
        send(inc("d", 2));
        result(LookupResult.version(audit(2, false), 0, 2));
        result(LookupResult.version(audit(2, false), 0, 1));
        List<AuditRecord> a = audits();
        assertEquals(AuditRecord.Outcome.VERIFIED, a.get(0).outcome);
        assertEquals(2, a.get(0).published.seq);
        assertEquals(2, a.get(0).db.seq);
        assertEquals(AuditRecord.Outcome.DB_BEHIND, a.get(1).outcome);
        assertTrue(alerts().isEmpty());
    }

    @Test
    void databaseAheadWhileTheDeviceStillSendsIsInFlightNotTailLoss() throws Exception {
        send(inc("d", 1));
        result(LookupResult.version(LookupRequest.audit("d", 0, 1, false, false, TestData.T0, 0), 0, 3));
        assertEquals(AuditRecord.Outcome.IN_FLIGHT, audits().get(0).outcome);
        assertTrue(alerts().isEmpty());
        assertEquals("0/1:increment", published(h.extractOutputValues()));
    }

    @Test
    void tailLossIsAlertedOnceAndRepaired() throws Exception {
        send(inc("d", 1));
        send(inc("d", 2));
        LookupResult r = LookupResult.log(
                audit(2, false), new Increment[] {inc("d", 0, 3, "{\"c\":3}"), inc("d", 0, 4, "{\"d\":4}")});
        r.db = new Version(0, 4);
        result(r);
        assertEquals("0/1:increment,0/2:increment,0/3:log,0/4:log", published(h.extractOutputValues()));
        List<Alert> alerts = alerts();
        assertEquals(1, alerts.size());
        assertEquals(AlertType.TAIL_LOSS, alerts.get(0).type);
        assertEquals(Strategy.FETCH_INCREMENTS, alerts.get(0).strategy);
        JsonNode d = Json.parse(alerts.get(0).details.getBytes(StandardCharsets.UTF_8));
        assertEquals(2, d.get("missing").asLong());
        AuditRecord a = audits().get(0);
        assertEquals(AuditRecord.Outcome.TAIL_LOSS, a.outcome);
        assertEquals(2, a.published.seq, "what was published when audited");
        assertEquals(4, a.db.seq);
        // The next audit verifies it.
        result(LookupResult.version(audit(2, false), 0, 4));
        assertEquals(AuditRecord.Outcome.VERIFIED, audits().get(1).outcome);
        assertEquals(1, alerts().size());
    }

    @Test
    void aFailedRepairAsksForTheAuditWhichHealsItAndSaysSo() throws Exception {
        send(inc("d", 1));
        send(inc("d", 5));
        result(LookupResult.failed(
                new LookupRequest("d", LookupRequest.Kind.GAP, 0, 2, 4, TestData.T0, 0),
                LookupResult.Outcome.FAILED,
                "database lookup failed: connection refused"));
        assertEquals(
                List.of("RESYNC_FAILED"),
                alerts().stream().map(a -> a.type.name()).toList());
        assertEquals(AuditRecord.Outcome.REPAIR_PENDING, audits().get(0).outcome, "read back by the guard");

        // A version-only audit finds it still waiting: it asks again, without a second RESYNC_FAILED.
        result(LookupResult.version(audit(5, false), 0, 5));
        assertEquals(AuditRecord.Outcome.REPAIR_PENDING, audits().get(1).outcome);
        assertEquals(1, alerts().size());

        // The repair audit brings the snapshot and the log rows after it.
        LookupResult repair = LookupResult.snapshot(audit(5, true), 0, 3, "{\"s\":3}".getBytes(StandardCharsets.UTF_8));
        repair.increments = new Increment[] {inc("d", 0, 4, "{\"f\":4}"), inc("d", 0, 5, "{\"g\":5}")};
        repair.db = new Version(0, 5); // an audit's result always carries the version it read
        result(repair);
        assertEquals(
                "0/1:increment,0/3:snapshot,0/4:log,0/5:log",
                published(h.extractOutputValues()),
                "the log rows continue the snapshot up to what the guard forwarded");
        List<Alert> alerts = alerts();
        assertEquals(AlertType.RESYNC_RESOLVED, alerts.get(alerts.size() - 1).type);
        assertEquals(Severity.INFO, alerts.get(alerts.size() - 1).severity);
        assertEquals(AuditRecord.Outcome.VERIFIED, audits().get(2).outcome);
        assertEquals(1, h.numKeyedStateEntries(), "nothing held any more");
    }

    @Test
    void overflowAlertsOncePerEpisodeAndAsksForTheAudit() throws Exception {
        close();
        open(3);
        send(inc("d", 1));
        for (long seq = 3; seq <= 10; seq++) send(inc("d", seq));
        assertEquals(
                List.of("BUFFER_OVERFLOW"),
                alerts().stream().map(a -> a.type.name()).toList());
        assertEquals(
                List.of(AuditRecord.Outcome.REPAIR_PENDING),
                audits().stream().map(a -> a.outcome).toList());
        // The repair audit's snapshot past the dropped ones repairs it.
        result(LookupResult.snapshot(audit(10, true), 0, 7, "{}".getBytes(StandardCharsets.UTF_8)));
        assertEquals(
                "0/1:increment,0/7:snapshot,0/8:increment,0/9:increment,0/10:increment",
                published(h.extractOutputValues()));
    }

    @Test
    void aGapResultDoesNotFailADeviceThatWaitsForItsFirstSnapshot() throws Exception {
        send(inc("d", 0, 5, "{}"));
        send(inc("d", 0, 9, "{}"));
        // The gap 6..8 is answered before the first-seen snapshot (Async I/O is unordered).
        result(LookupResult.log(
                new LookupRequest("d", LookupRequest.Kind.GAP, 0, 6, 8, TestData.T0, 0),
                new Increment[] {inc("d", 0, 6, "{}"), inc("d", 0, 7, "{}"), inc("d", 0, 8, "{}")}));
        assertTrue(alerts().isEmpty(), "not this request's hole: " + alerts());
        result(LookupResult.snapshot(
                new LookupRequest("d", LookupRequest.Kind.FIRST_SEEN, 0, 1, 4, TestData.T0, 0),
                0,
                4,
                "{}".getBytes(StandardCharsets.UTF_8)));
        assertEquals(
                "0/4:snapshot,0/5:increment,0/6:log,0/7:log,0/8:log,0/9:increment", published(h.extractOutputValues()));
    }

    @Test
    void aDeviceWithoutADatabaseRowIsDbMissingNotDbBehind() throws Exception {
        send(inc("d", 1));
        result(LookupResult.failed(
                audit(1, false), LookupResult.Outcome.NOT_FOUND, "device d has no row in device_snapshot"));
        AuditRecord a = audits().get(0);
        assertEquals(AuditRecord.Outcome.DB_MISSING, a.outcome);
        assertEquals(null, a.db, "null on the topic");
        assertTrue(alerts().isEmpty());
    }

    @Test
    void aVerifiedRecordAlwaysCarriesTheDatabasesVersion() throws Exception {
        send(inc("d", 1));
        send(inc("d", 3)); // waits for 2
        // A repair audit brings the snapshot at 3: the device is repaired and equals the database.
        LookupResult r = LookupResult.snapshot(audit(3, true), 0, 3, "{\"s\":3}".getBytes(StandardCharsets.UTF_8));
        r.db = new Version(0, 3);
        result(r);
        AuditRecord a = audits().get(0);
        assertEquals(AuditRecord.Outcome.VERIFIED, a.outcome);
        assertEquals(a.db.seq, a.published.seq);
        assertEquals(3, a.published.seq);
    }
}
