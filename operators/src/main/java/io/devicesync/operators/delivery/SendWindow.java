package io.devicesync.operators.delivery;

/**
 * A budget of {@code rate} sends per second, as a sliding window: a send is allowed when fewer
 * than {@code rate} sends were counted in the 101 slots of 10 ms ending with the current one. Any
 * one-second window lies within 101 such slots, so none ever holds more than {@code rate} sends; a
 * whole second's budget may go at once after a quiet second (the burst). Constant size, whatever
 * the rate.
 */
final class SendWindow {
    static final long SLOT_MS = 10;
    static final int SLOTS = 101;

    private final int[] slots = new int[SLOTS];
    /** The slot (processing time / 10 ms) last brought up to date. */
    private long lastSlot = Long.MIN_VALUE;

    /** Brings the ring up to {@code now}: slots that left the window are emptied. */
    private void advance(long now) {
        long cur = Math.floorDiv(now, SLOT_MS);
        if (lastSlot == Long.MIN_VALUE || cur - lastSlot >= SLOTS) {
            java.util.Arrays.fill(slots, 0);
        } else {
            for (long k = lastSlot + 1; k <= cur; k++) slots[(int) Math.floorMod(k, (long) SLOTS)] = 0;
        }
        if (lastSlot == Long.MIN_VALUE || cur > lastSlot) lastSlot = cur;
    }

    private long sum() {
        long n = 0;
        for (int c : slots) n += c;
        return n;
    }

    boolean canSend(long now, int rate) {
        advance(now);
        return sum() < rate;
    }

    void record(long now) {
        advance(now);
        slots[(int) Math.floorMod(lastSlot, (long) SLOTS)]++;
    }

    /** When the next send is allowed: {@code now} if it is, else when enough old slots leave the window. */
    long nextAllowed(long now, int rate) {
        if (canSend(now, rate)) return now;
        long total = sum();
        for (long k = lastSlot - SLOTS + 1; k <= lastSlot; k++) {
            total -= slots[(int) Math.floorMod(k, (long) SLOTS)];
            if (total < rate) return (k + SLOTS) * SLOT_MS;
        }
        return (lastSlot + SLOTS) * SLOT_MS;
    }
}
