package io.devicesync.operators.delivery;

/**
 * The budget of {@code --redispatch.rate} sends per second: a send is allowed when fewer than
 * {@code rate} sends happened in the second before it, so no one-second window ever holds more
 * than {@code rate} (a burst of a whole second's budget is allowed after a quiet second). Kept as
 * the times of the last {@code rate} sends in {@link SchedulerState}.
 */
final class SendWindow {
    private SendWindow() {}

    static final long WINDOW_MS = 1000;

    /** Resizes the ring when the rate changed since the state was written (the latest sends kept). */
    static void fit(SchedulerState s, int rate) {
        if (s.sends.length == rate) return;
        long[] ring = new long[rate];
        int keep = Math.min(s.sendCount, rate);
        for (int i = 0; i < keep; i++) {
            ring[i] = s.sends[(s.sendHead + s.sendCount - keep + i) % s.sends.length];
        }
        s.sends = ring;
        s.sendHead = 0;
        s.sendCount = keep;
    }

    static boolean canSend(SchedulerState s, long now) {
        return s.sendCount < s.sends.length || s.sends[s.sendHead] <= now - WINDOW_MS;
    }

    static void record(SchedulerState s, long now) {
        int n = s.sends.length;
        if (s.sendCount < n) {
            s.sends[(s.sendHead + s.sendCount) % n] = now;
            s.sendCount++;
        } else {
            s.sends[s.sendHead] = now;
            s.sendHead = (s.sendHead + 1) % n;
        }
    }

    /** When the next send is allowed (now, if it is). */
    static long nextAllowed(SchedulerState s, long now) {
        return canSend(s, now) ? now : s.sends[s.sendHead] + WINDOW_MS;
    }
}
