package io.devicesync.operators.delivery;

/** The RedispatchScheduler's one value per consumer. */
public class SchedulerState {
    /** Devices with an open episode or parked (the entries). */
    public long backlog;
    /** A BACKLOG alert is open (no BACKLOG_CLEARED yet). */
    public boolean backlogOpen;
    /** Number of the current (or last) backlog episode. */
    public long backlogEpisode;
    /** Processing times of the latest sends, a ring of at most {@code --redispatch.rate} entries. */
    public long[] sends = new long[0];
    /** Index of the oldest send in the ring; sends in it. */
    public int sendHead;
    public int sendCount;
    /** The processing-time timer that drains the queue; 0 when none. */
    public long drainTimer;

    public SchedulerState() {}
}
