package io.devicesync.operators.sync;

/**
 * A circuit breaker in front of the database (no Flink, no clock of its own: callers pass the time;
 * thread-safe, since results complete on the database client's thread).
 *
 * <ul>
 *   <li>closed: every lookup goes to the database; {@code failuresToOpen} failures in a row open it;
 *   <li>open: lookups fail at once, without touching the database, for the open period;
 *   <li>then half-open: one lookup is let through as a probe. Its success closes the breaker; its
 *       failure opens it again for twice as long (at most {@code maxOpenMs}).
 * </ul>
 */
public final class CircuitBreaker {
    /** The breaker's position, for metrics and logs. */
    public enum State {
        CLOSED,
        OPEN,
        HALF_OPEN
    }

    /** What a call to {@link #onFailure} or {@link #onSuccess} changed, for a log line; null if nothing. */
    public enum Transition {
        OPENED,
        REOPENED,
        CLOSED
    }

    private final int failuresToOpen;
    private final long openMs;
    private final long maxOpenMs;

    private State state = State.CLOSED;
    private int failuresInARow;
    private long openUntil;
    private long currentOpenMs;
    private boolean probing;

    public CircuitBreaker(int failuresToOpen, long openMs, long maxOpenMs) {
        if (failuresToOpen < 1 || openMs < 1 || maxOpenMs < openMs)
            throw new IllegalArgumentException("bad breaker settings");
        this.failuresToOpen = failuresToOpen;
        this.openMs = openMs;
        this.maxOpenMs = maxOpenMs;
        this.currentOpenMs = openMs;
    }

    /** Whether a lookup may go to the database now; when half-open, only one probe at a time. */
    public synchronized boolean tryAcquire(long now) {
        switch (state) {
            case CLOSED:
                return true;
            case OPEN:
                if (now < openUntil) return false;
                state = State.HALF_OPEN;
                probing = true;
                return true;
            default:
                if (probing) return false;
                probing = true;
                return true;
        }
    }

    /** The database answered. */
    public synchronized Transition onSuccess() {
        failuresInARow = 0;
        probing = false;
        currentOpenMs = openMs;
        if (state == State.CLOSED) return null;
        state = State.CLOSED;
        return Transition.CLOSED;
    }

    /** The database failed or did not answer in time. */
    public synchronized Transition onFailure(long now) {
        failuresInARow++;
        if (state == State.HALF_OPEN) {
            probing = false;
            currentOpenMs = Math.min(maxOpenMs, currentOpenMs * 2);
            state = State.OPEN;
            openUntil = now + currentOpenMs;
            return Transition.REOPENED;
        }
        if (state == State.CLOSED && failuresInARow >= failuresToOpen) {
            state = State.OPEN;
            openUntil = now + currentOpenMs;
            return Transition.OPENED;
        }
        return null;
    }

    public synchronized State state() {
        return state;
    }

    /** How long the breaker stays open this time, in ms. */
    public synchronized long openPeriodMs() {
        return currentOpenMs;
    }
}
