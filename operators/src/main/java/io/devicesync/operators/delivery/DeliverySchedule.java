package io.devicesync.operators.delivery;

import java.io.Serializable;
import java.time.Duration;

/**
 * The delivery schedule of DESIGN.md, in event time (ms):
 * <ul>
 *   <li>a version's deadline: its publication + ack timeout + one checkpoint interval;
 *   <li>attempt 1 is due at the deadline; attempt n+1 at due(n) + ack timeout + backoff(n), with
 *       backoff(n) = min(max backoff, backoff × 2^(n-1)) × j and j in [0.8, 1.2] a deterministic
 *       jitter from a hash of the episode and n;
 *   <li>the last attempt's deadline (exhaustion): its due time + ack timeout + one checkpoint interval.
 * </ul>
 * Timers fire at these times rounded up to the second (never early).
 */
public final class DeliverySchedule implements Serializable {
    private static final long serialVersionUID = 1L;

    final long ackTimeout;
    final long checkpointInterval;
    final int maxAttempts;
    final long backoff;
    final long maxBackoff;

    public DeliverySchedule(
            Duration ackTimeout, Duration checkpointInterval, int maxAttempts, Duration backoff, Duration maxBackoff) {
        this.ackTimeout = ackTimeout.toMillis();
        this.checkpointInterval = checkpointInterval.toMillis();
        this.maxAttempts = maxAttempts;
        this.backoff = backoff.toMillis();
        this.maxBackoff = maxBackoff.toMillis();
        if (maxAttempts < 1) throw new IllegalArgumentException("maxAttempts must be at least 1");
    }

    public int maxAttempts() {
        return maxAttempts;
    }

    /** When a version published at {@code publishedAt} must have been acknowledged. */
    public long deadline(long publishedAt) {
        return saturatedAdd(publishedAt, ackTimeout + checkpointInterval);
    }

    /** When attempt n+1 falls due, attempt n having fallen due at {@code due}. */
    public long nextAttempt(long due, int n, String deviceId, String consumer, long epoch, long seq) {
        long b = backoff(n);
        double j = jitter(deviceId, consumer, epoch, seq, n);
        return saturatedAdd(due, ackTimeout + Math.round(b * j));
    }

    /** The last attempt's deadline: past it without an ack, the attempts are exhausted. */
    public long exhaustion(long lastDue) {
        return saturatedAdd(lastDue, ackTimeout + checkpointInterval);
    }

    /** min(max backoff, backoff × 2^(n-1)), without overflow. */
    long backoff(int n) {
        long b = Math.min(backoff, maxBackoff);
        for (int i = 1; i < n && b < maxBackoff; i++) {
            b = b > maxBackoff / 2 ? maxBackoff : b * 2;
        }
        return Math.min(b, maxBackoff);
    }

    /** A deterministic factor in [0.8, 1.2] for (episode, n): replays and tests see the same schedule. */
    static double jitter(String deviceId, String consumer, long epoch, long seq, int n) {
        long h = 0x9E3779B97F4A7C15L;
        h = mix(h ^ deviceId.hashCode());
        h = mix(h ^ consumer.hashCode());
        h = mix(h ^ epoch);
        h = mix(h ^ seq);
        h = mix(h ^ n);
        double unit = (h >>> 11) * 0x1.0p-53; // [0, 1)
        return 0.8 + 0.4 * unit;
    }

    /** SplitMix64's finalizer. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Rounded up to the next whole second (a time on a second stays). */
    static long roundUpToSecond(long t) {
        if (t > Long.MAX_VALUE - 1000) return Long.MAX_VALUE;
        return Math.floorDiv(t + 999, 1000) * 1000;
    }

    private static long saturatedAdd(long a, long b) {
        long r = a + b;
        return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
    }
}
