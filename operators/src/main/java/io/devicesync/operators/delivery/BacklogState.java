package io.devicesync.operators.delivery;

/** The DeliveryBacklog's one value per consumer: its backlog over the whole job and its alert. */
public class BacklogState {
    /** Devices with an open episode or parked, the sum of every key group's count. */
    public long backlog;
    /** A BACKLOG alert is open (no BACKLOG_CLEARED yet). */
    public boolean backlogOpen;
    /** Number of the current (or last) backlog episode. */
    public long backlogEpisode;

    public BacklogState() {}
}
