package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.T0;
import static io.devicesync.operators.TestData.inc;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.operators.SyncFeedback;
import io.devicesync.operators.TestData;
import io.devicesync.operators.alerts.AlertRouting;
import io.devicesync.operators.util.Tags;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.StreamTaskActionExecutor;
import org.apache.flink.streaming.runtime.tasks.mailbox.Mail;
import org.apache.flink.streaming.runtime.tasks.mailbox.MailboxExecutorImpl;
import org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The fused sync step answers its own lookups: a gap's lookup goes to the database from the
 * operator and its answer comes back through the task's mailbox into the same device's state; a
 * lookup in flight at a checkpoint is sent again after the restore, and the restored value (the
 * guard's version and the published document) is what the answer is applied to. On RocksDB and
 * on the heap backend.
 */
class FusedSyncOperatorTest {
    /** The harness's audit interval and idle TTL. */
    private static final long AUDIT = Duration.ofMinutes(5).toMillis();

    private static final long IDLE = Duration.ofDays(30).toMillis();
    private static final String D = "d1";
    /** The watermark that ends the reorder grace of the device's early version (2 s). */
    private static final long AFTER_GRACE = T0 + 10_000;
    /** The checkpoint id the restored harnesses say they restore from. */
    private static final long RESTORED_FROM = 7;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void aGapIsRepairedByTheStepsOwnLookup(String backend) throws Exception {
        Gated.TRUTHS.put("open-" + backend, new InMemorySourceOfTruth().log(v(2)));
        Gated.GATES.put("open-" + backend, CompletableFuture.completedFuture(null));
        try (var h = harness(backend, new Gated("open-" + backend), null)) {
            h.processElement1(new StreamRecord<>(v(1), v(1).ts));
            h.processElement1(new StreamRecord<>(v(3), v(3).ts)); // 2 is missing
            h.processBothWatermarks(new Watermark(AFTER_GRACE));
            runMailUntil(h, () -> published(h).size() == 3);
            assertEquals("0/1,0/2,0/3", versions(published(h)));
            assertEquals(
                    "{\"f1\":1,\"f2\":2,\"f3\":3}", TestData.doc(published(h).get(2)));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void aLookupInFlightAtACheckpointIsSentAgainAfterTheRestore(String backend) throws Exception {
        Gated.TRUTHS.put("closed-" + backend, new InMemorySourceOfTruth().log(v(2)));
        Gated.GATES.put("closed-" + backend, new CompletableFuture<>()); // never answers
        OperatorSubtaskState snapshot;
        try (var h = harness(backend, new Gated("closed-" + backend), null)) {
            h.processElement1(new StreamRecord<>(v(1), v(1).ts));
            h.processElement1(new StreamRecord<>(v(3), v(3).ts));
            h.processBothWatermarks(new Watermark(AFTER_GRACE));
            runMail(h);
            assertEquals("0/1", versions(published(h)), "the gap's lookup is in flight: 2 and 3 wait");
            snapshot = h.snapshot(1, 1);
            // Opened after the snapshot, so that the lookup's future completes; its answer is never
            // run here (the harness closes without ending the inputs, which is where DeviceSync
            // waits for its lookups).
            Gated.GATES.get("closed-" + backend).complete(null);
        }
        Gated.TRUTHS.put("reopened-" + backend, new InMemorySourceOfTruth().log(v(2)));
        Gated.GATES.put("reopened-" + backend, CompletableFuture.completedFuture(null));
        try (var h = harness(backend, new Gated("reopened-" + backend), snapshot)) {
            runMailUntil(h, () -> published(h).size() == 2);
            assertEquals("0/2,0/3", versions(published(h)), "the restored lookup was sent again and answered");
            assertEquals(
                    "{\"f1\":1,\"f2\":2,\"f3\":3}",
                    TestData.doc(published(h).get(1)),
                    "applied to the restored document, with the held version restored too");
            // The restored guard's version: 3 again is a duplicate, 4 follows.
            h.processElement1(new StreamRecord<>(v(3), v(3).ts));
            h.processElement1(new StreamRecord<>(v(4), v(4).ts));
            runMail(h);
            assertEquals("0/2,0/3,0/4", versions(published(h)));
        }
    }

    /**
     * A device that stops sending is forgotten by its own timer one idle TTL after its last quiet
     * audit (event time), its value gone from the keyed state on RocksDB and on heap alike: not left
     * to the state TTL, which the heap backend never applies while the job runs.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void aDeviceThatStopsSendingIsForgottenOneIdleTtlAfterItsLastAudit(String backend) throws Exception {
        try (var h = withASnapshotRow("quiet-" + backend, backend)) {
            long w = sendThenFallQuiet(h);
            assertEquals("0/1,0/2", versions(published(h)));
            assertTrue(deviceValue(h) != null, "kept while within the idle TTL");
            // Thirty days and a day of event time later (a long jump: the timer is moved to the
            // interval after it, then fires).
            w += Duration.ofDays(31).toMillis();
            for (int k = 0; k < 3; k++) {
                h.processBothWatermarks(new Watermark(w += AUDIT));
                runMail(h);
            }
            assertEquals(0, h.numEventTimeTimers());
            assertEquals(null, deviceValue(h), "forgotten");
            if (backend.equals("hashmap")) assertEquals(0, h.numKeyedStateEntries(), "nothing else of it left");
        }
    }

    /**
     * The quiet device's end fires on its own time, not only after a long jump moved it: event time
     * in steps of a second (each within the routine jump: no timer moved) keeps the device until
     * one idle TTL after it was last seen and forgets it within the intervals of its last audits.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void aQuietDevicesEndFiresOnItsOwnTime(String backend) throws Exception {
        try (var h = withASnapshotRow("ontime-" + backend, backend)) {
            long quietBy = sendThenFallQuiet(h); // the quiet audit ran by then
            long last = v(2).ts;
            assertEquals(1, h.numEventTimeTimers(), "the end, armed by the quiet audit");
            long w = last + IDLE - 1;
            h.processBothWatermarks(new Watermark(w)); // passes no timer
            runMail(h);
            assertTrue(deviceValue(h) != null, "kept within the idle TTL");
            long forgottenAt = -1;
            while (forgottenAt < 0 && w < quietBy + IDLE + 2 * AUDIT) {
                h.processBothWatermarks(new Watermark(w += 1_000));
                runMail(h);
                if (deviceValue(h) == null) forgottenAt = w;
            }
            assertTrue(
                    forgottenAt > last + IDLE && forgottenAt <= quietBy + IDLE + AUDIT,
                    "forgotten at its end, one idle TTL after its quiet audit (at its slot): "
                            + (forgottenAt - last - IDLE) + " ms past one idle TTL after it was last seen");
            assertEquals(0, h.numEventTimeTimers());
        }
    }

    /**
     * A device that sends again before its end is audited as usual, its end moves with it: the old
     * end is deleted (one timer left), passing it forgets nothing, and the device is forgotten one
     * idle TTL after its new last message.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void aDeviceThatSendsBeforeItsEndMovesIt(String backend) throws Exception {
        try (var h = withASnapshotRow("back-" + backend, backend)) {
            long firstEnd = sendThenFallQuiet(h) + IDLE + AUDIT; // at the latest
            long w = v(2).ts + Duration.ofDays(20).toMillis();
            h.processBothWatermarks(new Watermark(w));
            runMail(h);
            Increment back = new Increment(D, 0, 3, w + 100, "{\"f3\":3}".getBytes());
            h.processElement1(new StreamRecord<>(back, back.ts));
            for (int k = 0; k < 4; k++) {
                h.processBothWatermarks(new Watermark(w += AUDIT));
                runMail(h);
            }
            long quietAgainBy = w;
            assertEquals("0/1,0/2,0/3", versions(published(h)));
            assertEquals(1, h.numEventTimeTimers(), "one end: the first one deleted");
            for (w = firstEnd - AUDIT; w <= firstEnd + AUDIT; ) {
                h.processBothWatermarks(new Watermark(w += 1_000));
                runMail(h);
            }
            assertTrue(deviceValue(h) != null, "its first end passed: kept");
            assertEquals(1, h.numEventTimeTimers());
            long secondEnd = quietAgainBy + IDLE + AUDIT;
            h.processBothWatermarks(new Watermark(back.ts + IDLE - 1));
            runMail(h);
            assertTrue(deviceValue(h) != null, "kept within the idle TTL of its new last message");
            for (w = back.ts + IDLE - 1; w <= secondEnd; ) {
                h.processBothWatermarks(new Watermark(w += 1_000));
                runMail(h);
            }
            assertEquals(null, deviceValue(h), "forgotten one idle TTL after its new last message");
            assertEquals(0, h.numEventTimeTimers());
        }
    }

    /** A drained stop (the end of event time) passes every quiet device's end: none is forgotten. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void theEndOfEventTimeForgetsNoQuietDevice(String backend) throws Exception {
        try (var h = withASnapshotRow("drained-" + backend, backend)) {
            sendThenFallQuiet(h);
            int audits = TestData.values(h.getSideOutput(Tags.AUDITS)).size();
            h.processBothWatermarks(Watermark.MAX_WATERMARK);
            runMail(h);
            assertTrue(deviceValue(h) != null, "kept");
            assertEquals(audits, TestData.values(h.getSideOutput(Tags.AUDITS)).size(), "and not audited");
            assertEquals(0, h.numEventTimeTimers());
        }
    }

    /**
     * The lookups' breaker reports say which checkpoint their incarnation started from (0: none),
     * so that the AlertPolicy can tell an earlier incarnation's report, replayed from an unaligned
     * checkpoint's records in flight, from the current one's.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void theBreakersReportsSayWhichCheckpointTheirIncarnationStartedFrom(String backend) throws Exception {
        Gated.TRUTHS.put("start-" + backend, new InMemorySourceOfTruth().log(v(2)));
        Gated.GATES.put("start-" + backend, CompletableFuture.completedFuture(null));
        OperatorSubtaskState snapshot;
        try (var h = harness(backend, new Gated("start-" + backend), null)) {
            h.processElement1(new StreamRecord<>(v(1), v(1).ts));
            h.processElement1(new StreamRecord<>(v(3), v(3).ts));
            h.processBothWatermarks(new Watermark(AFTER_GRACE));
            runMailUntil(h, () -> published(h).size() == 3);
            assertEquals(List.of(0L), breakerStarts(h), "a fresh start");
            snapshot = h.snapshot(RESTORED_FROM, AFTER_GRACE);
        }
        try (var h = harness(backend, new Gated("start-" + backend), snapshot)) {
            Gated.TRUTHS.get("start-" + backend).log(v(4));
            h.processElement1(new StreamRecord<>(v(5), v(5).ts)); // 4 is missing
            h.processBothWatermarks(new Watermark(AFTER_GRACE + 10_000));
            runMailUntil(h, () -> published(h).size() == 2);
            assertEquals(List.of(RESTORED_FROM), breakerStarts(h), "restored from checkpoint " + RESTORED_FROM);
        }
    }

    /**
     * The device sends 1 and 2, is audited (VERIFIED), then quiet-audited, which arms its end: event
     * time four audit intervals on, the answers run. Returns the watermark reached.
     */
    private static long sendThenFallQuiet(
            KeyedTwoInputStreamOperatorTestHarness<String, Increment, SyncFeedback, DeviceState> h) throws Exception {
        h.processElement1(new StreamRecord<>(v(1), v(1).ts));
        h.processElement1(new StreamRecord<>(v(2), v(2).ts));
        long w = AFTER_GRACE;
        for (int k = 0; k < 4; k++) {
            h.processBothWatermarks(new Watermark(w += Duration.ofMinutes(5).toMillis()));
            runMail(h);
        }
        return w;
    }

    /** The device's value in DeviceSync's keyed state, read as the operator reads it. */
    private static io.devicesync.operators.DeviceRecord deviceValue(
            KeyedTwoInputStreamOperatorTestHarness<?, ?, ?, ?> h) throws Exception {
        @SuppressWarnings("unchecked")
        var backend = (org.apache.flink.runtime.state.KeyedStateBackend<String>)
                (org.apache.flink.runtime.state.KeyedStateBackend<?>)
                        h.getOperator().getKeyedStateBackend();
        backend.setCurrentKey(D);
        return backend.getPartitionedState(
                        org.apache.flink.runtime.state.VoidNamespace.INSTANCE,
                        org.apache.flink.runtime.state.VoidNamespaceSerializer.INSTANCE,
                        FusedSync.deviceDescriptor(Duration.ofDays(30)))
                .value();
    }

    private static List<Long> breakerStarts(KeyedTwoInputStreamOperatorTestHarness<?, ?, ?, ?> h) {
        return TestData.values(h.getSideOutput(AlertRouting.RECONCILER)).stream()
                .filter(in -> in.breaker != null)
                .map(in -> in.breaker.restoredFrom)
                .toList();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void theEndOfTheInputWaitsForALookupRetriedWhileTheDatabaseFails(String backend) throws Exception {
        String name = "flaky-" + backend;
        Failing.TRUTHS.put(name, new InMemorySourceOfTruth().log(v(2)));
        Failing.FAILURES_LEFT.put(name, new AtomicInteger(2)); // attempts 1 and 2 fail, 3 answers
        Failing.CALLS.put(name, new AtomicInteger());
        try (var h = harness(backend, new Failing(name), null)) {
            h.processElement1(new StreamRecord<>(v(1), v(1).ts));
            h.processElement1(new StreamRecord<>(v(3), v(3).ts));
            h.processBothWatermarks(new Watermark(AFTER_GRACE));
            runMail(h);
            assertEquals("0/1", versions(published(h)), "the first attempt failed: 2 and 3 wait");
            assertEquals(1, Failing.CALLS.get(name).get());
            // The retry waits for its backoff (100 ms, on processing time), then fails again.
            long start = h.getProcessingTime();
            h.setProcessingTime(start + 99);
            runMail(h);
            assertEquals(1, Failing.CALLS.get(name).get(), "not before the backoff");
            h.setProcessingTime(start + 100);
            runMail(h);
            assertEquals(2, Failing.CALLS.get(name).get(), "the second attempt, after 100 ms");
            endBothInputs(h);
            assertEquals(
                    "0/1,0/2,0/3",
                    versions(published(h)),
                    "the end of the input waited for the retries (their backoff on processing time) and the answer");
            assertEquals(3, Failing.CALLS.get(name).get(), "two failed attempts and the one that answered");
            assertEquals(
                    "{\"f1\":1,\"f2\":2,\"f3\":3}", TestData.doc(published(h).get(2)));
            assertEquals(0, ((FusedSyncOperator) h.getOperator()).pendingLookups());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"rocksdb", "hashmap"})
    void theEndOfTheInputEndsWhenTheDatabaseStaysDown(String backend) throws Exception {
        String name = "down-" + backend;
        Failing.TRUTHS.put(name, new InMemorySourceOfTruth().log(v(2)));
        Failing.FAILURES_LEFT.put(name, new AtomicInteger(Integer.MAX_VALUE));
        Failing.CALLS.put(name, new AtomicInteger());
        try (var h = harness(backend, new Failing(name), null)) {
            h.processElement1(new StreamRecord<>(v(1), v(1).ts));
            h.processElement1(new StreamRecord<>(v(3), v(3).ts));
            h.processBothWatermarks(new Watermark(AFTER_GRACE));
            endBothInputs(h);
            assertEquals("0/1", versions(published(h)), "nothing past the gap without the repair");
            assertEquals(3, Failing.CALLS.get(name).get(), "the first attempt and its two retries, then the answer");
            assertEquals(0, ((FusedSyncOperator) h.getOperator()).pendingLookups());
            List<String> alerts = TestData.values(h.getSideOutput(AlertRouting.RECONCILER)).stream()
                    .filter(in -> in.alert != null)
                    .map(in -> in.alert.type.name())
                    .toList();
            assertTrue(alerts.contains("RESYNC_FAILED"), "the failed repair is alerted: " + alerts);
            assertTrue(
                    TestData.values(h.getSideOutput(Tags.AUDITS)).stream()
                            .anyMatch(a -> a.outcome == AuditRecord.Outcome.REPAIR_PENDING),
                    "the device is marked as waiting for a repair (device-audit), so a restore of a drained"
                            + " savepoint repairs it");
        }
    }

    /**
     * Ends both inputs, as the task does at the end of a bounded input or a drained stop. While
     * DeviceSync waits there for its lookups, processing time (the lookups' backoff and deadlines)
     * moves on a second at a time, through the task's mailbox, as the task's own timer service
     * fires them: one tick is queued at a time, and each queues the next when it runs, so time
     * never runs ahead of the task. After 600 ticks the wait fails the test instead of going on.
     */
    private static void endBothInputs(KeyedTwoInputStreamOperatorTestHarness<?, ?, ?, ?> h) throws Exception {
        var mailbox = new MailboxExecutorImpl(h.getTaskMailbox(), 0, StreamTaskActionExecutor.IMMEDIATE);
        AtomicInteger ticks = new AtomicInteger();
        AtomicBoolean ended = new AtomicBoolean();
        class Tick implements org.apache.flink.util.function.ThrowingRunnable<Exception> {
            @Override
            public void run() throws Exception {
                if (ended.get()) return;
                if (ticks.incrementAndGet() > 600) {
                    throw new AssertionError(
                            "the end of the input did not end within 600 s of processing time: " + h.getOutput());
                }
                h.setProcessingTime(h.getProcessingTime() + 1_000);
                mailbox.execute(this, "a second passes");
            }
        }
        mailbox.execute(new Tick(), "a second passes");
        h.endInput1();
        h.endInput2();
        ended.set(true);
    }

    private static Increment v(long seq) {
        return inc(D, 0, seq, "{\"f" + seq + "\":" + seq + "}");
    }

    /** A harness whose database has the device's snapshot row at 0/2 and answers at once. */
    private static KeyedTwoInputStreamOperatorTestHarness<String, Increment, SyncFeedback, DeviceState>
            withASnapshotRow(String name, String backend) throws Exception {
        Gated.TRUTHS.put(name, new InMemorySourceOfTruth().snapshot(D, 0, 2, "{}".getBytes()));
        Gated.GATES.put(name, CompletableFuture.completedFuture(null));
        return harness(backend, new Gated(name), null);
    }

    private static KeyedTwoInputStreamOperatorTestHarness<String, Increment, SyncFeedback, DeviceState> harness(
            String backend, SourceOfTruth.Factory truth, OperatorSubtaskState snapshot) throws Exception {
        SnapshotLookup.Config config = new SnapshotLookup.Config(
                List.of("postgresql://unused"), "u", "p", 1, 100, 5_000, 100, 5, 60_000, 10, 0);
        FusedSync sync = new FusedSync(
                Duration.ofSeconds(2),
                100,
                Duration.ofMinutes(5),
                Duration.ofDays(30),
                Duration.ofSeconds(2),
                false,
                100,
                TestData.MAX_DOC,
                Duration.ofSeconds(20));
        var op = new FusedSyncOperator(sync, new SnapshotLookup(config, truth), 60_000, new LookupRetry(2, 100), 100);
        var h = new KeyedTwoInputStreamOperatorTestHarness<>(
                op,
                (KeySelector<Increment, String>) i -> i.deviceId,
                (KeySelector<SyncFeedback, String>) SyncFeedback::deviceId,
                Types.STRING);
        // What Flink's task gives the operator (StreamOperatorFactoryUtil); the test harness does not.
        op.setMailboxExecutor(new MailboxExecutorImpl(h.getTaskMailbox(), 0, StreamTaskActionExecutor.IMMEDIATE));
        h.setStateBackend(TestData.backend(backend));
        if (snapshot != null) {
            h.setRestoredCheckpointId(RESTORED_FROM);
            h.initializeState(snapshot);
        }
        h.open();
        return h;
    }

    /** Runs the task's mail until {@code done}, for at most 10 s (the answers come from other threads). */
    private static void runMailUntil(KeyedTwoInputStreamOperatorTestHarness<?, ?, ?, ?> h, BooleanSupplier done)
            throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!done.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "not done within 10 s: " + h.getOutput());
            Optional<Mail> mail = h.getTaskMailbox().tryTake(TaskMailbox.MIN_PRIORITY);
            if (mail.isPresent()) mail.get().run();
            else Thread.onSpinWait();
        }
    }

    /** Runs the mail already there. */
    private static void runMail(KeyedTwoInputStreamOperatorTestHarness<?, ?, ?, ?> h) throws Exception {
        Optional<Mail> mail;
        while ((mail = h.getTaskMailbox().tryTake(TaskMailbox.MIN_PRIORITY)).isPresent())
            mail.get().run();
    }

    private static List<DeviceState> published(KeyedTwoInputStreamOperatorTestHarness<?, ?, ?, DeviceState> h) {
        return h.extractOutputValues();
    }

    private static String versions(List<DeviceState> out) {
        return out.stream().map(s -> s.epoch + "/" + s.seq).collect(Collectors.joining(","));
    }

    /** A source of truth answering only once its gate (by name, shared with the test) has opened. */
    static final class Gated implements SourceOfTruth.Factory {
        private static final long serialVersionUID = 1L;
        static final Map<String, InMemorySourceOfTruth> TRUTHS = new ConcurrentHashMap<>();
        static final Map<String, CompletableFuture<Void>> GATES = new ConcurrentHashMap<>();
        private final String name;

        Gated(String name) {
            this.name = name;
        }

        @Override
        public SourceOfTruth open() {
            InMemorySourceOfTruth truth = TRUTHS.get(name);
            CompletableFuture<Void> gate = GATES.get(name);
            return new SourceOfTruth() {
                @Override
                public CompletionStage<Optional<Version>> version(String deviceId) {
                    return gate.thenCompose(x -> truth.version(deviceId));
                }

                @Override
                public CompletionStage<Optional<Snapshot>> snapshot(String deviceId) {
                    return gate.thenCompose(x -> truth.snapshot(deviceId));
                }

                @Override
                public CompletionStage<List<Increment>> log(String deviceId, long epoch, long fromSeq, long toSeq) {
                    return gate.thenCompose(x -> truth.log(deviceId, epoch, fromSeq, toSeq));
                }
            };
        }
    }

    /** A source of truth whose reads fail (the database down) until its failures (by name) are used up. */
    static final class Failing implements SourceOfTruth.Factory {
        private static final long serialVersionUID = 1L;
        static final Map<String, InMemorySourceOfTruth> TRUTHS = new ConcurrentHashMap<>();
        static final Map<String, AtomicInteger> FAILURES_LEFT = new ConcurrentHashMap<>();
        static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();
        private final String name;

        Failing(String name) {
            this.name = name;
        }

        @Override
        public SourceOfTruth open() {
            InMemorySourceOfTruth truth = TRUTHS.get(name);
            AtomicInteger left = FAILURES_LEFT.get(name);
            AtomicInteger calls = CALLS.get(name);
            return new SourceOfTruth() {
                private <T> CompletionStage<T> orFail(java.util.function.Supplier<CompletionStage<T>> read) {
                    calls.incrementAndGet();
                    if (left.getAndUpdate(n -> n == Integer.MAX_VALUE ? n : Math.max(0, n - 1)) > 0)
                        return CompletableFuture.failedFuture(new java.io.IOException("connection refused"));
                    return read.get();
                }

                @Override
                public CompletionStage<Optional<Version>> version(String deviceId) {
                    return orFail(() -> truth.version(deviceId));
                }

                @Override
                public CompletionStage<Optional<Snapshot>> snapshot(String deviceId) {
                    return orFail(() -> truth.snapshot(deviceId));
                }

                @Override
                public CompletionStage<List<Increment>> log(String deviceId, long epoch, long fromSeq, long toSeq) {
                    return orFail(() -> truth.log(deviceId, epoch, fromSeq, toSeq));
                }
            };
        }
    }
}
