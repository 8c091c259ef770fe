package io.devicesync.operators.sync;

import io.devicesync.model.LookupResult;
import java.util.Collection;

/**
 * When a lookup answered into the fused sync step is tried again: a FAILED attempt (the database
 * failed, not a missing row) is retried with exponential backoff (initial delay, doubled each
 * time, at most 30 s) up to {@code retries} times; the whole lookup's deadline ends it wherever
 * it is (its TIMED_OUT answer goes to the device). The schedule of Flink's
 * {@code ExponentialBackoffDelayRetryStrategy}, which the Async I/O operator applied before.
 */
public final class LookupRetry implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    static final long MAX_DELAY_MS = 30_000;

    private final int retries;
    private final long initialDelayMs;

    public LookupRetry(int retries, long initialDelayMs) {
        this.retries = retries;
        this.initialDelayMs = initialDelayMs;
    }

    /**
     * After attempt number {@code attempt} (1 for the first) answered {@code results}: the delay
     * before the next attempt, or -1 when the results are the answer.
     */
    public long retryAfter(int attempt, Collection<LookupResult> results) {
        if (attempt > retries || !failed(results)) return -1;
        long delay = initialDelayMs;
        for (int i = 1; i < attempt && delay < MAX_DELAY_MS; i++) delay *= 2;
        return Math.min(delay, MAX_DELAY_MS);
    }

    private static boolean failed(Collection<LookupResult> results) {
        for (LookupResult r : results) if (r.outcome == LookupResult.Outcome.FAILED) return true;
        return false;
    }
}
