package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.T0;
import static io.devicesync.operators.TestData.inc;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** Which reads answer a lookup, against a database held in memory. */
class LookupPlannerTest {
    private final LookupPlanner planner = new LookupPlanner(3);
    private final InMemorySourceOfTruth db = new InMemorySourceOfTruth();

    private LookupResult lookup(LookupRequest r) {
        return planner.lookup(r, db).toCompletableFuture().join();
    }

    private static String seqs(Increment[] increments) {
        return increments == null
                ? "none"
                : Arrays.stream(increments).map(i -> i.epoch + "/" + i.seq).collect(Collectors.joining(","));
    }

    private void truth(String d, long epoch, long lastSeq) {
        for (long seq = 1; seq <= lastSeq; seq++) db.log(inc(d, epoch, seq, "{\"n\":" + seq + "}"));
        db.snapshot(d, epoch, lastSeq, ("{\"n\":" + lastSeq + "}").getBytes(StandardCharsets.UTF_8));
    }

    private static LookupRequest gap(long from, long to) {
        return new LookupRequest("d", LookupRequest.Kind.GAP, 0, from, to, T0, 0);
    }

    @Test
    void aShortGapWithAllItsRowsComesFromTheLog() {
        truth("d", 0, 10);
        LookupResult r = lookup(gap(4, 6));
        assertEquals(LookupResult.Outcome.LOG, r.outcome);
        assertEquals("0/4,0/5,0/6", seqs(r.increments));
    }

    @Test
    void aLongGapOrMissingRowsTakeTheSnapshot() {
        truth("d", 0, 10);
        assertEquals(LookupResult.Outcome.SNAPSHOT, lookup(gap(2, 6)).outcome, "longer than max-log-fetch");
        db.forget("d", 0, 5);
        LookupResult r = lookup(gap(4, 6));
        assertEquals(LookupResult.Outcome.SNAPSHOT, r.outcome, "a row is gone");
        assertEquals(10, r.snapshotSeq);
        assertEquals("none", seqs(r.increments), "the snapshot is ahead: nothing to continue it with");
    }

    @Test
    void aLaggingSnapshotIsContinuedFromTheLog() {
        truth("d", 0, 10);
        db.snapshot("d", 0, 8, "{\"n\":8}".getBytes(StandardCharsets.UTF_8)); // lags the log
        LookupResult r = lookup(new LookupRequest("d", LookupRequest.Kind.FIRST_SEEN, 0, 1, 10, T0, 0));
        assertEquals(LookupResult.Outcome.SNAPSHOT, r.outcome);
        assertEquals(8, r.snapshotSeq);
        assertEquals("0/9,0/10", seqs(r.increments));
    }

    @Test
    void aResetReadsTheSnapshotAndTheNewEpochsRowsFromOne() {
        truth("d", 0, 10);
        db.log(inc("d", 1, 1, "{}")).log(inc("d", 1, 2, "{}"));
        LookupResult r = lookup(new LookupRequest("d", LookupRequest.Kind.RESET, 1, 1, 2, T0, 0));
        assertEquals(0, r.snapshotEpoch, "the snapshot has not reached the new epoch");
        assertEquals("1/1,1/2", seqs(r.increments), "the reconciler decides whether the old epoch is complete");
    }

    @Test
    void anAuditReadsTheVersionAndRepairsOnlyAQuietDeviceTheDatabaseIsAheadOf() {
        truth("d", 0, 5);
        assertEquals(
                LookupResult.Outcome.VERSION,
                lookup(LookupRequest.audit("d", 0, 5, false, true, T0, 0)).outcome,
                "equal");
        assertEquals(
                LookupResult.Outcome.VERSION,
                lookup(LookupRequest.audit("d", 0, 3, false, false, T0, 0)).outcome,
                "ahead, but the device still sends: in flight");
        LookupResult tail = lookup(LookupRequest.audit("d", 0, 3, false, true, T0 + 1_000, 0));
        assertEquals(
                LookupResult.Outcome.LOG,
                tail.outcome,
                "ahead of a quiet device, rows older than the audit: tail loss");
        assertEquals("0/4,0/5", seqs(tail.increments));
        assertEquals(5, tail.db.seq);
        LookupResult young = lookup(LookupRequest.audit("d", 0, 3, false, true, T0 - 1_000, 0));
        assertEquals(LookupResult.Outcome.VERSION, young.outcome, "rows newer than the audit may be in flight");
    }

    @Test
    void aTailTheLogNoLongerHasIsTakenFromTheSnapshotOnARecheckOnly() {
        truth("d", 0, 5);
        db.forget("d", 0, 4);
        LookupRequest first = LookupRequest.audit("d", 0, 3, false, true, T0 + 1_000, 0);
        assertEquals(LookupResult.Outcome.VERSION, lookup(first).outcome);
        LookupRequest recheck = LookupRequest.audit("d", 0, 3, false, true, T0 + 2_000, 0);
        recheck.recheck = true;
        assertEquals(LookupResult.Outcome.SNAPSHOT, lookup(recheck).outcome);
    }

    @Test
    void noRowIsNotFound() {
        LookupResult r = lookup(LookupRequest.audit("d", 0, 3, false, true, T0, 0));
        assertEquals(LookupResult.Outcome.NOT_FOUND, r.outcome);
        assertEquals(null, r.db);
        assertEquals(LookupResult.Outcome.NOT_FOUND, lookup(gap(1, 50)).outcome);
        assertNull(lookup(gap(1, 50)).increments);
    }

    @Test
    void aRecheckTakesTheLogEvenWhenItsRowsAreDatedAheadOfTheAudit() {
        truth("d", 0, 5); // rows at T0 + seq * 10
        LookupRequest first = LookupRequest.audit("d", 0, 3, false, true, T0, 0);
        assertEquals(LookupResult.Outcome.VERSION, lookup(first).outcome, "maybe in flight (a device clock ahead)");
        LookupRequest recheck = LookupRequest.audit("d", 0, 3, false, true, T0 + 1, 0);
        recheck.recheck = true;
        LookupResult r = lookup(recheck);
        assertEquals(LookupResult.Outcome.LOG, r.outcome, "quiet all along: lost, however it is dated");
        assertEquals("0/4,0/5", seqs(r.increments));
    }

    @Test
    void aRecheckDuringACatchUpFindsTheIncrementsWrittenSinceInFlight() {
        // The job reads a backlog: the audit's event time is 20 minutes behind the wall clock, and
        // the device's next increments, written 19 minutes after the audit, are still in the backlog.
        truth("d", 0, 3);
        long wall = T0 + 20 * 60_000;
        db.log(new Increment("d", 0, 4, T0 + 19 * 60_000, new byte[] {'{', '}'}));
        db.snapshot("d", 0, 4, new byte[] {'{', '}'});
        LookupRequest recheck = LookupRequest.audit("d", 0, 3, false, true, T0 + 1_000, wall);
        recheck.recheck = true;
        assertEquals(
                LookupResult.Outcome.VERSION, lookup(recheck).outcome, "in flight: dated after the audit, before now");
        LookupRequest caughtUp = LookupRequest.audit("d", 0, 3, false, true, T0 + 19 * 60_000 + 1, wall);
        caughtUp.recheck = true;
        assertEquals(LookupResult.Outcome.LOG, lookup(caughtUp).outcome, "event time passed it: lost");
    }

    /**
     * CI, issue 14: a busy device read from a backlog is quiet between two bursts in event time,
     * and the database is more than {@code --resync.max-log-fetch} ahead of it. Its tail is still in
     * the backlog; the re-check must not take it for lost (it was repaired from the snapshot and
     * raised TAIL_LOSS).
     */
    @Test
    void aLongTailDuringACatchUpIsInFlightOnARecheckToo() {
        truth("d", 0, 3);
        long wall = T0 + 20 * 60_000;
        for (long seq = 4; seq <= 10; seq++)
            db.log(new Increment("d", 0, seq, T0 + 60_000 + seq, new byte[] {'{', '}'}));
        db.snapshot("d", 0, 10, new byte[] {'{', '}'});
        LookupRequest first = LookupRequest.audit("d", 0, 3, false, true, T0 + 1_000, wall);
        assertEquals(
                LookupResult.Outcome.VERSION,
                lookup(first).outcome,
                "7 missing, over the log fetch, dated after the audit");
        LookupRequest recheck = LookupRequest.audit("d", 0, 3, false, true, T0 + 2_000, wall);
        recheck.recheck = true;
        assertEquals(
                LookupResult.Outcome.VERSION, lookup(recheck).outcome, "in flight: dated after the audit, before now");
        LookupRequest caughtUp = LookupRequest.audit("d", 0, 3, false, true, T0 + 60_004, wall);
        LookupResult r = lookup(caughtUp);
        assertEquals(
                LookupResult.Outcome.SNAPSHOT,
                r.outcome,
                "event time passed the first missing one: lost, from the snapshot");
        assertEquals(10, r.snapshotSeq);
        assertEquals(10, r.db.seq);
    }

    @Test
    void aLongTailAcrossAResetIsDatedByTheNewEpochsFirstRow() {
        truth("d", 0, 3);
        long wall = T0 + 20 * 60_000;
        for (long seq = 1; seq <= 5; seq++)
            db.log(new Increment("d", 1, seq, T0 + 60_000 + seq, new byte[] {'{', '}'}));
        db.snapshot("d", 1, 5, new byte[] {'{', '}'});
        LookupRequest recheck = LookupRequest.audit("d", 0, 3, false, true, T0 + 2_000, wall);
        recheck.recheck = true;
        assertEquals(LookupResult.Outcome.VERSION, lookup(recheck).outcome, "the reset is still in the backlog");
        LookupResult r = lookup(LookupRequest.audit("d", 0, 3, false, true, T0 + 60_002, wall));
        assertEquals(LookupResult.Outcome.SNAPSHOT, r.outcome, "event time passed the reset: lost");
        assertEquals(1, r.snapshotEpoch);
    }

    private static LookupRequest firstSeen(long epoch, long toSeq) {
        return new LookupRequest("d", LookupRequest.Kind.FIRST_SEEN, epoch, 1, toSeq, T0, 0);
    }

    /** Issue 14: the platform logged the device's first increments but wrote no snapshot row (yet). */
    @Test
    void aFirstSeenDeviceWithoutASnapshotRowIsRebuiltFromTheLogFromSeqOne() {
        for (long seq = 1; seq <= 3; seq++) db.log(inc("d", 0, seq, "{\"n\":" + seq + "}"));
        LookupResult r = lookup(firstSeen(0, 3));
        assertEquals(LookupResult.Outcome.LOG, r.outcome, String.valueOf(r));
        assertEquals("0/1,0/2,0/3", seqs(r.increments), "from {} and every increment before the first one seen");
    }

    @Test
    void aRebuildNeedsEveryRowFromSeqOneWithinTheLogFetch() {
        for (long seq = 1; seq <= 4; seq++) db.log(inc("d", 0, seq, "{}"));
        assertEquals(
                LookupResult.Outcome.NOT_FOUND,
                lookup(firstSeen(0, 4)).outcome,
                "4 rows: longer than max-log-fetch (3)");
        assertEquals(LookupResult.Outcome.NOT_FOUND, lookup(firstSeen(0, 5)).outcome, "the log does not reach 5 yet");
        db.forget("d", 0, 1);
        assertEquals(
                LookupResult.Outcome.NOT_FOUND, lookup(firstSeen(0, 3)).outcome, "seq 1 gone (retention): no base");
        db.log(inc("d", 0, 1, "{}")).forget("d", 0, 2);
        LookupResult r = lookup(firstSeen(0, 3));
        assertEquals(LookupResult.Outcome.NOT_FOUND, r.outcome, "a hole in 1..3");
        assertNull(r.increments);
    }

    /**
     * State carries across epochs: the log of a later epoch starts from the state the earlier ones
     * left, which without a snapshot nothing tells (the log does not say where an epoch ended).
     * Such a device waits for its snapshot row.
     */
    @Test
    void aFirstSeenDeviceInALaterEpochWithoutASnapshotRowIsNotRebuiltFromItsEpochsLog() {
        db.log(inc("d", 0, 1, "{\"a\":1}")).log(inc("d", 1, 1, "{\"b\":1}")).log(inc("d", 1, 2, "{\"c\":1}"));
        LookupResult r = lookup(firstSeen(1, 2));
        assertEquals(LookupResult.Outcome.NOT_FOUND, r.outcome);
        assertTrue(r.cause.contains("epoch 1"), r.cause);
    }

    @Test
    void aRepairAuditOfADeviceWithoutASnapshotRowRebuildsItFromTheLogToo() {
        for (long seq = 1; seq <= 3; seq++) db.log(inc("d", 0, seq, "{}"));
        LookupResult r = lookup(LookupRequest.audit("d", 0, 3, true, false, T0, 0));
        assertEquals(LookupResult.Outcome.LOG, r.outcome, "a first-seen lookup that failed, retried by the audit");
        assertEquals("0/1,0/2,0/3", seqs(r.increments));
        assertEquals(null, r.db, "the database still has no row");
        assertEquals(
                LookupResult.Outcome.NOT_FOUND,
                lookup(LookupRequest.audit("d", 0, 3, false, true, T0, 0)).outcome,
                "a plain audit repairs nothing: DB_MISSING");
        db.forget("d", 0, 3);
        assertEquals(
                LookupResult.Outcome.NOT_FOUND,
                lookup(gap(2, 3)).outcome,
                "a gap whose rows the log has not is no rebuild either");
    }
}
