package io.devicesync.operators;

import io.devicesync.model.Increment;
import io.devicesync.model.Json;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.model.Versions;
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
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.functions.async.RichAsyncFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers lookup requests from PostgreSQL with the non-blocking Vert.x client (Flink Async I/O; the
 * task thread never waits for the database).
 *
 * <ul>
 *   <li>a gap of at most {@code maxLogFetch} versions whose rows are all in {@code device_increment}:
 *       the log ({@code LOG});
 *   <li>anything else: the snapshot ({@code SNAPSHOT}), followed by the log rows that continue it up
 *       to the request's range when the snapshot lags and the log has them;
 *   <li>no snapshot row: {@code NOT_FOUND}; an error: a {@code FAILED} result, which the retry
 *       strategy ({@link #isRetryable}) retries with backoff; a timeout: {@code FAILED}. Never an
 *       exception: the job never fails on the database.
 * </ul>
 *
 * Queries only read, so a request replayed after a restore is harmless. Servers of
 * {@code --snapshot.url} are tried in order: the next one when a query on the previous fails.
 */
public class SnapshotLookup extends RichAsyncFunction<LookupRequest, LookupResult> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(SnapshotLookup.class);

    static final String LOG_QUERY = "SELECT seq, data::text, (extract(epoch from ts) * 1000)::bigint FROM device_increment "
            + "WHERE device_id = $1 AND epoch = $2 AND seq BETWEEN $3 AND $4 ORDER BY seq";
    static final String SNAPSHOT_QUERY = "SELECT epoch, seq, state::text FROM device_snapshot WHERE device_id = $1";
    static final String VERSION_QUERY = "SELECT epoch, seq FROM device_snapshot WHERE device_id = $1";

    /** How to reach the database; the password never appears in {@link #toString()}. */
    public static final class Config implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        final List<String> urls;
        final String user;
        final String password;
        final int poolSize;
        final long maxLogFetch;
        final long connectTimeoutMs;
        /** Lookups at the database at once; more are shed (answered UNAVAILABLE, retried by the audit). */
        final int maxInFlight;
        /** Failures in a row that open the circuit breaker. */
        final int breakerFailures;
        /** How long the breaker stays open before a probe (doubling while probes fail, at most 8x). */
        final long breakerOpenMs;

        public Config(List<String> urls, String user, String password, int poolSize, long maxLogFetch, long connectTimeoutMs,
                int maxInFlight, int breakerFailures, long breakerOpenMs) {
            this.urls = List.copyOf(urls);
            this.user = user;
            this.password = password;
            this.poolSize = poolSize;
            this.maxLogFetch = maxLogFetch;
            this.connectTimeoutMs = connectTimeoutMs;
            this.maxInFlight = maxInFlight;
            this.breakerFailures = breakerFailures;
            this.breakerOpenMs = breakerOpenMs;
        }

        @Override
        public String toString() {
            return "SnapshotLookup.Config{urls=" + urls + ", user=" + user + ", password=***, poolSize=" + poolSize
                    + ", maxInFlight=" + maxInFlight + ", breakerFailures=" + breakerFailures + ", breakerOpenMs="
                    + breakerOpenMs + "}";
        }
    }

    private final Config config;

    private transient Vertx vertx;
    private transient List<Pool> pools;
    /** The server that answered last (callbacks run on the single Vert.x event loop). */
    private transient volatile int preferred;
    /* Counters are thread-safe: results complete on the Vert.x event loop, not the task thread. */
    private transient Counter queries;
    private transient Counter fromLog;
    private transient Counter fromSnapshot;
    private transient Counter failed;
    private transient Counter notFound;
    private transient Counter audits;
    private transient Counter shed;
    private transient Counter rejectedByBreaker;
    /** Lookups at the database now (incremented on the task thread, decremented on the event loop). */
    private transient AtomicInteger inFlight;
    private transient CircuitBreaker breaker;
    private transient RateLimitedLog failureLog;

    public SnapshotLookup(Config config) {
        this.config = config;
    }

    @Override
    public void open(OpenContext ctx) {
        vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1).setWorkerPoolSize(1));
        pools = new ArrayList<>();
        for (String url : config.urls) {
            PgConnectOptions connect = PgConnectOptions.fromUri(url.startsWith("postgresql://") || url.startsWith("postgres://")
                    ? url : "postgresql://" + url);
            if (config.user != null) connect.setUser(config.user);
            if (config.password != null) connect.setPassword(config.password);
            connect.setCachePreparedStatements(true);
            PoolOptions poolOptions = new PoolOptions().setMaxSize(config.poolSize)
                    .setConnectionTimeout((int) config.connectTimeoutMs).setConnectionTimeoutUnit(TimeUnit.MILLISECONDS);
            pools.add(PgBuilder.pool().with(poolOptions)
                    .with(new NetClientOptions().setConnectTimeout((int) config.connectTimeoutMs))
                    .connectingTo(connect).using(vertx).build());
        }
        inFlight = new AtomicInteger();
        breaker = new CircuitBreaker(config.breakerFailures, config.breakerOpenMs, config.breakerOpenMs * 8);
        failureLog = new RateLimitedLog(LOG, 10_000);
        var metrics = getRuntimeContext().getMetricGroup();
        queries = metrics.counter("lookupsIssued", new ThreadSafeCounter());
        fromLog = metrics.counter("lookupsFromLog", new ThreadSafeCounter());
        fromSnapshot = metrics.counter("lookupsFromSnapshot", new ThreadSafeCounter());
        failed = metrics.counter("lookupAttemptsFailed", new ThreadSafeCounter());
        notFound = metrics.counter("lookupsNotFound", new ThreadSafeCounter());
        audits = metrics.counter("auditsVersionOnly", new ThreadSafeCounter());
        shed = metrics.counter("lookupsShed", new ThreadSafeCounter());
        rejectedByBreaker = metrics.counter("lookupsRejectedByBreaker", new ThreadSafeCounter());
        metrics.gauge("lookupsInFlight", inFlight::get);
        // 0 closed, 1 half-open, 2 open
        metrics.gauge("databaseBreakerState", () -> breaker.state() == CircuitBreaker.State.CLOSED ? 0
                : breaker.state() == CircuitBreaker.State.HALF_OPEN ? 1 : 2);
    }

    @Override
    public void close() throws Exception {
        try {
            if (pools != null) {
                for (Pool p : pools) {
                    try {
                        p.close().await(10, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        LOG.warn("Closing a database pool failed: {}", describe(e));
                    }
                }
            }
        } finally {
            if (vertx != null) vertx.close().await(10, TimeUnit.SECONDS);
        }
    }

    /**
     * Sends the lookup to the database, unless the database is known to be down (the breaker is
     * open) or already has {@code maxInFlight} lookups: then the answer is UNAVAILABLE at once, which
     * is not retried here (it would wait in Flink's async queue and backpressure the whole stream);
     * the device's next audit retries it.
     */
    @Override
    public void asyncInvoke(LookupRequest r, ResultFuture<LookupResult> out) {
        long now = System.currentTimeMillis();
        if (inFlight.get() >= config.maxInFlight) {
            shed.inc();
            out.complete(List.of(LookupResult.failed(r, LookupResult.UNAVAILABLE,
                    "database lookup shed: " + config.maxInFlight + " lookups already waiting for the database")));
            return;
        }
        if (!breaker.tryAcquire(now)) {
            rejectedByBreaker.inc();
            out.complete(List.of(LookupResult.failed(r, LookupResult.UNAVAILABLE,
                    "database unavailable: circuit breaker open after repeated failures")));
            return;
        }
        queries.inc();
        inFlight.incrementAndGet();
        // A deadline per attempt: a connection that hangs (half-open after a failover, a database
        // that stopped answering) must not hold the request; the breaker counts it as a failure.
        lookup(r).timeout(config.connectTimeoutMs, TimeUnit.MILLISECONDS).onComplete(res -> {
            inFlight.decrementAndGet();
            if (res.succeeded()) {
                logTransition(breaker.onSuccess());
                LookupResult result = res.result();
                switch (result.outcome) {
                    case LookupResult.LOG: fromLog.inc(); break;
                    case LookupResult.SNAPSHOT: fromSnapshot.inc(); break;
                    case LookupResult.VERSION: audits.inc(); break;
                    default: notFound.inc();
                }
                out.complete(List.of(result));
            } else {
                logTransition(breaker.onFailure(System.currentTimeMillis()));
                failed.inc();
                String cause = describe(res.cause());
                failureLog.warn(System.currentTimeMillis(), "Lookup for device " + r.deviceId + " failed: " + cause);
                out.complete(List.of(LookupResult.failed(r, LookupResult.FAILED, "database lookup failed: " + cause)));
            }
        });
    }

    private void logTransition(CircuitBreaker.Transition t) {
        if (t == null) return;
        switch (t) {
            case OPENED:
                LOG.warn("Database circuit breaker opened after {} failed lookups in a row: lookups fail fast for {} ms,"
                        + " devices are repaired by their audits", config.breakerFailures, breaker.openPeriodMs());
                break;
            case REOPENED:
                LOG.warn("Database probe failed: circuit breaker open again for {} ms", breaker.openPeriodMs());
                break;
            default:
                LOG.info("Database answered again: circuit breaker closed");
        }
    }

    /**
     * The whole lookup's deadline passed. Not FAILED (which the retry strategy would retry past the
     * deadline): TIMED_OUT goes downstream, and the device is retried by its next audit.
     */
    @Override
    public void timeout(LookupRequest r, ResultFuture<LookupResult> out) {
        failed.inc();
        out.complete(List.of(LookupResult.failed(r, LookupResult.TIMED_OUT, "database lookup timed out")));
    }

    /** The retry strategy retries results that say the database failed (not a missing row). */
    public static Predicate<Collection<LookupResult>> isRetryable() {
        return new RetryOnFailure();
    }

    private static final class RetryOnFailure implements Predicate<Collection<LookupResult>>, java.io.Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean test(Collection<LookupResult> results) {
            for (LookupResult r : results) if (LookupResult.FAILED.equals(r.outcome)) return true;
            return false;
        }
    }

    Future<LookupResult> lookup(LookupRequest r) {
        if (LookupRequest.AUDIT.equals(r.kind)) return audit(r);
        if (LookupRequest.GAP.equals(r.kind) && r.missing() <= config.maxLogFetch) {
            return query(0, LOG_QUERY, Tuple.of(r.deviceId, r.epoch, r.fromSeq, r.toSeq)).compose(rows -> {
                if (rows.size() == r.missing()) {
                    return Future.succeededFuture(LookupResult.log(r, increments(r.deviceId, r.epoch, rows)));
                }
                return snapshot(r);
            });
        }
        return snapshot(r);
    }

    /**
     * An audit reads the database's version (one primary-key lookup). Only when the database is
     * ahead of what the guard forwarded on a quiet audit (tail loss), or a repair is pending, does it
     * fetch the repair data: the log when it has every missing row and at most maxLogFetch of them,
     * else the snapshot.
     */
    private Future<LookupResult> audit(LookupRequest r) {
        return query(0, VERSION_QUERY, Tuple.of(r.deviceId)).compose(rows -> {
            if (rows.size() == 0) return notFound(r);
            Row row = rows.iterator().next();
            long dbEpoch = row.getLong(0);
            long dbSeq = row.getLong(1);
            Future<LookupResult> result;
            if (r.repair) {
                result = snapshot(r);
            } else if (Versions.compare(dbEpoch, dbSeq, r.epoch, r.toSeq) <= 0 || !r.quiet) {
                // Not ahead; or ahead while the device still sends (in flight, not tail loss).
                result = Future.succeededFuture(LookupResult.version(r, dbEpoch, dbSeq));
            } else if (dbEpoch == r.epoch && dbSeq - r.toSeq <= config.maxLogFetch) {
                long missing = dbSeq - r.toSeq;
                result = query(0, LOG_QUERY, Tuple.of(r.deviceId, r.epoch, r.toSeq + 1, dbSeq)).compose(logRows -> {
                    if (logRows.size() != missing) return snapshotOnRecheck(r, dbEpoch, dbSeq);
                    Increment[] tail = increments(r.deviceId, r.epoch, logRows);
                    // Lost if the first missing one is older than the audit: the stream would have
                    // delivered it before the watermark passed. A later one may be in flight.
                    return tail[0].ts <= r.ts
                            ? Future.succeededFuture(LookupResult.log(r, tail))
                            : Future.succeededFuture(LookupResult.version(r, dbEpoch, dbSeq));
                });
            } else {
                result = snapshotOnRecheck(r, dbEpoch, dbSeq);
            }
            return result.map(res -> {
                if (res.dbEpoch < 0) {
                    res.dbEpoch = dbEpoch;
                    res.dbSeq = dbSeq;
                }
                return res;
            });
        });
    }

    /**
     * Without the log's event times, lost and in flight look alike: the first quiet audit answers
     * with the version (IN_FLIGHT), and a re-check one interval later that still finds the
     * database ahead, with the device quiet all along, takes the snapshot.
     */
    private Future<LookupResult> snapshotOnRecheck(LookupRequest r, long dbEpoch, long dbSeq) {
        return r.recheck ? snapshot(r) : Future.succeededFuture(LookupResult.version(r, dbEpoch, dbSeq));
    }

    private static Future<LookupResult> notFound(LookupRequest r) {
        return Future.succeededFuture(LookupResult.failed(r, LookupResult.NOT_FOUND,
                "device " + r.deviceId + " has no row in device_snapshot"));
    }

    private Future<LookupResult> snapshot(LookupRequest r) {
        return query(0, SNAPSHOT_QUERY, Tuple.of(r.deviceId)).compose(rows -> {
            if (rows.size() == 0) return notFound(r);
            Row row = rows.iterator().next();
            long epoch = row.getLong(0);
            long seq = row.getLong(1);
            LookupResult result = LookupResult.snapshot(r, epoch, seq, normalize(row.getString(2)));
            result.dbEpoch = epoch;
            result.dbSeq = seq;
            // The snapshot lags the request: continue it from the log where the log has the rows
            // (in the request's epoch: from seq 1 when the snapshot has not reached that epoch yet).
            long from = epoch == r.epoch ? seq + 1 : epoch < r.epoch ? 1 : Long.MAX_VALUE;
            long tail = r.toSeq - from + 1;
            if (tail <= 0 || tail > config.maxLogFetch) {
                return Future.succeededFuture(result);
            }
            return query(0, LOG_QUERY, Tuple.of(r.deviceId, r.epoch, from, r.toSeq)).map(tailRows -> {
                result.increments = increments(r.deviceId, r.epoch, tailRows);
                return result;
            });
        });
    }

    /**
     * Runs a query on the server that answered last, falling over to the next ones in the order of
     * {@code --snapshot.url} when it fails (the first server is tried first until one fails).
     */
    private Future<RowSet<Row>> query(int attempt, String sql, Tuple args) {
        int server = (preferred + attempt) % pools.size();
        return pools.get(server).preparedQuery(sql).execute(args)
                .onSuccess(rows -> preferred = server)
                .recover(e -> attempt + 1 < pools.size() ? query(attempt + 1, sql, args) : Future.failedFuture(e));
    }

    private static Increment[] increments(String deviceId, long epoch, RowSet<Row> rows) {
        List<Increment> list = new ArrayList<>(rows.size());
        for (Row row : rows) {
            list.add(new Increment(deviceId, epoch, row.getLong(0), row.getLong(2), normalize(row.getString(1))));
        }
        return list.toArray(new Increment[0]);
    }

    /** jsonb text as compact JSON bytes, the job's form of a document. */
    private static byte[] normalize(String json) {
        return Json.bytes(Json.parse(json.getBytes(StandardCharsets.UTF_8)));
    }

    private static String describe(Throwable t) {
        String m = t.getMessage();
        return t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }
}
