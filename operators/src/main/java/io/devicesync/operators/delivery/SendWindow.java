package io.devicesync.operators.delivery;

/**
 * The budget of {@code --redispatch.rate} sends per second, as a sliding window: a send is allowed
 * when fewer than {@code rate} sends were counted in the 101 slots of 10 ms ending with the current
 * one. Any one-second window lies within 101 such slots, so none ever holds more than {@code rate}
 * sends; a whole second's budget may go at once after a quiet second (the burst). The state is
 * those counts: constant size, whatever the rate.
 */
final class SendWindow {
    private SendWindow() {}

    static final long SLOT_MS = 10;
    static final int SLOTS = 101;

    /** Brings the ring up to {@code now}: slots that left the window are emptied. */
    private static void advance(SchedulerState s, long now) {
        if (s.slots == null || s.slots.length != SLOTS) {
            s.slots = new int[SLOTS];
            s.lastSlot = Long.MIN_VALUE;
        }
        long cur = Math.floorDiv(now, SLOT_MS);
        if (s.lastSlot == Long.MIN_VALUE || cur - s.lastSlot >= SLOTS) {
            java.util.Arrays.fill(s.slots, 0);
        } else {
            for (long k = s.lastSlot + 1; k <= cur; k++) s.slots[(int) Math.floorMod(k, (long) SLOTS)] = 0;
        }
        if (s.lastSlot == Long.MIN_VALUE || cur > s.lastSlot) s.lastSlot = cur;
    }

    private static long sum(SchedulerState s) {
        long n = 0;
        for (int c : s.slots) n += c;
        return n;
    }

    static boolean canSend(SchedulerState s, long now, int rate) {
        advance(s, now);
        return sum(s) < rate;
    }

    static void record(SchedulerState s, long now) {
        advance(s, now);
        s.slots[(int) Math.floorMod(s.lastSlot, (long) SLOTS)]++;
    }

    /** When the next send is allowed: {@code now} if it is, else when enough old slots leave the window. */
    static long nextAllowed(SchedulerState s, long now, int rate) {
        if (canSend(s, now, rate)) return now;
        long total = sum(s);
        for (long k = s.lastSlot - SLOTS + 1; k <= s.lastSlot; k++) {
            total -= s.slots[(int) Math.floorMod(k, (long) SLOTS)];
            if (total < rate) return (k + SLOTS) * SLOT_MS;
        }
        return (s.lastSlot + SLOTS) * SLOT_MS;
    }
}
