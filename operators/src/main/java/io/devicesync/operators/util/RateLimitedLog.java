package io.devicesync.operators.util;

import org.slf4j.Logger;

/**
 * One WARN line per period for a kind of failure that can happen for thousands of devices at once
 * (a database outage): the first failure is logged, the rest of the period is counted and summed up
 * in the next line. Thread-safe; the caller passes the time.
 */
public final class RateLimitedLog {
    private final Logger log;
    private final long periodMs;
    private long windowStart = Long.MIN_VALUE;
    private long suppressed;

    public RateLimitedLog(Logger log, long periodMs) {
        this.log = log;
        this.periodMs = periodMs;
    }

    /** Logs {@code message} unless a line was logged within the period; returns whether it did. */
    public boolean warn(long now, String message) {
        long skipped;
        synchronized (this) {
            if (windowStart != Long.MIN_VALUE && now - windowStart < periodMs) {
                suppressed++;
                return false;
            }
            skipped = suppressed;
            suppressed = 0;
            windowStart = now;
        }
        if (skipped > 0) {
            log.warn("{} (and {} more like it in the last {} s)", message, skipped, periodMs / 1000);
        } else {
            log.warn(message);
        }
        return true;
    }
}
