package io.devicesync.operators;

import io.devicesync.model.Increment;
import io.devicesync.model.Json;
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
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The source of truth in PostgreSQL, read with the non-blocking Vert.x client (one event loop; no
 * thread ever waits for the database). Servers of {@code --snapshot.url} are tried in order: the
 * next one when a query on the previous fails. Only reads: a request replayed after a restore is
 * harmless.
 */
public final class PostgresSourceOfTruth implements SourceOfTruth {
    private static final Logger LOG = LoggerFactory.getLogger(PostgresSourceOfTruth.class);

    static final String LOG_QUERY = "SELECT seq, data::text, (extract(epoch from ts) * 1000)::bigint FROM device_increment "
            + "WHERE device_id = $1 AND epoch = $2 AND seq BETWEEN $3 AND $4 ORDER BY seq";
    static final String SNAPSHOT_QUERY = "SELECT epoch, seq, state::text FROM device_snapshot WHERE device_id = $1";
    static final String VERSION_QUERY = "SELECT epoch, seq FROM device_snapshot WHERE device_id = $1";

    private final Vertx vertx;
    private final List<Pool> pools = new ArrayList<>();
    /** The server that answered last. */
    private volatile int preferred;

    /** Connects lazily: nothing is opened until the first query. The password is never logged. */
    public PostgresSourceOfTruth(List<String> urls, String user, String password, int poolSize, long connectTimeoutMs) {
        vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1).setWorkerPoolSize(1));
        for (String url : urls) {
            PgConnectOptions connect = PgConnectOptions.fromUri(url.startsWith("postgresql://") || url.startsWith("postgres://")
                    ? url : "postgresql://" + url);
            if (user != null) connect.setUser(user);
            if (password != null) connect.setPassword(password);
            connect.setCachePreparedStatements(true);
            PoolOptions poolOptions = new PoolOptions().setMaxSize(poolSize)
                    .setConnectionTimeout((int) connectTimeoutMs).setConnectionTimeoutUnit(TimeUnit.MILLISECONDS);
            pools.add(PgBuilder.pool().with(poolOptions)
                    .with(new NetClientOptions().setConnectTimeout((int) connectTimeoutMs))
                    .connectingTo(connect).using(vertx).build());
        }
    }

    @Override
    public CompletionStage<Optional<Version>> version(String deviceId) {
        return query(0, VERSION_QUERY, Tuple.of(deviceId)).map(rows -> {
            if (rows.size() == 0) return Optional.<Version>empty();
            Row row = rows.iterator().next();
            return Optional.of(new Version(row.getLong(0), row.getLong(1)));
        }).toCompletionStage();
    }

    @Override
    public CompletionStage<Optional<Snapshot>> snapshot(String deviceId) {
        return query(0, SNAPSHOT_QUERY, Tuple.of(deviceId)).map(rows -> {
            if (rows.size() == 0) return Optional.<Snapshot>empty();
            Row row = rows.iterator().next();
            return Optional.of(new Snapshot(row.getLong(0), row.getLong(1), normalize(row.getString(2))));
        }).toCompletionStage();
    }

    @Override
    public CompletionStage<List<Increment>> log(String deviceId, long epoch, long fromSeq, long toSeq) {
        return query(0, LOG_QUERY, Tuple.of(deviceId, epoch, fromSeq, toSeq)).map(rows -> {
            List<Increment> list = new ArrayList<>(rows.size());
            for (Row row : rows) {
                list.add(new Increment(deviceId, epoch, row.getLong(0), row.getLong(2), normalize(row.getString(1))));
            }
            return list;
        }).toCompletionStage();
    }

    /**
     * Runs a query on the server that answered last, falling over to the next ones in the order of
     * {@code --snapshot.url} when it fails.
     */
    private Future<RowSet<Row>> query(int attempt, String sql, Tuple args) {
        int server = (preferred + attempt) % pools.size();
        return pools.get(server).preparedQuery(sql).execute(args)
                .onSuccess(rows -> preferred = server)
                .recover(e -> attempt + 1 < pools.size() ? query(attempt + 1, sql, args) : Future.failedFuture(e));
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
