package io.devicesync.operators.sync;

import io.devicesync.model.BreakerReport;
import io.devicesync.model.LookupRequest;
import io.devicesync.model.LookupResult;
import io.devicesync.operators.util.RateLimitedLog;
import io.devicesync.operators.util.ThreadSafeCounter;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.async.ResultFuture;
import org.apache.flink.streaming.api.functions.async.RichAsyncFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Flink Async I/O in front of the source of truth: what to read is the {@link LookupPlanner}'s,
 * how is the {@link SourceOfTruth}'s ({@link PostgresSourceOfTruth} in the job); this class guards
 * the stream against the database:
 *
 * <ul>
 *   <li>a circuit breaker: after repeated failures lookups fail at once (UNAVAILABLE) instead of
 *       waiting for a database that is down or hangs; it half-opens to probe;
 *   <li>at most {@code maxInFlight} lookups at the database; more are shed (UNAVAILABLE);
 *   <li>a deadline per attempt, so a hung connection cannot hold a lookup; a failed attempt is a
 *       {@code FAILED} result, which the retry strategy ({@link #isRetryable}) retries with backoff;
 *       the whole lookup's deadline gives {@code TIMED_OUT}. UNAVAILABLE and TIMED_OUT are not
 *       retried here: the device's next audit retries. Never an exception: the job never fails on
 *       the database.
 * </ul>
 * The breaker's changes reach the AlertPolicy (one DATABASE_UNAVAILABLE for the job, not one
 * RESYNC_FAILED per device): each opening or closing, and this subtask's first state after it
 * opens, rides as a {@link BreakerReport} on the next result that is not retried.
 * Each lookup's reads are per device; {@link PostgresSourceOfTruth} answers them in batches (one
 * query for many devices), so every guard here still applies to each device's lookup on its own.
 * Counters are thread-safe: results complete on the database client's thread.
 */
public class SnapshotLookup extends RichAsyncFunction<LookupRequest, LookupResult> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(SnapshotLookup.class);

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
        /** Reads of one kind answered by one database query at most. */
        final int batchSize;
        /** How long a batch waits for more reads after its first (0: only those already queued). */
        final long batchLingerMs;

        public Config(
                List<String> urls,
                String user,
                String password,
                int poolSize,
                long maxLogFetch,
                long connectTimeoutMs,
                int maxInFlight,
                int breakerFailures,
                long breakerOpenMs,
                int batchSize,
                long batchLingerMs) {
            this.urls = List.copyOf(urls);
            this.user = user;
            this.password = password;
            this.poolSize = poolSize;
            this.maxLogFetch = maxLogFetch;
            this.connectTimeoutMs = connectTimeoutMs;
            this.maxInFlight = maxInFlight;
            this.breakerFailures = breakerFailures;
            this.breakerOpenMs = breakerOpenMs;
            this.batchSize = batchSize;
            this.batchLingerMs = batchLingerMs;
        }

        @Override
        public String toString() {
            return "SnapshotLookup.Config{urls=" + urls + ", user=" + user + ", password=***, poolSize=" + poolSize
                    + ", maxInFlight=" + maxInFlight + ", breakerFailures=" + breakerFailures + ", breakerOpenMs="
                    + breakerOpenMs + ", batchSize=" + batchSize + ", batchLingerMs=" + batchLingerMs + "}";
        }
    }

    private final Config config;
    private final SourceOfTruth.Factory truth;

    private transient SourceOfTruth db;
    private transient LookupPlanner planner;
    /* Counters are thread-safe: results complete on the database client's thread, not the task thread. */
    private transient Counter queries;
    private transient Counter fromLog;
    private transient Counter fromSnapshot;
    private transient Counter failed;
    private transient Counter notFound;
    private transient Counter audits;
    private transient Counter shed;
    private transient Counter rejectedByBreaker;
    private transient Counter breakerOpened;
    /** Lookups at the database now (incremented on the task thread, decremented on the event loop). */
    private transient AtomicInteger inFlight;

    private transient CircuitBreaker breaker;
    /** Guards the breaker's transitions and their numbering together, so the last report is the breaker's state. */
    private transient Object breakerLock;

    private transient long breakerGeneration;
    private transient long incarnation;
    /** The checkpoint this incarnation started from (0: none), set by the operator before {@link #open}. */
    private transient long restoredFrom;

    private transient int subtask;
    private transient int parallelism;
    /** The breaker's latest change not yet carried by a result (the latest wins). */
    private transient AtomicReference<BreakerReport> pendingReport;
    /** The breaker's latest report, carried again now and then: a result that carried one may be dropped. */
    private transient volatile BreakerReport latestReport;

    private transient volatile long lastReportNanos;
    private transient RateLimitedLog failureLog;

    /** Lookups against PostgreSQL as {@code config} says. */
    public SnapshotLookup(Config config) {
        this(config, postgres(config));
    }

    /** Lookups against another source of truth (tests: the simulator's truth in memory). */
    public SnapshotLookup(Config config, SourceOfTruth.Factory truth) {
        this.config = config;
        this.truth = truth;
    }

    private static SourceOfTruth.Factory postgres(Config c) {
        return postgres(c, c.poolSize);
    }

    /** The job's PostgreSQL as {@code c} says, with {@code poolSize} connections per server (the bootstrap needs one). */
    public static SourceOfTruth.Factory postgres(Config c, int poolSize) {
        return () -> new PostgresSourceOfTruth(
                c.urls, c.user, c.password, poolSize, c.connectTimeoutMs, c.batchSize, c.batchLingerMs);
    }

    /**
     * The checkpoint the task restored from (0 for none): orders this incarnation's breaker reports
     * after those of incarnations that started from earlier checkpoints (see the AlertPolicy).
     */
    public void restoredFrom(long checkpointId) {
        this.restoredFrom = checkpointId;
    }

    @Override
    public void open(OpenContext ctx) {
        db = truth.open();
        planner = new LookupPlanner(config.maxLogFetch);
        inFlight = new AtomicInteger();
        breaker = new CircuitBreaker(config.breakerFailures, config.breakerOpenMs, config.breakerOpenMs * 8);
        breakerLock = new Object();
        incarnation = ThreadLocalRandom.current().nextLong();
        subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
        parallelism = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
        // A new incarnation's breaker is closed: said once, so that the AlertPolicy forgets what an
        // earlier one (before a restart) left open.
        latestReport = new BreakerReport(subtask, parallelism, incarnation, 0, false, restoredFrom);
        pendingReport = new AtomicReference<>(latestReport);
        failureLog = new RateLimitedLog(LOG, 10_000);
        var metrics = getRuntimeContext().getMetricGroup();
        queries = metrics.counter("lookupsIssued", new ThreadSafeCounter());
        // Queries the database received for those lookups (a batch answers many): read from the source's own count.
        metrics.counter("databaseQueries", new QueriesIssued(db));
        fromLog = metrics.counter("lookupsFromLog", new ThreadSafeCounter());
        fromSnapshot = metrics.counter("lookupsFromSnapshot", new ThreadSafeCounter());
        failed = metrics.counter("lookupAttemptsFailed", new ThreadSafeCounter());
        notFound = metrics.counter("lookupsNotFound", new ThreadSafeCounter());
        audits = metrics.counter("auditsVersionOnly", new ThreadSafeCounter());
        shed = metrics.counter("lookupsShed", new ThreadSafeCounter());
        rejectedByBreaker = metrics.counter("lookupsRejectedByBreaker", new ThreadSafeCounter());
        breakerOpened = metrics.counter("databaseBreakerOpened", new ThreadSafeCounter());
        metrics.gauge("lookupsInFlight", inFlight::get);
        // 0 closed, 1 half-open, 2 open
        metrics.gauge(
                "databaseBreakerState",
                () -> breaker.state() == CircuitBreaker.State.CLOSED
                        ? 0
                        : breaker.state() == CircuitBreaker.State.HALF_OPEN ? 1 : 2);
    }

    @Override
    public void close() throws Exception {
        if (db != null) db.close();
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
            LookupResult shedResult = LookupResult.failed(
                    r,
                    LookupResult.Outcome.UNAVAILABLE,
                    "database lookup shed: " + config.maxInFlight + " lookups already waiting for the database");
            synchronized (breakerLock) { // shed while the breaker is open (the hung lookups still count): its outage's
                if (breaker.state() != CircuitBreaker.State.CLOSED) shedResult.rejectedBy = latestReport;
            }
            out.complete(List.of(reported(shedResult)));
            return;
        }
        BreakerReport rejecting;
        synchronized (breakerLock) { // the report that opened the breaker, not one that closed it meanwhile
            rejecting = breaker.tryAcquire(now) ? null : latestReport;
        }
        if (rejecting != null) {
            rejectedByBreaker.inc();
            LookupResult refused = LookupResult.failed(
                    r,
                    LookupResult.Outcome.UNAVAILABLE,
                    "database unavailable: circuit breaker open after repeated failures");
            refused.rejectedBy = rejecting;
            out.complete(List.of(reported(refused)));
            return;
        }
        queries.inc();
        inFlight.incrementAndGet();
        // A deadline per attempt: a connection that hangs (half-open after a failover, a database
        // that stopped answering) must not hold the request; the breaker counts it as a failure.
        CompletableFuture<LookupResult> work = planner.lookup(r, db).toCompletableFuture();
        // In flight until the database is done with it, even after the attempt's deadline: the
        // bound is on what the database holds.
        work.whenComplete((result, error) -> inFlight.decrementAndGet());
        work.copy().orTimeout(config.connectTimeoutMs, TimeUnit.MILLISECONDS).whenComplete((result, error) -> {
            if (error == null) {
                breakerSucceeded();
                switch (result.outcome) {
                    case LOG:
                        fromLog.inc();
                        break;
                    case SNAPSHOT:
                        fromSnapshot.inc();
                        break;
                    case VERSION:
                        audits.inc();
                        break;
                    default:
                        notFound.inc();
                }
                out.complete(List.of(reported(result)));
            } else {
                BreakerReport outage = breakerFailed(System.currentTimeMillis());
                failed.inc();
                String cause = describe(
                        error instanceof CompletionException && error.getCause() != null ? error.getCause() : error);
                failureLog.warn(System.currentTimeMillis(), "Lookup for device " + r.deviceId + " failed: " + cause);
                LookupResult failure =
                        LookupResult.failed(r, LookupResult.Outcome.FAILED, "database lookup failed: " + cause);
                // Failed while the breaker is not closed (this failure opened it, or it failed after
                // the breaker opened): that outage's, as a refused lookup is. The policy folds it
                // into the outage whichever reconciler subtask it goes through, also when the
                // closing report, riding on another device's result, gets there first.
                failure.rejectedBy = outage;
                out.complete(List.of(failure));
            }
        });
    }

    private void breakerSucceeded() {
        CircuitBreaker.Transition t;
        synchronized (breakerLock) {
            t = breaker.onSuccess();
            if (t == CircuitBreaker.Transition.CLOSED) report(false);
        }
        logTransition(t);
    }

    /** Counts a failure; the breaker's open report if it is not closed now (the failure's outage), else null. */
    private BreakerReport breakerFailed(long now) {
        CircuitBreaker.Transition t;
        BreakerReport outage;
        synchronized (breakerLock) {
            t = breaker.onFailure(now);
            if (t == CircuitBreaker.Transition.OPENED) report(true);
            outage = breaker.state() != CircuitBreaker.State.CLOSED ? latestReport : null;
        }
        logTransition(t);
        return outage;
    }

    /** Under {@link #breakerLock}: the breaker opened or closed. */
    private void report(boolean open) {
        latestReport = new BreakerReport(subtask, parallelism, incarnation, ++breakerGeneration, open, restoredFrom);
        pendingReport.set(latestReport);
    }

    /**
     * {@code r} with the breaker's pending report, if any, else with its latest one at most once a
     * second. A FAILED result does not carry it: the retry strategy may drop it for another
     * attempt, and the report with it. Other results may be dropped too (one that completes after
     * Flink's timeout already answered the lookup), hence the repeat; the policy ignores a report
     * it has seen.
     */
    private LookupResult reported(LookupResult r) {
        if (r.outcome == LookupResult.Outcome.FAILED) return r;
        BreakerReport b = pendingReport.getAndSet(null);
        long now = System.nanoTime();
        if (b == null && now - lastReportNanos > REPORT_REPEAT_NANOS) b = latestReport;
        if (b != null) {
            r.breaker = b;
            lastReportNanos = now;
        }
        return r;
    }

    /** How often the breaker's latest report rides again on a result. */
    private static final long REPORT_REPEAT_NANOS = TimeUnit.SECONDS.toNanos(1);

    private void logTransition(CircuitBreaker.Transition t) {
        if (t == null) return;
        if (t != CircuitBreaker.Transition.CLOSED) breakerOpened.inc();
        switch (t) {
            case OPENED:
                LOG.warn(
                        "Database circuit breaker opened after {} failed lookups in a row: lookups fail fast for {} ms,"
                                + " devices are repaired by their audits",
                        config.breakerFailures,
                        breaker.openPeriodMs());
                break;
            case REOPENED:
                LOG.warn("Database probe failed: circuit breaker open again for {} ms", breaker.openPeriodMs());
                break;
            default:
                LOG.info("Database answered again: circuit breaker closed");
        }
    }

    /**
     * The answer to a lookup shed before it reached this class (the fused step's capacity): as this
     * class's own shed, UNAVAILABLE, with the open breaker's report while the breaker is not closed.
     */
    public LookupResult shed(LookupRequest r, String cause) {
        LookupResult shedResult = LookupResult.failed(r, LookupResult.Outcome.UNAVAILABLE, cause);
        synchronized (breakerLock) {
            if (breaker.state() != CircuitBreaker.State.CLOSED) shedResult.rejectedBy = latestReport;
        }
        return reported(shedResult);
    }

    /**
     * The whole lookup's deadline passed. Not FAILED (which the retry strategy would retry past the
     * deadline): TIMED_OUT goes downstream, and the device is retried by its next audit.
     */
    @Override
    public void timeout(LookupRequest r, ResultFuture<LookupResult> out) {
        failed.inc();
        LookupResult timedOut = LookupResult.failed(r, LookupResult.Outcome.TIMED_OUT, "database lookup timed out");
        synchronized (breakerLock) { // timed out while the breaker is not closed: that outage's, as a failure
            if (breaker.state() != CircuitBreaker.State.CLOSED) timedOut.rejectedBy = latestReport;
        }
        out.complete(List.of(reported(timedOut)));
    }

    /** The retry strategy retries results that say the database failed (not a missing row). */
    public static Predicate<Collection<LookupResult>> isRetryable() {
        return new RetryOnFailure();
    }

    private static final class RetryOnFailure implements Predicate<Collection<LookupResult>>, java.io.Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean test(Collection<LookupResult> results) {
            for (LookupResult r : results) if (r.outcome == LookupResult.Outcome.FAILED) return true;
            return false;
        }
    }

    /**
     * The source of truth's count of queries as a Flink counter, read-only: the source counts on its
     * own thread-safe adder, so no Flink metric is touched from the database client's thread.
     */
    private static final class QueriesIssued implements Counter {
        private final SourceOfTruth db;

        QueriesIssued(SourceOfTruth db) {
            this.db = db;
        }

        @Override
        public long getCount() {
            return db.queriesIssued();
        }

        @Override
        public void inc() {
            throw new UnsupportedOperationException("counted by the source of truth");
        }

        @Override
        public void inc(long n) {
            throw new UnsupportedOperationException("counted by the source of truth");
        }

        @Override
        public void dec() {
            throw new UnsupportedOperationException("counted by the source of truth");
        }

        @Override
        public void dec(long n) {
            throw new UnsupportedOperationException("counted by the source of truth");
        }
    }

    private static String describe(Throwable t) {
        String m = t.getMessage();
        return t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }
}
