package io.devicesync.operators.bootstrap;

/**
 * When the bootstrap reader may send its next chunk query, without Flink: at most
 * {@code rowsPerSecond} rows a second on average (0: as fast as the job takes them), backing off
 * 1, 2, 4 … 30 s after failed queries in a row, and a progress line every {@code logEveryNanos}.
 * Times are the caller's {@code System.nanoTime()}. Unit-tested ({@code BootstrapPaceTest}).
 */
final class BootstrapPace {
    static final long MAX_BACKOFF_NANOS = 30_000_000_000L;
    static final long FIRST_BACKOFF_NANOS = 1_000_000_000L;

    private final long rowsPerSecond;
    private final long logEveryNanos;
    /** The earliest time of the next query by the rate (the rows read so far, at the rate). */
    private long nextByRate;

    private boolean started;
    private int failures;
    private long nextLog;

    BootstrapPace(long rowsPerSecond, long logEveryNanos) {
        if (rowsPerSecond < 0) throw new IllegalArgumentException("rowsPerSecond must not be negative");
        this.rowsPerSecond = rowsPerSecond;
        this.logEveryNanos = logEveryNanos;
    }

    /** A chunk of {@code rows} rows was read at {@code now}: how long to wait before the next query, in ns. */
    long afterChunk(int rows, long now) {
        failures = 0;
        if (!started) {
            started = true;
            nextByRate = now;
        }
        if (rowsPerSecond == 0) return 0;
        // Credit does not pile up while the job was slow to take the rows: at most one chunk's worth.
        nextByRate = Math.max(nextByRate, now - rowsNanos(rows)) + rowsNanos(rows);
        return Math.max(0, nextByRate - now);
    }

    /** A query failed: how long to wait before trying it again, in ns (1 s, doubling to 30 s). */
    long afterFailure() {
        failures++;
        return Math.min(MAX_BACKOFF_NANOS, FIRST_BACKOFF_NANOS << Math.min(failures - 1, 5));
    }

    /** Failed queries in a row. */
    int failures() {
        return failures;
    }

    /** Whether a progress line is due at {@code now} (the first one a period after the first call). */
    boolean logDue(long now) {
        if (nextLog == 0) {
            nextLog = now + logEveryNanos;
            return false;
        }
        if (now - nextLog < 0) return false;
        nextLog = now + logEveryNanos;
        return true;
    }

    private long rowsNanos(int rows) {
        return rows * 1_000_000_000L / rowsPerSecond;
    }
}
