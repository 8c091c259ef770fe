package io.devicesync.operators.sync;

import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.net.NetClientOptions;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.ToLongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The source of truth in PostgreSQL, read with the non-blocking Vert.x client (one event loop; no
 * thread ever waits for the database). Servers of {@code --snapshot.url} are tried in order: the
 * next one when a query on the previous fails. Only reads: a request replayed after a restore is
 * harmless.
 *
 * <p><b>Batches.</b> Each read is per device, but reads of one kind (version, snapshot, log range)
 * are collected and sent as one query for many devices ({@code device_id = ANY($1)}, or the log
 * ranges as arrays joined by {@code unnest}): a batch goes when it holds {@code batchSize} reads or
 * {@code lingerMs} after its first read, whichever comes first. Each read's stage still completes
 * on its own, with exactly what the query for that device alone would have answered; a batch query
 * that fails fails every read in it (the caller retries each device as before). The batches live
 * on the client's event loop: a read from another thread (the task thread) only hands its request
 * to the event loop, never waits and never takes a lock.
 */
public final class PostgresSourceOfTruth implements SourceOfTruth {
    private static final Logger LOG = LoggerFactory.getLogger(PostgresSourceOfTruth.class);

    /** Reads per batch query by default. */
    public static final int DEFAULT_BATCH_SIZE = 128;
    /** How long a batch waits for more reads by default, after its first. */
    public static final long DEFAULT_BATCH_LINGER_MS = 2;
    /**
     * Log rows a batch asks for at most (the sum of its ranges): a few gaps of a thousand versions
     * fill a batch, so that no single answer grows to hundreds of thousands of rows.
     */
    static final long MAX_LOG_ROWS_PER_BATCH = 10_000;

    static final String VERSION_QUERY = "SELECT device_id, epoch, seq FROM device_snapshot WHERE device_id = ANY($1)";
    static final String SNAPSHOT_QUERY =
            "SELECT device_id, epoch, seq, state::text FROM device_snapshot WHERE device_id = ANY($1)";
    /** The bootstrap's chunk: a range scan of the primary key's index from the last id read. */
    static final String CHUNK_QUERY =
            "SELECT device_id, epoch, seq, state::text, (extract(epoch from updated_at) * 1000)::bigint"
                    + " FROM device_snapshot WHERE device_id > $1 ORDER BY device_id LIMIT $2";
    /** r.i numbers the ranges of the batch from 1; rows come per range, in seq order. */
    static final String LOG_QUERY = "SELECT r.i, d.seq, d.data::text, (extract(epoch from d.ts) * 1000)::bigint"
            + " FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS r(device_id, epoch, from_seq, to_seq, i)"
            + " JOIN device_increment d ON d.device_id = r.device_id AND d.epoch = r.epoch AND d.seq BETWEEN r.from_seq AND r.to_seq"
            + " ORDER BY r.i, d.seq";

    private final Vertx vertx;
    /** The event loop's context: the batches are touched only there. */
    private final Context context;

    private final List<Pool> pools = new ArrayList<>();
    private final int batchSize;
    private final long lingerMs;
    /** Queries sent (a batch is one; one more per server tried after a failure); read from any thread. */
    private final LongAdder queries = new LongAdder();
    /** The server that answered last. */
    private volatile int preferred;

    private final Batcher<String, Optional<Version>> versions;
    private final Batcher<String, Optional<Snapshot>> snapshots;
    private final Batcher<LogRange, List<Increment>> logs;

    /** Connects lazily: nothing is opened until the first query. The password is never logged. */
    public PostgresSourceOfTruth(
            List<String> urls,
            String user,
            String password,
            int poolSize,
            long connectTimeoutMs,
            int batchSize,
            long lingerMs) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be at least 1");
        if (lingerMs < 0) throw new IllegalArgumentException("batch linger must not be negative");
        this.batchSize = batchSize;
        this.lingerMs = lingerMs;
        vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1).setWorkerPoolSize(1));
        context = vertx.getOrCreateContext();
        for (String url : urls) {
            PgConnectOptions connect = PgConnectOptions.fromUri(
                    url.startsWith("postgresql://") || url.startsWith("postgres://") ? url : "postgresql://" + url);
            if (user != null) connect.setUser(user);
            if (password != null) connect.setPassword(password);
            connect.setCachePreparedStatements(true);
            PoolOptions poolOptions = new PoolOptions()
                    .setMaxSize(poolSize)
                    .setConnectionTimeout((int) connectTimeoutMs)
                    .setConnectionTimeoutUnit(TimeUnit.MILLISECONDS);
            pools.add(PgBuilder.pool()
                    .with(poolOptions)
                    .with(new NetClientOptions().setConnectTimeout((int) connectTimeoutMs))
                    .connectingTo(connect)
                    .using(vertx)
                    .build());
        }
        versions = new Batcher<>(
                VERSION_QUERY,
                PostgresSourceOfTruth::byDevice,
                PostgresSourceOfTruth::answerVersions,
                id -> 1,
                Long.MAX_VALUE);
        snapshots = new Batcher<>(
                SNAPSHOT_QUERY,
                PostgresSourceOfTruth::byDevice,
                PostgresSourceOfTruth::answerSnapshots,
                id -> 1,
                Long.MAX_VALUE);
        logs = new Batcher<>(
                LOG_QUERY,
                PostgresSourceOfTruth::byRange,
                PostgresSourceOfTruth::answerLogs,
                LogRange::rows,
                MAX_LOG_ROWS_PER_BATCH);
    }

    @Override
    public CompletionStage<Optional<Version>> version(String deviceId) {
        return versions.submit(deviceId);
    }

    @Override
    public CompletionStage<Optional<Snapshot>> snapshot(String deviceId) {
        return snapshots.submit(deviceId);
    }

    @Override
    public CompletionStage<List<Increment>> log(String deviceId, long epoch, long fromSeq, long toSeq) {
        return logs.submit(new LogRange(deviceId, epoch, fromSeq, toSeq));
    }

    /**
     * One query per chunk (not batched: the bootstrap asks for one chunk at a time), on the event
     * loop like every query. A row whose state does not decode comes with a null state.
     */
    @Override
    public CompletionStage<List<SnapshotRow>> snapshotsAfter(String after, int limit) {
        CompletableFuture<List<SnapshotRow>> answer = new CompletableFuture<>();
        context.runOnContext(v -> query(preferred, 0, CHUNK_QUERY, Tuple.of(after, limit))
                .onComplete(done -> {
                    if (done.failed()) {
                        answer.completeExceptionally(done.cause());
                        return;
                    }
                    List<SnapshotRow> rows = new ArrayList<>(done.result().size());
                    for (Row row : done.result()) {
                        byte[] state;
                        try {
                            state = normalize(row.getString(3));
                        } catch (RuntimeException e) {
                            state = null;
                        }
                        Long updatedAt = row.getLong(4);
                        rows.add(new SnapshotRow(
                                row.getString(0),
                                row.getLong(1),
                                row.getLong(2),
                                updatedAt == null ? 0L : updatedAt,
                                state));
                    }
                    answer.complete(rows);
                }));
        return answer;
    }

    @Override
    public long queriesIssued() {
        return queries.sum();
    }

    /** A read of the log: the rows of (deviceId, epoch) with fromSeq ≤ seq ≤ toSeq. */
    record LogRange(String deviceId, long epoch, long fromSeq, long toSeq) {
        /** How many rows it may return (at least 1, so that empty ranges count too; no overflow). */
        long rows() {
            return toSeq < fromSeq ? 1 : Math.max(1, Math.min(MAX_LOG_ROWS_PER_BATCH, toSeq - fromSeq + 1));
        }
    }

    /** A read waiting in a batch, and the stage its caller holds. */
    private record Pending<Q, A>(Q request, CompletableFuture<A> answer) {}

    private interface Args<Q> {
        Tuple of(List<Q> requests);
    }

    private interface Answer<Q, A> {
        /** Completes every read of the batch from the rows (a read whose rows do not decode fails alone). */
        void complete(List<Pending<Q, A>> batch, RowSet<Row> rows);
    }

    /**
     * The batch of one kind of read. Every field is touched on the event loop only ({@link
     * #submit} hands the read over with {@code runOnContext}).
     */
    private final class Batcher<Q, A> {
        private final String sql;
        private final Args<Q> args;
        private final Answer<Q, A> answer;
        private final ToLongFunction<Q> weight;
        private final long maxWeight;
        private List<Pending<Q, A>> pending = new ArrayList<>();
        private long pendingWeight;
        /** Counts the batches sent: a linger timer set for an earlier batch does not send the next one early. */
        private long generation;

        private boolean lingering;
        private long timer = -1;
        private boolean closed;

        /** {@code weight}: what a read adds to the batch; a batch also goes once its weight reaches {@code maxWeight}. */
        Batcher(String sql, Args<Q> args, Answer<Q, A> answer, ToLongFunction<Q> weight, long maxWeight) {
            this.sql = sql;
            this.args = args;
            this.answer = answer;
            this.weight = weight;
            this.maxWeight = maxWeight;
        }

        /** From any thread: never waits. */
        CompletionStage<A> submit(Q request) {
            CompletableFuture<A> answer = new CompletableFuture<>();
            Pending<Q, A> p = new Pending<>(request, answer);
            context.runOnContext(v -> add(p));
            return answer;
        }

        private void add(Pending<Q, A> p) {
            if (closed) {
                p.answer().completeExceptionally(new IllegalStateException("the database client is closed"));
                return;
            }
            pending.add(p);
            pendingWeight += weight.applyAsLong(p.request());
            if (pending.size() >= batchSize || pendingWeight >= maxWeight) {
                send();
            } else if (!lingering) {
                lingering = true;
                long g = generation;
                if (lingerMs == 0) {
                    // What else is already queued on the event loop joins this batch.
                    context.runOnContext(v -> sendIf(g));
                } else {
                    timer = vertx.setTimer(lingerMs, id -> sendIf(g));
                }
            }
        }

        private void sendIf(long g) {
            if (g == generation) send();
        }

        private void send() {
            generation++;
            lingering = false;
            if (timer >= 0) {
                vertx.cancelTimer(timer);
                timer = -1;
            }
            if (pending.isEmpty()) return;
            List<Pending<Q, A>> batch = pending;
            pending = new ArrayList<>();
            pendingWeight = 0;
            Future<RowSet<Row>> result;
            try {
                List<Q> requests = new ArrayList<>(batch.size());
                for (Pending<Q, A> p : batch) requests.add(p.request());
                result = query(preferred, 0, sql, args.of(requests));
            } catch (RuntimeException e) {
                result = Future.failedFuture(e);
            }
            result.onComplete(done -> {
                if (done.failed()) {
                    for (Pending<Q, A> p : batch) p.answer().completeExceptionally(done.cause());
                    return;
                }
                try {
                    answer.complete(batch, done.result());
                } catch (RuntimeException e) {
                    for (Pending<Q, A> p : batch) p.answer().completeExceptionally(e);
                }
            });
        }

        /** Fails the reads still waiting; later ones fail at once. */
        void close() {
            closed = true;
            generation++;
            if (timer >= 0) vertx.cancelTimer(timer);
            for (Pending<Q, A> p : pending)
                p.answer().completeExceptionally(new IllegalStateException("the database client is closed"));
            pending = new ArrayList<>();
        }
    }

    /** The distinct devices of a batch, as the text[] of {@code device_id = ANY($1)}. */
    private static Tuple byDevice(List<String> requests) {
        Set<String> ids = new LinkedHashSet<>(requests);
        return Tuple.tuple().addArrayOfString(ids.toArray(new String[0]));
    }

    private static Map<String, Row> rowsByDevice(RowSet<Row> rows) {
        Map<String, Row> byId = new HashMap<>();
        for (Row row : rows) byId.put(row.getString(0), row);
        return byId;
    }

    private static void answerVersions(List<Pending<String, Optional<Version>>> batch, RowSet<Row> rows) {
        Map<String, Row> byId = rowsByDevice(rows);
        for (Pending<String, Optional<Version>> p : batch) {
            Row row = byId.get(p.request());
            p.answer()
                    .complete(
                            row == null ? Optional.empty() : Optional.of(new Version(row.getLong(1), row.getLong(2))));
        }
    }

    private static void answerSnapshots(List<Pending<String, Optional<Snapshot>>> batch, RowSet<Row> rows) {
        Map<String, Row> byId = rowsByDevice(rows);
        for (Pending<String, Optional<Snapshot>> p : batch) {
            Row row = byId.get(p.request());
            try {
                // Decoded per read: each has its own bytes, and a row that is not JSON fails its device only.
                p.answer()
                        .complete(
                                row == null
                                        ? Optional.empty()
                                        : Optional.of(new Snapshot(
                                                row.getLong(1), row.getLong(2), normalize(row.getString(3)))));
            } catch (RuntimeException e) {
                p.answer().completeExceptionally(e);
            }
        }
    }

    /** The ranges of a batch as four arrays, unnested together in the query (their order numbers them). */
    private static Tuple byRange(List<LogRange> batch) {
        int n = batch.size();
        String[] ids = new String[n];
        Long[] epochs = new Long[n];
        Long[] from = new Long[n];
        Long[] to = new Long[n];
        for (int i = 0; i < n; i++) {
            LogRange r = batch.get(i);
            ids[i] = r.deviceId();
            epochs[i] = r.epoch();
            from[i] = r.fromSeq();
            to[i] = r.toSeq();
        }
        return Tuple.tuple()
                .addArrayOfString(ids)
                .addArrayOfLong(epochs)
                .addArrayOfLong(from)
                .addArrayOfLong(to);
    }

    private static void answerLogs(List<Pending<LogRange, List<Increment>>> batch, RowSet<Row> rows) {
        int n = batch.size();
        List<List<Increment>> lists = new ArrayList<>(n);
        RuntimeException[] errors = new RuntimeException[n];
        for (int i = 0; i < n; i++) lists.add(new ArrayList<>());
        for (Row row : rows) {
            int i = (int) (row.getLong(0) - 1);
            if (errors[i] != null) continue;
            LogRange r = batch.get(i).request();
            try {
                lists.get(i)
                        .add(new Increment(
                                r.deviceId(), r.epoch(), row.getLong(1), row.getLong(3), normalize(row.getString(2))));
            } catch (RuntimeException e) {
                errors[i] = e;
            }
        }
        for (int i = 0; i < n; i++) {
            if (errors[i] != null) batch.get(i).answer().completeExceptionally(errors[i]);
            else batch.get(i).answer().complete(lists.get(i));
        }
    }

    /**
     * Runs a query on the server that answered last, falling over to the next ones in the order of
     * {@code --snapshot.url} when it fails. {@code first} is the server the batch started on, read
     * once: another batch that meanwhile fell over moves {@link #preferred}, and counting the
     * attempts from the moved one would try the failed server again and skip a live one.
     */
    private Future<RowSet<Row>> query(int first, int attempt, String sql, Tuple args) {
        int server = (first + attempt) % pools.size();
        queries.increment();
        return pools.get(server)
                .preparedQuery(sql)
                .execute(args)
                .onSuccess(rows -> preferred = server)
                .recover(e ->
                        attempt + 1 < pools.size() ? query(first, attempt + 1, sql, args) : Future.failedFuture(e));
    }

    /**
     * jsonb text as compact JSON bytes, the job's form of a document: numbers and strings as the
     * database wrote them, like documents built from increments. Parsed first: a row that is not
     * JSON fails here, as before.
     */
    static byte[] normalize(String json) {
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        Json.parse(bytes);
        return Json.compact(bytes);
    }

    @Override
    public void close() throws Exception {
        try {
            // The reads still in a batch fail (nothing waits for them any more), before the pools go.
            CompletableFuture<Void> drained = new CompletableFuture<>();
            context.runOnContext(v -> {
                versions.close();
                snapshots.close();
                logs.close();
                drained.complete(null);
            });
            drained.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("Failing the reads still batched failed: {}", e.toString());
        }
        try {
            for (Pool p : pools) {
                try {
                    p.close().await(10, TimeUnit.SECONDS);
                } catch (Exception e) {
                    LOG.warn("Closing a database pool failed: {}", e.toString());
                }
            }
        } finally {
            vertx.close().await(10, TimeUnit.SECONDS);
        }
    }
}
