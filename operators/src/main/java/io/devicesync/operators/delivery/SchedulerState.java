package io.devicesync.operators.delivery;

/**
 * The value per consumer of the scheduler of earlier builds, keyed by consumer (uid
 * {@code redispatch-scheduler}, now the DeliveryBacklog's): read once after an upgrade, for the
 * open BACKLOG and its episode number, then cleared. Its class name and fields stay: a savepoint
 * of those builds names them.
 */
public class SchedulerState {
    /** Devices with an open episode or parked (the entries). */
    public long backlog;
    /** A BACKLOG alert is open (no BACKLOG_CLEARED yet). */
    public boolean backlogOpen;
    /** Number of the current (or last) backlog episode. */
    public long backlogEpisode;
    /** Sends per 10 ms slot of processing time over the last second (see {@link SendWindow}). */
    public int[] slots;
    /** The slot (processing time / 10 ms) last brought up to date. */
    public long lastSlot = Long.MIN_VALUE;
    /** The processing-time timer that drains the queue; 0 when none. */
    public long drainTimer;

    public SchedulerState() {}
}
