package io.devicesync.operators.sync;

import static io.devicesync.operators.TestData.T0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.AuditRecord;
import io.devicesync.model.DeviceState;
import io.devicesync.model.Increment;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.operators.SyncFeedback;
import io.devicesync.operators.TestData;
import io.devicesync.operators.alerts.AlertRouting;
import io.devicesync.operators.alerts.PolicyInput;
import io.devicesync.operators.util.Tags;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * DeviceSync composes the guard's and the reconciler's decisions in one keyed step: on the same
 * input it publishes what the two steps it replaced published, alerts what they alerted and
 * audits as they audited. Seeded scenarios of a few devices (duplicates, reordering within and
 * past the grace, lost increments the database's log holds, reboots into a new epoch, a lost
 * tail that only an audit finds, lookups that fail or are refused, a device's held increments
 * overflowing while its repair fails, devices that come back after a long silence), run through the SequenceGuard and the StateReconciler wired as
 * the earlier job graph wired them, and through {@link FusedSync}, each device's lookups answered
 * by the same planner against the same database and the audit records (all but VERIFIED, as the
 * feedback source reads them) read back. Not covered here: the spreading of audits after a long
 * jump of event time (the routine jump is unbounded) and the grace for lookups never sent (zero:
 * it runs on the wall clock).
 */
class FusedSyncEquivalenceTest {
    private static final Duration GRACE = Duration.ofSeconds(2);
    private static final Duration AUDIT = Duration.ofMinutes(1);
    private static final Duration IDLE = Duration.ofDays(30);
    /** Small: a device whose repair fails holds what follows, and may overflow. */
    private static final int MAX_HELD = 6;

    private static final long MAX_LOG_FETCH = 100;

    /** What the scenarios brought about, over all seeds. */
    private static final java.util.Set<String> SEEN = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** The scenarios do reach what they are said to: each case below happened in at least one. */
    @AfterAll
    static void everyCaseHappened() {
        for (String c : List.of(
                "GAP",
                "RESET",
                "FIRST_SEEN",
                "AUDIT",
                "FAILED lookup",
                "UNAVAILABLE lookup",
                "SEQUENCE_GAP",
                "DEVICE_RESET",
                "RESYNC_FAILED",
                "RESYNC_RESOLVED",
                "BUFFER_OVERFLOW",
                "TAIL_LOSS",
                "REPAIR_PENDING",
                "IN_FLIGHT")) {
            assertTrue(SEEN.contains(c), c + " happened in none of the scenarios: " + SEEN);
        }
    }

    static Stream<Arguments> seeds() {
        return LongStream.rangeClosed(1, 12)
                .boxed()
                .flatMap(seed -> Stream.of(Arguments.of(seed, "hashmap"), Arguments.of(seed, "rocksdb")));
    }

    /**
     * The two steps on the heap backend; DeviceSync on both (on RocksDB every change must be
     * written back to its value: the heap backend would keep a change made to the object read).
     */
    @ParameterizedTest(name = "seed {0}, DeviceSync on {1}")
    @MethodSource("seeds")
    void theFusedStepDoesWhatTheTwoStepsDid(long seed, String backend) throws Exception {
        Scenario sc = Scenario.of(seed);
        Run twoSteps = new TwoSteps(sc.truth).run(sc);
        Run fused = new Fused(sc.truth, backend).run(sc);
        assertEquals(twoSteps.published, fused.published, "published, by device (seed " + seed + ")");
        assertEquals(twoSteps.alerts, fused.alerts, "alerts, by device (seed " + seed + ")");
        assertEquals(twoSteps.audits, fused.audits, "audit outcomes, by device (seed " + seed + ")");
        assertEquals(twoSteps.lookups, fused.lookups, "lookups, by device (seed " + seed + ")");
        SEEN.addAll(fused.seen);
        // Every device ends at the database's version: the repairs and the audits reached it.
        for (var e : sc.last.entrySet()) {
            List<String> mine = fused.published.get(e.getKey());
            assertTrue(
                    mine != null && mine.get(mine.size() - 1).startsWith(e.getValue() + " "),
                    e.getKey() + " ends at " + e.getValue() + ": " + mine);
        }
    }

    /** One scenario: the increments as the topic delivers them, watermarks among them, and the database. */
    static final class Scenario {
        final List<Object> steps = new ArrayList<>(); // Increment or Watermark
        final InMemorySourceOfTruth truth = new InMemorySourceOfTruth();
        final Map<String, String> last = new TreeMap<>();
        final long seed;

        Scenario(long seed) {
            this.seed = seed;
        }

        static Scenario of(long seed) {
            Random rnd = new Random(seed);
            Scenario sc = new Scenario(seed);
            List<Increment> produced = new ArrayList<>();
            for (int d = 0; d < 4; d++) {
                String id = "d" + d;
                long epoch = 0;
                long seq = 0;
                long ts = T0 + rnd.nextInt(1_000);
                int n = 15 + rnd.nextInt(15);
                for (int k = 0; k < n; k++) {
                    if (k > 5 && rnd.nextInt(20) == 0) { // a reboot: a new epoch, from 1
                        epoch++;
                        seq = 0;
                    }
                    seq++;
                    ts += 200 + rnd.nextInt(800);
                    String data = "{\"f" + (k % 5) + "\":" + k + "}";
                    Increment i = new Increment(id, epoch, seq, ts, data.getBytes(StandardCharsets.UTF_8));
                    sc.truth.log(i);
                    produced.add(i);
                    sc.last.put(id, epoch + "/" + seq);
                }
            }
            // The database's snapshot of each device at its last version (what a new epoch, or a
            // log that does not reach, is repaired from): the fields of its last epoch's increments.
            Map<String, Increment> lastOf = new TreeMap<>();
            for (Increment i : produced) lastOf.put(i.deviceId, i);
            for (Increment i : lastOf.values()) {
                sc.truth.snapshot(i.deviceId, i.epoch, i.seq, merged(produced, i.deviceId, i.epoch));
            }
            // Interleave by time, then lose, duplicate and reorder some.
            produced.sort((a, b) -> Long.compare(a.ts, b.ts));
            List<Increment> delivered = new ArrayList<>();
            for (int k = 0; k < produced.size(); k++) {
                Increment i = produced.get(k);
                boolean lastOfDevice = lastOf.get(i.deviceId) == i;
                int r = rnd.nextInt(100);
                if (r < 6 && !lastOfDevice) continue; // lost: the log has it
                if (r < 8 && lastOfDevice) continue; // the tail lost: only an audit finds it
                delivered.add(i);
                if (r >= 92) delivered.add(i); // a duplicate
            }
            for (int k = 0; k + 1 < delivered.size(); k++) {
                int r = rnd.nextInt(100);
                if (r < 10) swap(delivered, k, k + 1); // within the grace
                else if (r < 13 && k + 6 < delivered.size()) swap(delivered, k, k + 6); // about one second
                else if (r < 15 && k + 40 < delivered.size()) delivered.add(k + 40, delivered.remove(k)); // past it
            }
            long maxTs = Long.MIN_VALUE;
            int sinceWatermark = 0;
            for (Increment i : delivered) {
                sc.steps.add(i);
                maxTs = Math.max(maxTs, i.ts);
                if (++sinceWatermark == 4) {
                    sc.steps.add(new Watermark(maxTs - 1_000));
                    sinceWatermark = 0;
                }
            }
            // Event time goes on past the grace, then past two audit intervals: repairs, then audits.
            sc.steps.add(new Watermark(maxTs + GRACE.toMillis() + 1));
            for (int k = 1; k <= 10; k++) sc.steps.add(new Watermark(maxTs + 2L * k * AUDIT.toMillis() + 1));
            // Silent for twenty audit intervals (their audits done, none armed), two devices come
            // back where they left off, one of them with its first increment back lost.
            long back = maxTs + 20 * AUDIT.toMillis() + 1_000;
            for (String id : List.of("d0", "d2")) {
                Increment was = lastOf.get(id);
                long ts = back + rnd.nextInt(1_000);
                for (long seq = was.seq + 1; seq <= was.seq + 5; seq++) {
                    ts += 200 + rnd.nextInt(800);
                    String data = "{\"f" + (seq % 5) + "\":" + (100 + seq) + "}";
                    Increment i = new Increment(id, was.epoch, seq, ts, data.getBytes(StandardCharsets.UTF_8));
                    sc.truth.log(i);
                    if (seq > was.seq + 1 || id.equals("d2")) sc.steps.add(i);
                    sc.last.put(id, was.epoch + "/" + seq);
                    maxTs = Math.max(maxTs, ts);
                }
            }
            for (int k = 1; k <= 4; k++) sc.steps.add(new Watermark(maxTs + 2L * k * AUDIT.toMillis() + 1));
            return sc;
        }

        private static void swap(List<Increment> l, int a, int b) {
            Increment t = l.get(a);
            l.set(a, l.get(b));
            l.set(b, t);
        }

        /** The document of the device's epoch after all its increments (a merge of flat objects). */
        private static byte[] merged(List<Increment> all, String id, long epoch) {
            Map<String, String> fields = new TreeMap<>();
            for (Increment i : all) {
                if (!i.deviceId.equals(id) || i.epoch != epoch) continue;
                String s = new String(i.data, StandardCharsets.UTF_8);
                String body = s.substring(1, s.length() - 1);
                int colon = body.indexOf(':');
                fields.put(body.substring(0, colon), body.substring(colon + 1));
            }
            StringBuilder b = new StringBuilder("{");
            for (var e : fields.entrySet()) {
                if (b.length() > 1) b.append(',');
                b.append(e.getKey()).append(':').append(e.getValue());
            }
            return b.append('}').toString().getBytes(StandardCharsets.UTF_8);
        }
    }

    /** What one run did, by device, in order. */
    static final class Run {
        final long seed;
        final Map<String, Integer> lookupsOf = new TreeMap<>();
        /** What happened at all (for the scenarios' coverage, not compared). */
        final java.util.Set<String> seen = new java.util.TreeSet<>();

        final Map<String, List<String>> published = new TreeMap<>();
        final Map<String, List<String>> alerts = new TreeMap<>();
        final Map<String, List<String>> audits = new TreeMap<>();
        final Map<String, List<String>> lookups = new TreeMap<>();

        Run(long seed) {
            this.seed = seed;
        }

        void published(DeviceState s) {
            published
                    .computeIfAbsent(s.deviceId, k -> new ArrayList<>())
                    .add(s.epoch + "/" + s.seq + " " + TestData.doc(s));
        }

        void alert(String device, String type) {
            seen.add(type);
            alerts.computeIfAbsent(device == null ? "-" : device, k -> new ArrayList<>())
                    .add(type);
        }

        void audit(AuditRecord a) {
            seen.add(String.valueOf(a.outcome));
            audits.computeIfAbsent(a.deviceId, k -> new ArrayList<>())
                    .add(a.outcome + " published " + version(a.published) + " db " + version(a.db));
        }

        private static String version(io.devicesync.model.Version v) {
            return v == null ? "-" : v.epoch + "/" + v.seq;
        }

        void lookup(LookupRequest r) {
            seen.add(r.kind.name());
            lookups.computeIfAbsent(r.deviceId, k -> new ArrayList<>())
                    .add(r.kind + " " + r.epoch + "/" + r.fromSeq + ".." + r.toSeq + (r.repair ? " repair" : "")
                            + (r.quiet ? " quiet" : "") + (r.recheck ? " recheck" : ""));
        }
    }

    private static <T> void drain(Queue<StreamRecord<T>> q, Consumer<StreamRecord<T>> to) {
        if (q == null) return;
        StreamRecord<T> r;
        while ((r = q.poll()) != null) to.accept(r);
    }

    @SuppressWarnings("unchecked")
    private static <T> void drainOutput(Queue<Object> q, Consumer<T> to) {
        Object o;
        while ((o = q.poll()) != null) if (o instanceof StreamRecord) to.accept(((StreamRecord<T>) o).getValue());
    }

    private static void alerts(Queue<StreamRecord<PolicyInput>> q, Run run) {
        drain(q, r -> {
            if (r.getValue().alert != null)
                run.alert(r.getValue().alert.deviceId, r.getValue().alert.type.name());
        });
    }

    /**
     * The lookup's answer; one in five fails (the database down: FAILED, its retries spent) or is
     * refused (UNAVAILABLE: shed, the breaker open). Drawn from the seed, the device and the
     * device's count of lookups so far: the same lookups fail in both runs while they agree, in
     * whatever order the devices' lookups interleave.
     */
    private static LookupResult answer(LookupRequest r, SourceOfTruth db, Run run) {
        int n = run.lookupsOf.merge(r.deviceId, 1, Integer::sum);
        int f = new Random(run.seed * 1_000_003L + r.deviceId.hashCode() * 7_919L + n).nextInt(10);
        if (f == 0) {
            run.seen.add("FAILED lookup");
            return LookupResult.failed(r, LookupResult.Outcome.FAILED, "database lookup failed: down");
        }
        if (f == 1) {
            run.seen.add("UNAVAILABLE lookup");
            return LookupResult.failed(r, LookupResult.Outcome.UNAVAILABLE, "database lookup shed");
        }
        return new LookupPlanner(MAX_LOG_FETCH)
                .lookup(r, db)
                .toCompletableFuture()
                .join();
    }

    /** The earlier graph: SequenceGuard → StateReconciler, the lookups between them, the audits read back. */
    static final class TwoSteps {
        final SourceOfTruth db;

        TwoSteps(SourceOfTruth db) {
            this.db = db;
        }

        Run run(Scenario sc) throws Exception {
            Run run = new Run(sc.seed);
            try (KeyedTwoInputStreamOperatorTestHarness<String, Increment, AuditRecord, Increment> g =
                            ProcessFunctionTestHarnesses.forKeyedCoProcessFunction(
                                    new SequenceGuard(GRACE, MAX_LOG_FETCH, AUDIT, IDLE),
                                    i -> i.deviceId,
                                    a -> a.deviceId,
                                    Types.STRING);
                    KeyedTwoInputStreamOperatorTestHarness<String, Increment, LookupResult, DeviceState> r =
                            ProcessFunctionTestHarnesses.forKeyedCoProcessFunction(
                                    new StateReconciler(MAX_HELD, IDLE, TestData.MAX_DOC),
                                    i -> i.deviceId,
                                    l -> l.request.deviceId,
                                    Types.STRING)) {
                for (Object step : sc.steps) {
                    if (step instanceof Increment i) g.processElement1(i, i.ts);
                    else {
                        g.processBothWatermarks((Watermark) step);
                        r.processBothWatermarks((Watermark) step);
                    }
                    pump(g, r, run);
                }
            }
            return run;
        }

        private void pump(
                KeyedTwoInputStreamOperatorTestHarness<String, Increment, AuditRecord, Increment> g,
                KeyedTwoInputStreamOperatorTestHarness<String, Increment, LookupResult, DeviceState> r,
                Run run)
                throws Exception {
            boolean moved = true;
            while (moved) {
                moved = false;
                List<Increment> forwarded = new ArrayList<>();
                FusedSyncEquivalenceTest.<Increment>drainOutput(g.getOutput(), forwarded::add);
                for (Increment i : forwarded) {
                    r.processElement1(i, i.ts);
                    moved = true;
                }
                List<StreamRecord<LookupRequest>> lookups = new ArrayList<>();
                drain(g.getSideOutput(Tags.LOOKUPS), lookups::add);
                for (StreamRecord<LookupRequest> q : lookups) {
                    run.lookup(q.getValue());
                    r.processElement2(new StreamRecord<>(answer(q.getValue(), db, run), q.getTimestamp()));
                    moved = true;
                }
                List<StreamRecord<AuditRecord>> audits = new ArrayList<>();
                drain(r.getSideOutput(Tags.AUDITS), audits::add);
                for (StreamRecord<AuditRecord> a : audits) {
                    run.audit(a.getValue());
                    if (a.getValue().outcome == AuditRecord.Outcome.VERIFIED) continue;
                    g.processElement2(a.getValue(), a.getValue().ts);
                    moved = true;
                }
                drainOutput(r.getOutput(), (DeviceState s) -> run.published(s));
                drain(
                        g.getSideOutput(Tags.ALERTS),
                        a -> run.alert(a.getValue().deviceId, a.getValue().type.name()));
                alerts(r.getSideOutput(AlertRouting.RECONCILER), run);
            }
        }
    }

    /** This build's DeviceSync: one keyed step, its lookups answered into it, its audits read back. */
    static final class Fused {
        final SourceOfTruth db;
        final String backend;

        Fused(SourceOfTruth db, String backend) {
            this.db = db;
            this.backend = backend;
        }

        Run run(Scenario sc) throws Exception {
            Run run = new Run(sc.seed);
            FusedSync sync = new FusedSync(
                    GRACE,
                    MAX_LOG_FETCH,
                    AUDIT,
                    IDLE,
                    Duration.ofMillis(Long.MAX_VALUE),
                    false,
                    MAX_HELD,
                    TestData.MAX_DOC,
                    Duration.ZERO);
            try (KeyedTwoInputStreamOperatorTestHarness<String, Increment, SyncFeedback, DeviceState> f =
                    new KeyedTwoInputStreamOperatorTestHarness<>(
                            new KeyedCoProcessOperator<>(sync),
                            (KeySelector<Increment, String>) i -> i.deviceId,
                            (KeySelector<SyncFeedback, String>) SyncFeedback::deviceId,
                            Types.STRING)) {
                f.setStateBackend(TestData.backend(backend));
                f.open();
                for (Object step : sc.steps) {
                    if (step instanceof Increment i) f.processElement1(i, i.ts);
                    else f.processBothWatermarks((Watermark) step);
                    pump(f, run);
                }
            }
            return run;
        }

        private void pump(
                KeyedTwoInputStreamOperatorTestHarness<String, Increment, SyncFeedback, DeviceState> f, Run run)
                throws Exception {
            boolean moved = true;
            while (moved) {
                moved = false;
                List<StreamRecord<LookupRequest>> lookups = new ArrayList<>();
                drain(f.getSideOutput(Tags.LOOKUPS), lookups::add);
                for (StreamRecord<LookupRequest> q : lookups) {
                    run.lookup(q.getValue());
                    f.processElement2(
                            new StreamRecord<>(SyncFeedback.of(answer(q.getValue(), db, run)), q.getTimestamp()));
                    moved = true;
                }
                List<StreamRecord<AuditRecord>> audits = new ArrayList<>();
                drain(f.getSideOutput(Tags.AUDITS), audits::add);
                for (StreamRecord<AuditRecord> a : audits) {
                    run.audit(a.getValue());
                    if (a.getValue().outcome == AuditRecord.Outcome.VERIFIED) continue;
                    f.processElement2(SyncFeedback.of(a.getValue()), a.getValue().ts);
                    moved = true;
                }
                drainOutput(f.getOutput(), (DeviceState s) -> run.published(s));
                drain(
                        f.getSideOutput(Tags.ALERTS),
                        a -> run.alert(a.getValue().deviceId, a.getValue().type.name()));
                alerts(f.getSideOutput(AlertRouting.RECONCILER), run);
            }
        }
    }
}
