package io.devicesync.operators.delivery;

/** The DeliveryBacklog's one value per consumer: its backlog over the whole job and its alert. */
public class BacklogState {
    /** Devices with an open episode or parked, the sum of every key group's count. */
    public long backlog;
    /** A BACKLOG alert is open (no BACKLOG_CLEARED yet). */
    public boolean backlogOpen;
    /** Number of the current (or last) backlog episode. */
    public long backlogEpisode;
    /**
     * After an upgrade from the scheduler keyed by consumer: the key groups not heard from yet (the
     * counts start anew); no BACKLOG_CLEARED until it is 0. 0 otherwise.
     */
    public int groupsToHear;
    /** While {@link #groupsToHear} is above 0: when the backlog stops waiting for them (processing time). */
    public long gateUntil;

    public BacklogState() {}
}
