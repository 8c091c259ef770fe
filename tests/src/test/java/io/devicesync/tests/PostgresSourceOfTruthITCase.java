package io.devicesync.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.devicesync.operators.sync.PostgresSourceOfTruth;
import io.devicesync.operators.sync.SourceOfTruth;
import io.devicesync.tests.infra.EmbeddedDatabase;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link PostgresSourceOfTruth} on a real PostgreSQL: reads of many devices at once are answered
 * by a few batch queries, each device with exactly what today's per-device query answers (the
 * reference below runs those queries one by one over JDBC); a lone read is answered without
 * waiting for company; a batch that fails fails each of its reads, which succeed when tried again;
 * several servers are tried in order.
 */
class PostgresSourceOfTruthITCase {
    /** A generous deadline for anything the database answers: these tests assert completion, not speed. */
    private static final long DEADLINE_S = 60;

    private static final int DEVICES = 200;

    @TempDir
    static Path tmp;

    static EmbeddedDatabase db;

    @BeforeAll
    static void startDatabase() throws Exception {
        db = EmbeddedDatabase.start(tmp.resolve("pg"));
        Random random = new Random(7);
        try (Connection c = db.dataSource().getConnection();
                PreparedStatement snap = c.prepareStatement(
                        "INSERT INTO device_snapshot (device_id, epoch, seq, state) VALUES (?, ?, ?, ?::jsonb)");
                PreparedStatement log = c.prepareStatement(
                        "INSERT INTO device_increment (device_id, epoch, seq, data, ts) VALUES (?, ?, ?, ?::jsonb, ?)")) {
            for (int d = 0; d < DEVICES; d++) {
                String id = device(d);
                if (d % 4 != 3) { // every fourth device has no snapshot row
                    snap.setString(1, id);
                    snap.setLong(2, d % 3 == 0 ? 1 : 0);
                    snap.setLong(3, 10 + d);
                    snap.setString(
                            4,
                            "{\"temp\": 21.50, \"n\": " + d + ", \"big\": 123456789012345678901,"
                                    + " \"name\": \"Zähler \\u00e9 " + d + "\", \"nested\": {\"a\": [1, 2.0, null]}}");
                    snap.addBatch();
                }
                // The log in a scrambled order, with holes, in two epochs.
                List<long[]> rows = new ArrayList<>();
                for (long seq = 1; seq <= 25; seq++) if ((seq + d) % 7 != 0) rows.add(new long[] {0, seq});
                for (long seq = 1; seq <= 6; seq++) rows.add(new long[] {1, seq});
                Collections.shuffle(rows, random);
                for (long[] r : rows) {
                    log.setString(1, id);
                    log.setLong(2, r[0]);
                    log.setLong(3, r[1]);
                    log.setString(4, "{\"seq\": " + r[1] + ", \"v\": " + (r[1] * 1.25) + ", \"s\": \"x " + d + "\"}");
                    log.setObject(
                            5,
                            OffsetDateTime.ofInstant(
                                    Instant.ofEpochMilli(1_763_800_000_123L + r[0] * 100_000 + r[1] * 1_001),
                                    ZoneOffset.UTC));
                    log.addBatch();
                }
            }
            snap.executeBatch();
            log.executeBatch();
        }
    }

    @AfterAll
    static void stopDatabase() throws Exception {
        if (db != null) db.close();
    }

    private static String device(int d) {
        return String.format("meter-%04d", d);
    }

    private static PostgresSourceOfTruth source(List<String> urls, int batchSize, long lingerMs) {
        return new PostgresSourceOfTruth(
                urls, EmbeddedDatabase.USER, EmbeddedDatabase.PASSWORD, 4, 5_000, batchSize, lingerMs);
    }

    /** One read of each kind, for the i-th of a set of requests: devices repeat, some have no row, ranges vary. */
    private record Reads(String device, long epoch, long from, long to) {
        static Reads of(int i) {
            // Devices up to DEVICES + 39: the last 40 are in neither table; most devices are read twice.
            String id = PostgresSourceOfTruthITCase.device(i % (DEVICES + 40));
            long epoch = i % 5 == 0 ? 1 : 0;
            long from = 1 + i % 9;
            long to = i % 11 == 0 ? from - 1 : from + i % 17; // some empty ranges
            return new Reads(id, epoch, from, to);
        }
    }

    @Test
    void concurrentReadsOfManyDevicesAreAnsweredByFewQueriesExactlyAsOneByOne() throws Exception {
        int n = 600;
        try (PostgresSourceOfTruth source = source(List.of(db.url()), 64, 20)) {
            List<CompletableFuture<Optional<SourceOfTruth.Version>>> versions = new ArrayList<>();
            List<CompletableFuture<Optional<SourceOfTruth.Snapshot>>> snapshots = new ArrayList<>();
            List<CompletableFuture<List<Increment>>> logs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                versions.add(null);
                snapshots.add(null);
                logs.add(null);
            }
            // From four threads at once, as from several callers (the task thread and the event loop).
            ExecutorService callers = Executors.newFixedThreadPool(4);
            try {
                List<Future<?>> submitted = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    int first = t;
                    submitted.add(callers.submit(() -> {
                        for (int i = first; i < n; i += 4) {
                            Reads r = Reads.of(i);
                            versions.set(i, source.version(r.device()).toCompletableFuture());
                            snapshots.set(i, source.snapshot(r.device()).toCompletableFuture());
                            logs.set(
                                    i,
                                    source.log(r.device(), r.epoch(), r.from(), r.to())
                                            .toCompletableFuture());
                        }
                    }));
                }
                for (Future<?> f : submitted) f.get(DEADLINE_S, TimeUnit.SECONDS);
            } finally {
                callers.shutdownNow();
            }
            int absent = 0;
            int logRows = 0;
            try (Reference reference = new Reference()) {
                for (int i = 0; i < n; i++) {
                    Reads r = Reads.of(i);
                    Optional<SourceOfTruth.Version> version = versions.get(i).get(DEADLINE_S, TimeUnit.SECONDS);
                    assertEquals(reference.version(r.device()), version, "version of " + r.device());
                    Optional<SourceOfTruth.Snapshot> snapshot = snapshots.get(i).get(DEADLINE_S, TimeUnit.SECONDS);
                    Optional<SourceOfTruth.Snapshot> expected = reference.snapshot(r.device());
                    assertEquals(expected.isPresent(), snapshot.isPresent(), "snapshot row of " + r.device());
                    if (expected.isPresent()) {
                        assertEquals(expected.get().epoch(), snapshot.get().epoch());
                        assertEquals(expected.get().seq(), snapshot.get().seq());
                        assertArrayEquals(expected.get().state(), snapshot.get().state(), "state of " + r.device());
                    } else {
                        absent++;
                    }
                    List<Increment> rows = logs.get(i).get(DEADLINE_S, TimeUnit.SECONDS);
                    assertEquals(reference.log(r.device(), r.epoch(), r.from(), r.to()), rows, "log of " + r);
                    for (int k = 1; k < rows.size(); k++)
                        assertTrue(rows.get(k - 1).seq < rows.get(k).seq, "seq order");
                    logRows += rows.size();
                }
            }
            assertTrue(
                    absent > 0 && logRows > 0,
                    "the reads cover absent devices and log rows: " + absent + ", " + logRows);
            long queries = source.queriesIssued();
            // 3 × 600 reads; batches of 64: about 30 queries, never one per read.
            assertTrue(queries >= 3 && queries <= 3 * n / 10, queries + " queries for " + 3 * n + " reads");
        }
    }

    @Test
    void devicesWithoutRowsGetEmptyAnswers() throws Exception {
        try (PostgresSourceOfTruth source = source(List.of(db.url()), 16, 5)) {
            List<CompletableFuture<Optional<SourceOfTruth.Version>>> versions = new ArrayList<>();
            List<CompletableFuture<Optional<SourceOfTruth.Snapshot>>> snapshots = new ArrayList<>();
            List<CompletableFuture<List<Increment>>> logs = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                String nobody = "nobody-" + i;
                versions.add(source.version(nobody).toCompletableFuture());
                snapshots.add(source.snapshot(nobody).toCompletableFuture());
                logs.add(source.log(nobody, 0, 1, 100).toCompletableFuture());
            }
            // A device with a snapshot row, in the same batches, still gets its row.
            CompletableFuture<Optional<SourceOfTruth.Version>> known =
                    source.version(device(1)).toCompletableFuture();
            // Rows the log does not have: another epoch, a range past the end.
            CompletableFuture<List<Increment>> otherEpoch =
                    source.log(device(1), 7, 1, 10).toCompletableFuture();
            CompletableFuture<List<Increment>> pastTheEnd =
                    source.log(device(1), 0, 26, 40).toCompletableFuture();
            for (int i = 0; i < 20; i++) {
                assertEquals(Optional.empty(), versions.get(i).get(DEADLINE_S, TimeUnit.SECONDS));
                assertEquals(Optional.empty(), snapshots.get(i).get(DEADLINE_S, TimeUnit.SECONDS));
                assertEquals(List.of(), logs.get(i).get(DEADLINE_S, TimeUnit.SECONDS));
            }
            assertEquals(Optional.of(new SourceOfTruth.Version(0, 11)), known.get(DEADLINE_S, TimeUnit.SECONDS));
            assertEquals(List.of(), otherEpoch.get(DEADLINE_S, TimeUnit.SECONDS));
            assertEquals(List.of(), pastTheEnd.get(DEADLINE_S, TimeUnit.SECONDS));
        }
    }

    @Test
    void aLoneReadIsSentWithoutWaitingForABatchToFill() throws Exception {
        for (long linger : new long[] {2, 0}) {
            try (PostgresSourceOfTruth source = source(List.of(db.url()), 128, linger);
                    Reference reference = new Reference()) {
                String id = device(5);
                // One read at a time, each waited for: none of them fills a batch of 128.
                assertEquals(
                        reference.version(id),
                        source.version(id).toCompletableFuture().get(DEADLINE_S, TimeUnit.SECONDS));
                assertTrue(source.snapshot(id)
                        .toCompletableFuture()
                        .get(DEADLINE_S, TimeUnit.SECONDS)
                        .isPresent());
                assertEquals(
                        reference.log(id, 0, 3, 9),
                        source.log(id, 0, 3, 9).toCompletableFuture().get(DEADLINE_S, TimeUnit.SECONDS));
                assertEquals(3, source.queriesIssued(), "one query per lone read, linger " + linger + " ms");
            }
        }
    }

    @Test
    void aFailedBatchFailsEachReadAndTheReadsSucceedWhenTriedAgain() throws Exception {
        int n = 50;
        try (PostgresSourceOfTruth source = source(List.of(db.url()), 64, 5)) {
            // Connected first: the failure is the database going away under an open pool.
            assertTrue(source.version(device(0))
                    .toCompletableFuture()
                    .get(DEADLINE_S, TimeUnit.SECONDS)
                    .isPresent());
            long before = source.queriesIssued();
            List<CompletableFuture<?>> reads = new ArrayList<>();
            db.stop();
            try {
                for (int i = 0; i < n; i++) {
                    Reads r = Reads.of(i);
                    reads.add(source.version(r.device()).toCompletableFuture());
                    reads.add(source.snapshot(r.device()).toCompletableFuture());
                    reads.add(
                            source.log(r.device(), r.epoch(), r.from(), r.to()).toCompletableFuture());
                }
                for (CompletableFuture<?> read : reads) {
                    ExecutionException e =
                            assertThrows(ExecutionException.class, () -> read.get(DEADLINE_S, TimeUnit.SECONDS));
                    assertFalse(
                            e.getCause() instanceof java.util.concurrent.TimeoutException,
                            "failed, not hung: " + e.getCause());
                }
                long failedQueries = source.queriesIssued() - before;
                assertTrue(
                        failedQueries >= 1 && failedQueries < reads.size(),
                        failedQueries + " failed queries for " + reads.size() + " reads: each batch failed as a whole");
            } finally {
                db.restart();
            }
            // Each device is tried again on its own, as the lookup's retries do, and answered.
            try (Reference reference = new Reference()) {
                for (int i = 0; i < n; i++) {
                    Reads r = Reads.of(i);
                    assertEquals(reference.version(r.device()), retried(() -> source.version(r.device())));
                    assertEquals(
                            reference.log(r.device(), r.epoch(), r.from(), r.to()),
                            retried(() -> source.log(r.device(), r.epoch(), r.from(), r.to())));
                }
            }
        }
    }

    @Test
    void serversAreTriedInOrderWithBatchesToo() throws Exception {
        int deadPort;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            deadPort = s.getLocalPort(); // nothing listens once it is closed
        }
        List<String> urls = List.of("postgresql://127.0.0.1:" + deadPort + "/postgres", db.url());
        try (PostgresSourceOfTruth source = source(urls, 32, 5);
                Reference reference = new Reference()) {
            List<CompletableFuture<Optional<SourceOfTruth.Version>>> versions = new ArrayList<>();
            for (int i = 0; i < 40; i++) versions.add(source.version(device(i)).toCompletableFuture());
            for (int i = 0; i < 40; i++) {
                assertEquals(reference.version(device(i)), versions.get(i).get(DEADLINE_S, TimeUnit.SECONDS));
            }
            assertTrue(
                    source.queriesIssued() < 40,
                    source.queriesIssued() + " queries (with the failed first server) for 40 reads");
        }
    }

    /** Tries a read again, with a short pause between tries, until it succeeds or the deadline passes. */
    private static <T> T retried(Supplier<CompletionStage<T>> read) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(DEADLINE_S);
        while (true) {
            try {
                return read.get().toCompletableFuture().get(DEADLINE_S, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (System.nanoTime() > deadline) throw e;
                CompletableFuture.runAsync(() -> {}, CompletableFuture.delayedExecutor(100, TimeUnit.MILLISECONDS))
                        .get(DEADLINE_S, TimeUnit.SECONDS);
            }
        }
    }

    /** Today's per-device queries, one by one over JDBC: what every batched answer must equal. */
    private static final class Reference implements AutoCloseable {
        private final Connection c;

        Reference() throws Exception {
            c = db.dataSource().getConnection();
        }

        Optional<SourceOfTruth.Version> version(String id) throws Exception {
            try (PreparedStatement st =
                    c.prepareStatement("SELECT epoch, seq FROM device_snapshot WHERE device_id = ?")) {
                st.setString(1, id);
                try (ResultSet rs = st.executeQuery()) {
                    return rs.next()
                            ? Optional.of(new SourceOfTruth.Version(rs.getLong(1), rs.getLong(2)))
                            : Optional.empty();
                }
            }
        }

        Optional<SourceOfTruth.Snapshot> snapshot(String id) throws Exception {
            try (PreparedStatement st =
                    c.prepareStatement("SELECT epoch, seq, state::text FROM device_snapshot WHERE device_id = ?")) {
                st.setString(1, id);
                try (ResultSet rs = st.executeQuery()) {
                    return rs.next()
                            ? Optional.of(
                                    new SourceOfTruth.Snapshot(rs.getLong(1), rs.getLong(2), compact(rs.getString(3))))
                            : Optional.empty();
                }
            }
        }

        List<Increment> log(String id, long epoch, long from, long to) throws Exception {
            try (PreparedStatement st = c.prepareStatement(
                    "SELECT seq, data::text, (extract(epoch from ts) * 1000)::bigint"
                            + " FROM device_increment WHERE device_id = ? AND epoch = ? AND seq BETWEEN ? AND ? ORDER BY seq")) {
                st.setString(1, id);
                st.setLong(2, epoch);
                st.setLong(3, from);
                st.setLong(4, to);
                List<Increment> rows = new ArrayList<>();
                try (ResultSet rs = st.executeQuery()) {
                    while (rs.next())
                        rows.add(new Increment(id, epoch, rs.getLong(1), rs.getLong(3), compact(rs.getString(2))));
                }
                return rows;
            }
        }

        private static byte[] compact(String json) {
            byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
            Json.parse(bytes);
            return Json.compact(bytes);
        }

        @Override
        public void close() throws Exception {
            c.close();
        }
    }
}
